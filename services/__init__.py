"""FastAPI services (scoring, feedback, alerts). They depend on the core and the model runtime."""
