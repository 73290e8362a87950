"""The command line: `python -m bot COMMAND` (bot/cli/main.py builds the parser)."""
