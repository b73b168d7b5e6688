"""Apache Beam pipelines: profile backfill, point-in-time datasets, streaming. Depend on core."""
