"""Building the replay's PriceBar and Event values fast, from inputs the replay has already checked.

The models' constructors are written for values from outside: a frozen dataclass sets each field
through ``object.__setattr__`` and ``__post_init__`` normalises timestamps (``ensure_utc``), enums
and bar sizes. In a replay every one of those inputs is already normal (timestamps are built in UTC
from the store's integers, the bar size and event type are enum members), and the constructors cost
about 2.6 µs per bar, a third of the whole per-bar budget. These builders fill a plain twin class
of the same slot layout (plain slot stores) and turn it into the model by ``__class__``
assignment, producing instances equal to, and indistinguishable from, the ones the constructors
make (a unit test compares them field by field).

Only the replay uses them, only with values of the right types. If a model gains, loses or
reorders a field, importing this module fails at once rather than building incomplete objects.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ibbot.models import BarSize, Event, EventType, PriceBar

if TYPE_CHECKING:
    from ibbot.models import Payload

__all__ = ["make_event", "make_price_bar", "utc_from_micros"]

_PRICE_BAR_FIELDS = (
    "symbol",
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "bar_size",
    "wap",
    "bar_count",
)
_EVENT_FIELDS = ("type", "symbol", "timestamp", "payload", "source", "ingested_at")


def _check_fields(cls: type[Any], expected: tuple[str, ...]) -> None:
    actual = tuple(field.name for field in dataclasses.fields(cls))
    if actual != expected or tuple(getattr(cls, "__slots__", ())) != expected:
        raise ImportError(
            f"ibbot.backtest.builders knows {cls.__name__} fields {expected}, the model has "
            f"{actual}: update the builder with the model"
        )


_check_fields(PriceBar, _PRICE_BAR_FIELDS)
_check_fields(Event, _EVENT_FIELDS)


# Each builder fills a plain twin of the model: the same slots in the same order, no __setattr__
# guard, so its __init__ stores each field with one plain slot store. The finished instance then
# becomes the model by ``__class__`` assignment, which Python allows between classes of the same
# layout (and checks: a model with another layout fails at import, just below).
class _PriceBarTwin:
    __slots__ = _PRICE_BAR_FIELDS

    def __init__(  # noqa: PLR0917 - PriceBar's own fields, in order
        self,
        symbol: str,
        timestamp: datetime,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        bar_size: BarSize,
        wap: float | None,
        bar_count: int | None,
    ) -> None:
        self.symbol = symbol
        self.timestamp = timestamp
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.bar_size = bar_size
        self.wap = wap
        self.bar_count = bar_count


class _EventTwin:
    __slots__ = _EVENT_FIELDS

    def __init__(  # noqa: PLR0917 - Event's own fields, in order
        self,
        kind: EventType,
        symbol: str | None,
        timestamp: datetime,
        payload: Payload,
        source: str,
        ingested_at: datetime,
    ) -> None:
        self.type = kind
        self.symbol = symbol
        self.timestamp = timestamp
        self.payload = payload
        self.source = source
        self.ingested_at = ingested_at


def _check_layouts() -> None:
    """``__class__`` assignment refuses classes of different layouts: find out at import."""
    try:
        bar = make_price_bar("", _EPOCH, 0.0, 0.0, 0.0, 0.0, 0.0, BarSize.DAY_1, None, None)
        make_event(EventType.PRICE_BAR, "", _EPOCH, bar, "", _EPOCH)
    except TypeError as exc:
        raise ImportError(f"ibbot.backtest.builders: a model's layout changed ({exc})") from exc


def make_price_bar(  # noqa: PLR0917 - PriceBar's own field order; keywords cost time per bar
    symbol: str,
    timestamp: datetime,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: float,
    bar_size: BarSize,
    wap: float | None,
    bar_count: int | None,
) -> PriceBar:
    """``PriceBar(...)`` for a UTC ``timestamp`` and a ``BarSize`` member, without re-checking them."""
    bar: PriceBar = _PriceBarTwin(  # type: ignore[assignment]  # a PriceBar in a moment
        symbol, timestamp, open_, high, low, close, volume, bar_size, wap, bar_count
    )
    bar.__class__ = PriceBar
    return bar


def make_event(  # noqa: PLR0917 - Event's own field order; keywords cost time per bar
    kind: EventType,
    symbol: str | None,
    timestamp: datetime,
    payload: Payload,
    source: str,
    ingested_at: datetime,
) -> Event:
    """``Event(...)`` for an ``EventType`` member and UTC timestamps, without re-checking them."""
    event: Event = _EventTwin(  # type: ignore[assignment]  # an Event in a moment
        kind, symbol, timestamp, payload, source, ingested_at
    )
    event.__class__ = Event
    return event


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = 1_000_000
_from_seconds = datetime.fromtimestamp


def utc_from_micros(micros: int) -> datetime:
    """The UTC datetime ``micros`` microseconds after the epoch (Arrow's ``timestamp[us]`` value)."""
    seconds, rest = divmod(micros, _MICROS)
    if rest or seconds < 0:
        return _EPOCH + timedelta(microseconds=micros)
    # whole seconds after 1970, the case of every bar: fromtimestamp is the fastest exact route
    return _from_seconds(seconds, UTC)


_check_layouts()
