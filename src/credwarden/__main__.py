"""`credwarden` / `python -m credwarden`: run the CLI; Ctrl-C at any moment (start-up included) exits 130 quietly."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    try:
        from credwarden.cli.app import app

        app(prog_name="credwarden")
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
