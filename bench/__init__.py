"""Benchmarks, run by hand with ``make bench`` (never in CI). Results go to bench/results/."""
