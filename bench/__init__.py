"""Benchmarks run by hand (``make bench`` / ``python -m bench [NAME...]``), never in CI.

Results go to bench/results/ with the date and ``nproc``.
"""
