"""Services: the business flows of each node, built on the domain and the store."""
