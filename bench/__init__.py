"""Benchmarks (not tests: nothing asserts a timing). `python -m bench` runs the suite (suite.py)."""
