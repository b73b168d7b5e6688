"""What every service shares: API-key auth, Prometheus metrics, request limits."""
