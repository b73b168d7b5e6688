"""Service subcommands: serve, keys."""
