"""The small commands of the ``ibbot`` CLI (``config``, ``run``); bigger ones live in their packages.

Each module offers ``run(args, settings) -> int`` and, when the command takes options,
``configure(parser)``; ``ibbot.cli`` registers them. Modules here stay light at import time: every
``ibbot`` invocation imports them, even ``--help``.
"""
