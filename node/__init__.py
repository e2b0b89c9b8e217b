"""The node service shell: settings, database, app wiring and the CLI."""
