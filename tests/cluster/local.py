"""The local cluster the tests start (product code: ``fraudops bench cluster`` starts it too)."""

from fraudops.local_cluster import LocalCluster

__all__ = ["LocalCluster"]
