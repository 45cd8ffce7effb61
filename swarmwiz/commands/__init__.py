"""One module per CLI subcommand that outgrew swarmwiz/cli.py: each has add_parser() and run(args) -> int."""
