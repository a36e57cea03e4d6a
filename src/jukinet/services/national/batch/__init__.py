"""Batch provision (一括提供): request files in, result files and provision-log segments out.

``request_file`` reads and checks request files, ``registry`` keeps the columnar snapshot of the
national registry, ``matcher`` runs one job set-based in DuckDB, ``service`` queues, runs and
records jobs.
"""
