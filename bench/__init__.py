"""Benchmarks that print numbers (`make bench`); targets are checked by reading them, not by tests."""
