"""Benchmarks: `bench/run NAME` or `python -m bench.NAME`; results in bench/RESULTS.md."""
