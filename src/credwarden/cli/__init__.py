"""The `credwarden` command line: a thin typer + rich layer over the public API."""
