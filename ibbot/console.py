"""The console view of the log: the lines a trader reads, in market time.

:class:`ConsoleView` renders a record as one line. A decision, an order's outcome and a fill start
with the market time, the strategy, the symbol and the action, then say the rest in words::

    10:05:00  sma_cross   KO     BUY   sent: target 0.200 x capital 100,000.00 / ... | crossover PASS: ...
    10:05:01  sma_cross   KO     BUY   order filled: 316 at 63.2063
    10:05:01  sma_cross   KO     BUY   fill 316 at 63.2063, commission 1.58, position +316

Any other record is ``time  [LEVEL]  event  key=value ...`` with its keys in the order the call
gave them (strategy and symbol first), a library's record ``time  [LEVEL]  logger: message``.
The time is the market clock's (New York time) once a run names it (:meth:`ConsoleView.use_clock`),
the local wall clock before; a line on a new market day is preceded by the date.

:class:`ConsoleFilter` decides what the console shows below warnings: neither the plumbing
(:data:`PLUMBING`: every order state the executor hears, backfill plans, subscriptions, hooks...)
nor other libraries' records (httpx's requests, ib_async's narration of positions and executions)
unless the level is DEBUG. The JSON log is not filtered: it keeps every record as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from structlog.typing import EventDict, WrappedLogger

__all__ = ["MARKET_ZONE", "PLUMBING", "ConsoleFilter", "ConsoleView", "is_plumbing"]

MARKET_ZONE: Final = ZoneInfo("America/New_York")
"""The zone of market times on the console (where US stocks trade)."""

PLUMBING: Final = (
    "executor.",
    "backfill.planned",
    "backfill.done",
    "collector.qualified",
    "collector.stopped",
    "market_data.subscribed",
    "fundamentals.fetched",
    "fundamentals.stored",
    "connection.notice",
    "connection.ready",
    "connection.hook_",
    "connection.hooks_",
    "state.none_saved",
    "state.fresh_account",
    "app.starting",
    "app.strategy_ready",
    "app.embedded_simulator",
    "app.gateway",
    "sim.gateway.started",
    "sim.gateway.accepted",
    "sim.gateway.stopped",
    "sim.session.",
)
"""Events (names, or prefixes ending in ``.`` or ``_``) the console shows only at DEBUG when they
are below warnings: how ibbot works, not what the market or the strategies do. The start banner
says what ``connection.ready`` and ``app.embedded_simulator`` say."""

# connection.state lines of a normal start and stop (a drop or a reconnect is shown).
_ROUTINE_STATES: Final = frozenset({"connecting", "connected"})
_CLOSED_BY_US: Final = "closed by ibbot"

_TRADE_DECISION: Final = "trade.decision"
_TRADE_ORDER: Final = "trade.order_done"
_TRADE_FILL: Final = "trade.fill"
_ORDER_REF_SEPARATOR: Final = ":"
# Keys shown first on a generic line, and keys never shown (the line says them otherwise).
_FIRST_KEYS: Final = ("strategy", "symbol")
_HIDDEN_KEYS: Final = frozenset({"event", "level", "logger", "timestamp", "exception", "stack"})
_SYMBOL_WIDTH: Final = 6
_ACTION_WIDTH: Final = 5
_STRATEGY_WIDTH: Final = 12
_EVENT_WIDTH: Final = 22

# ANSI styles (rendered by rich on a terminal, left out elsewhere).
_RESET: Final = "\x1b[0m"
_STYLES: Final = {
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
    "green": "\x1b[32m",
    "red": "\x1b[31m",
    "yellow": "\x1b[33m",
    "cyan": "\x1b[36m",
    "magenta": "\x1b[35m",
}
_LEVEL_STYLES: Final = {"warning": "yellow", "error": "red", "critical": "red", "debug": "dim"}
_ACTION_STYLES: Final = {"BUY": "green", "SELL": "red", "EXIT": "red", "HOLD": "dim"}


class ConsoleView:
    """A structlog renderer (the last processor): one line per record, see the module docstring.

    ``colors`` adds ANSI styles. The clock starts as the wall clock; :meth:`use_clock` makes it a
    run's market clock. Called under the logging handler's lock, so its little state (the day of
    the last line, the widest strategy name) needs no lock of its own.
    """

    def __init__(self, *, colors: bool) -> None:
        self._colors = colors
        self._now: Callable[[], datetime] | None = None
        self._day: str | None = None
        self._strategy_width = _STRATEGY_WIDTH

    def use_clock(self, now: Callable[[], datetime] | None) -> Callable[[], datetime] | None:
        """Stamp lines with ``now()`` (a market clock) from here on, None for the wall clock;
        returns the previous one (to restore when the run ends)."""
        previous, self._now = self._now, now
        # The banner names the day a run starts on: the date is shown again only when it changes.
        self._day = None if now is None else _day(now())
        return previous

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        """The record's line (with the day before it when the market day changed)."""
        del logger, method_name
        stamp, day = self._time()
        event = str(event_dict.get("event", ""))
        if event == _TRADE_DECISION:
            line = self._decision(event_dict)
        elif event == _TRADE_ORDER:
            line = self._order(event_dict)
        elif event == _TRADE_FILL:
            line = self._fill(event_dict)
        else:
            line = self._generic(event, event_dict)
        text = f"{self._style('dim', stamp)}  {line}"
        for key in ("exception", "stack"):
            if event_dict.get(key):
                text += "\n" + str(event_dict[key]).rstrip()
        if day is not None:
            text = (
                self._style("bold", f"-- {day} (times are New York market time) --") + "\n" + text
            )
        return text

    # --- the trader's lines -----------------------------------------------------------------------

    def _trade_head(self, strategy: object, symbol: object, action: object) -> str:
        name = str(strategy or "-")
        self._strategy_width = max(self._strategy_width, len(name))
        word = str(action or "-").upper()
        return (
            f"{self._style('cyan', name.ljust(self._strategy_width))}  "
            f"{self._style('bold', str(symbol or '-').ljust(_SYMBOL_WIDTH))} "
            f"{self._style(_ACTION_STYLES.get(word, 'bold'), word.ljust(_ACTION_WIDTH))} "
        )

    def _decision(self, record: Mapping[str, Any]) -> str:
        outcome = str(record.get("outcome", ""))
        detail = str(record.get("detail") or "")
        reasoning = str(record.get("reasoning") or "")
        said = " | ".join(part for part in (detail, reasoning) if part)
        head = self._trade_head(record.get("strategy"), record.get("symbol"), record.get("action"))
        style = "magenta" if outcome == "sent" else ("yellow" if outcome == "blocked" else "dim")
        return f"{head}{self._style(style, outcome)}: {said}"

    def _order(self, record: Mapping[str, Any]) -> str:
        order_ref = str(record.get("order_ref", ""))
        strategy = order_ref.partition(_ORDER_REF_SEPARATOR)[0] if order_ref else None
        head = self._trade_head(strategy, record.get("symbol"), record.get("side"))
        status = str(record.get("status", ""))
        filled, quantity, price = record.get("filled"), record.get("quantity"), record.get("price")
        amount = (
            f"{_number(filled)} of {_number(quantity)}" if filled != quantity else _number(quantity)
        )
        text = f"order {status}: {amount}" + ("" if price is None else f" at {_number(price)}")
        message = record.get("message")
        if message:
            text += f" ({message})"
        style = "green" if status == "filled" else ("red" if status == "rejected" else "yellow")
        decision = order_ref.partition(_ORDER_REF_SEPARATOR)[2] or order_ref
        return f"{head}{self._style(style, text)}  {self._style('dim', decision)}"

    def _fill(self, record: Mapping[str, Any]) -> str:
        head = self._trade_head(record.get("strategy"), record.get("symbol"), record.get("side"))
        commission = record.get("commission")
        position = record.get("position")
        parts = [f"fill {_number(record.get('quantity'))} at {_number(record.get('price'))}"]
        if commission is not None:
            parts.append(f"commission {_number(commission)}")
        if isinstance(position, int | float):
            parts.append(f"position {position:+g}" if position else "position flat")
        return head + ", ".join(parts)

    # --- everything else --------------------------------------------------------------------------

    def _generic(self, event: str, record: Mapping[str, Any]) -> str:
        level = str(record.get("level", "info"))
        tag = (
            ""
            if level == "info"
            else self._style(_LEVEL_STYLES.get(level, "bold"), level.upper()) + " "
        )
        logger = str(record.get("logger", ""))
        if logger and not logger.startswith("ibbot"):
            return f"{tag}{self._style('dim', logger + ':')} {event}"
        keys = [k for k in _FIRST_KEYS if k in record]
        keys += [k for k in record if k not in _HIDDEN_KEYS and k not in _FIRST_KEYS]
        pairs = " ".join(f"{self._style('dim', key + '=')}{_value(record[key])}" for key in keys)
        name = (
            self._style("bold", event.ljust(_EVENT_WIDTH)) if pairs else self._style("bold", event)
        )
        return f"{tag}{name} {pairs}".rstrip()

    def _time(self) -> tuple[str, str | None]:
        """``HH:MM:SS`` now, and the market day when it is not the last line's."""
        if self._now is None:
            return datetime.now().astimezone().strftime("%H:%M:%S"), None
        now = self._now()
        day = _day(now)
        new_day = day if day != self._day else None
        self._day = day
        return now.astimezone(MARKET_ZONE).strftime("%H:%M:%S"), new_day

    def _style(self, name: str, text: str) -> str:
        return f"{_STYLES[name]}{text}{_RESET}" if self._colors else text


