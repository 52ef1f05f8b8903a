"""Benchmarks, each run as a module from the repository root (`python -m bench.pages`):
see docs/benchmarks.md. Not part of the installed package."""
