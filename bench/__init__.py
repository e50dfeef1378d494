"""Benchmarks run by hand (``make bench`` / ``python -m bench [NAME...]``), never in CI."""
