"""The scoring service: POST /v1/score answers approve / review / decline in milliseconds."""
