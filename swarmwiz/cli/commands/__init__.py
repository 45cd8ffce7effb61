"""One module per subcommand: `add_parser(subparsers, add)` registers it, `run(args, target)` returns an exit code."""
