"""One module per ``xbench`` subcommand: NAME (optional), HELP, add_arguments(parser), run(args) -> exit code."""
