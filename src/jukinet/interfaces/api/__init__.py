"""HTTP interface (FastAPI): thin routes over the services, problem+json errors, OpenAPI."""
