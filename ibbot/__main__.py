"""``python -m ibbot``: the same as the ``ibbot`` command."""

from ibbot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
