"""Benchmarks of the Sovereign kernel (``make bench`` = ``python -m bench``). Benchmarks, not
timed tests: they measure and report against the issue's targets, they do not fail the build.
See bench/README.md."""
