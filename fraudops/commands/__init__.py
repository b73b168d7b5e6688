"""Core subcommands of the ``fraudops`` CLI (parts register theirs in fraudops.cli.COMMANDS)."""