class ConsoleFilter(logging.Filter):
    """Hides, below warnings and unless ``level`` is DEBUG, the plumbing (:data:`PLUMBING`) and
    every record another library logs through the standard library."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record the console does not show at this level."""
        if self._level <= logging.DEBUG or record.levelno >= logging.WARNING:
            return True
        fields = record.msg
        if not isinstance(fields, Mapping):  # not structlog's: a library's own record
            return record.name == "ibbot" or record.name.startswith("ibbot.")
        return not is_plumbing(fields)


def is_plumbing(fields: Mapping[str, Any]) -> bool:
    """True for a record of how ibbot works rather than what trades (see :data:`PLUMBING`)."""
    event = str(fields.get("event", ""))
    if event == "connection.state":
        return fields.get("state") in _ROUTINE_STATES or fields.get("message") == _CLOSED_BY_US
    if event == "reconciliation.done":
        return not fields.get("mismatches")
    return any(
        event.startswith(name) if name.endswith((".", "_")) else event == name for name in PLUMBING
    )


def _day(moment: datetime) -> str:
    return moment.astimezone(MARKET_ZONE).strftime("%Y-%m-%d %A")


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else f"{value:.6g}"
    return "-" if value is None else str(value)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and "=" not in value else repr(value)
    if isinstance(value, float):
        return _number(value)
    return repr(value) if not isinstance(value, int | bool) else str(value)
