"""Compliance operations across the stores: erasure of a customer."""
