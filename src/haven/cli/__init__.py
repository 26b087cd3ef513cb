"""Command-line shell: one module per subcommand; each parses, calls the core, renders."""
