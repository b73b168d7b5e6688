"""FastAPI services: scoring, feedback, alerts (see the open issues). Depend on core and models."""
