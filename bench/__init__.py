"""Benchmarks, run by hand (``make bench`` / ``python -m bench``), never in the test suite."""
