from sovereign.cli import entry

entry()
