"""Logging: structlog for ibbot's own events, with the stdlib's (ib_async, asyncio) routed through it.

Every record, ours or a library's, goes through one stdlib handler whose ``ProcessorFormatter`` adds
the level, logger name and a UTC ISO timestamp, masks secrets (:class:`Redactor`) and renders either
the trader's console lines (:mod:`ibbot.console`: on a terminal, in market time, the plumbing and
other libraries' chatter left to DEBUG) or JSON lines (otherwise, or when asked: every record, as
it was logged). Logs go to stderr; stdout stays free for command output.

On a terminal the handler writes through a rich console, the one :func:`log_console` returns:
a progress bar drawn on that console (``rich.progress.Progress(console=log_console())``) stays at
the bottom while log lines scroll above it, instead of being overwritten by them. A run names its
market clock for the console's times with :func:`market_time`, and prints its start banner with
:func:`show_banner`.

Exceptions are rendered as plain text before redaction, on purpose: rich tracebacks show local
variables, which is where account ids and tokens live.

ib_async logs every IB error and notice itself ("Error 430, reqId 7: ..."). For the codes ibbot
handles and logs in its own words (:data:`ibbot.broker.errors.LOGGED_BY_IBBOT`: 430, 162, the
connectivity and farm notices), :class:`IBErrorDemoter` turns ib_async's line into a debug record,
so each such event is said once, by ibbot, at the level ibbot chose.

Usage in a module: ``log = structlog.get_logger(__name__)`` then
``log.info("component.event_name", key=value)``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TextIO

import structlog

from ibbot.broker.errors import LOGGED_BY_IBBOT
from ibbot.console import ConsoleFilter, ConsoleView

if TYPE_CHECKING:
    from rich.console import Console
    from structlog.typing import EventDict, Processor, WrappedLogger

    from ibbot.clock import Clock
    from ibbot.settings import LogFormat, LogLevel

__all__ = [
    "MASK",
    "IBErrorDemoter",
    "Redactor",
    "configure_logging",
    "log_console",
    "market_time",
    "mask_id",
    "progress_console",
    "reset_logging",
    "show_banner",
]

MASK: Final = "***"
# Key names whose values are secret wherever they appear (matched on whole ``_``-separated words).
_SECRET_KEY = re.compile(
    r"(?:^|_)(?:password|passwd|passphrase|secret|token|api_?key|apikey|authorization|auth|cookie"
    r"|credentials?|account|accounts|acct|user_agent)(?:_|$)"
)
# Shorter registered secrets would mask ordinary words and numbers.
_MIN_SECRET_LENGTH: Final = 4
# mask_id keeps an id's leading letters (DU: paper, U: live) and this many last characters.
_SHOWN_TAIL: Final = 2
# Where and how ib_async reports IB's error callback: "Error 430, reqId 7: ..." (or "Warning 2104").
_IB_ASYNC_ERROR_LOGGER: Final = "ib_async.wrapper"
_IB_ASYNC_ERROR_LINE: Final = re.compile(r"(?:Error|Warning) (?P<code>-?\d+), reqId ")


class Redactor:
    """A structlog processor that masks secrets before anything is rendered.

    It masks the values of secret-looking keys (``password``, ``token``, ``account``, ...) at any depth,
    and every occurrence of a registered secret value inside any string (messages, exception text,
    reprs of objects). Register values learnt at runtime (e.g. the managed account ids the gateway
    reports) with :meth:`add`.
    """

    __slots__ = ("_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Mask these values from now on (values shorter than 4 characters are ignored)."""
        self._secrets.update(s for s in secrets if len(s) >= _MIN_SECRET_LENGTH)
        if self._secrets:
            # longest first, so a secret containing another is masked whole
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """Mask the secrets in ``event_dict``."""
        del logger, method_name
        return {key: self._value(key, value) for key, value in event_dict.items()}

    def redact(self, value: Any) -> Any:
        """``value`` with secrets masked: strings, and the values inside mappings and sequences."""
        if isinstance(value, str):
            return self._pattern.sub(MASK, value) if self._pattern is not None else value
        if isinstance(value, Mapping):
            return {key: self._value(key, item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return type(value)(self.redact(item) for item in value)
        if isinstance(value, int | float | bool) or value is None or self._pattern is None:
            return value
        shown = repr(value)
        return self._pattern.sub(MASK, shown) if self._pattern.search(shown) else value

    def _value(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and value not in ("", None) and _SECRET_KEY.search(key.lower()):
            return MASK
        return self.redact(value)


class IBErrorDemoter(logging.Filter):
    """Demotes ib_async's line for an IB code ibbot logs itself to debug (dropped above debug).

    Installed on ib_async's error logger, so the record is changed before any handler sees it.
    """

    def __init__(self, codes: Iterable[int], *, level: int) -> None:
        super().__init__()
        self._codes = frozenset(codes)
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """False to drop a demoted record below the configured level; True otherwise."""
        if record.levelno <= logging.DEBUG:
            return True
        match = _IB_ASYNC_ERROR_LINE.match(record.getMessage())
        if match is None or int(match["code"]) not in self._codes:
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return self._level <= logging.DEBUG


class _IbbotHandler(logging.StreamHandler[TextIO]):
    """The one handler :func:`configure_logging` installs on the root logger (found again by type).

    On a terminal it writes through ``console`` (rich), so a live display on the same console (a
    progress bar) is redrawn below each line instead of being overwritten; ``view`` is the console
    renderer when lines are rendered for a reader (None for JSON).
    """

    def __init__(self, stream: TextIO, console: Console | None, view: ConsoleView | None) -> None:
        super().__init__(stream)
        self.console = console
        self.view = view

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record, through the rich console when there is one."""
        if self.console is None:
            super().emit(record)
            return
        from rich.text import Text  # noqa: PLC0415 - imported with the console (terminal only)

        try:
            self.console.print(Text.from_ansi(self.format(record)), soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging must never raise; the stdlib's own policy
            self.handleError(record)


def configure_logging(
    level: LogLevel = "INFO",
    fmt: LogFormat = "auto",
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> Redactor:
    """Configure structlog and the stdlib root logger; calling it again replaces the configuration.

    ``fmt="auto"`` renders for a console when ``stream`` (default stderr) is a terminal and JSON lines
    otherwise. ``secrets`` are masked in every record; the returned :class:`Redactor` takes more.
    """
    out = sys.stderr if stream is None else stream
    is_tty = out.isatty()
    redactor = Redactor(secrets)
    numeric = logging.getLevelNamesMapping()[level]
    renderer: Processor
    view: ConsoleView | None = None
    if fmt == "json" or (fmt == "auto" and not is_tty):
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = view = ConsoleView(colors=is_tty)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
    )
    reset_logging()
    console = _terminal(out) if is_tty else None
    handler = _IbbotHandler(out, console, view)
    handler.setFormatter(formatter)
    if view is not None:
        handler.addFilter(ConsoleFilter(numeric))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger(_IB_ASYNC_ERROR_LOGGER).addFilter(
        IBErrorDemoter(LOGGED_BY_IBBOT, level=numeric)
    )

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Not cached: a reconfiguration (a new level, a new stream) must reach loggers already used.
        cache_logger_on_first_use=False,
    )
    return redactor


def log_console() -> Console:
    """The rich console the log writes through on a terminal; a new one on stderr otherwise.

    Give it to a progress bar (``Progress(console=log_console())``) so log lines and the bar share
    the terminal.
    """
    handler = _installed()
    if handler is not None and handler.console is not None:
        return handler.console
    from rich.console import Console  # noqa: PLC0415 - rich is imported when it draws

    return Console(stderr=True)


def progress_console() -> Console | None:
    """:func:`log_console` when stderr is a terminal (a progress bar has somewhere to draw), else None.

    When stderr is plainly no terminal (a pipe, a file: a batch run) and no variable forces one,
    rich is not even imported.
    """
    handler = _installed()
    if handler is not None and handler.console is not None:
        return handler.console
    isatty = getattr(sys.stderr, "isatty", None)
    forced = {"FORCE_TERMINAL", "TTY_COMPATIBLE"}.intersection(os.environ)
    if not forced and not (isatty is not None and isatty()):
        return None
    console = log_console()
    return console if console.is_terminal else None


@contextmanager
def market_time(clock: Clock) -> Iterator[None]:
    """Stamp the console's lines with ``clock``'s time (a run's market clock) while in the block.

    The clock lives in the installed handler's renderer, not in a global; the previous one (the
    wall clock, outside a run) is restored on exit. Without console rendering it does nothing.
    """
    handler = _installed()
    view = None if handler is None else handler.view
    if view is None:
        yield
        return
    previous = view.use_clock(clock.now)
    try:
        yield
    finally:
        view.use_clock(previous)


def show_banner(lines: Iterable[str]) -> None:
    """Print ``lines`` as a block on the console, when the log is rendered for a reader (a JSON
    log has the same facts in its records and gets nothing)."""
    handler = _installed()
    if handler is None or handler.view is None:
        return
    shown = list(lines)
    rule = "-" * max((len(line) for line in shown), default=0)
    text = "\n".join([rule, *shown, rule])
    handler.acquire()  # one block, not interleaved with a line another thread logs
    try:
        if handler.console is not None:
            from rich.text import Text  # noqa: PLC0415 - imported with the console

            handler.console.print(Text(text, style="bold"), soft_wrap=True)
        else:
            handler.stream.write(text + "\n")
            handler.flush()
    finally:
        handler.release()


def mask_id(value: str) -> str:
    """An account id shown without giving it away: ``DU1234567`` -> ``DU*****67``."""
    letters = len(value) - len(value.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    hidden = len(value) - letters - _SHOWN_TAIL
    if hidden < _SHOWN_TAIL:
        return MASK
    return value[:letters] + "*" * hidden + value[-_SHOWN_TAIL:]


def _terminal(out: TextIO) -> Console:
    """A rich console on ``out`` that prints log lines as they are (no markup, no highlighting)."""
    from rich.console import Console  # noqa: PLC0415 - only a terminal needs rich

    return Console(file=out, markup=False, highlight=False, emoji=False, soft_wrap=True)


def _installed() -> _IbbotHandler | None:
    return next((h for h in logging.getLogger().handlers if isinstance(h, _IbbotHandler)), None)


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove its handler and restore structlog's defaults."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _IbbotHandler)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.WARNING)
    ib_errors = logging.getLogger(_IB_ASYNC_ERROR_LOGGER)
    for demoter in [f for f in ib_errors.filters if isinstance(f, IBErrorDemoter)]:
        ib_errors.removeFilter(demoter)
    structlog.reset_defaults()
