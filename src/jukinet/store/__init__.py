"""Storage: engines, tables, migrations and named data functions. SQLite or PostgreSQL by URL."""
