"""``python -m ibbot``: the same as the ``ibbot`` command."""

from ibbot.cli import entry

if __name__ == "__main__":
    entry()
