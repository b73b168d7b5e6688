"""Benchmarks that print numbers (`make bench`); targets are read off them, not tested."""
