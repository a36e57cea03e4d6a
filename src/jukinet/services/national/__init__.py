"""The national center: every identity record, code pools, monitoring."""
