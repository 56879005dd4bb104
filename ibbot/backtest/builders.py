"""Building the replay's PriceBar and Event values fast, from inputs the replay has already checked.

The models' constructors are written for values from outside: a frozen dataclass sets each field
through ``object.__setattr__`` and ``__post_init__`` normalises timestamps (``ensure_utc``), enums
and bar sizes. In a replay every one of those inputs is already normal (timestamps are built in UTC
from the store's integers, the bar size and event type are enum members), and the constructors cost
about 2.6 µs per bar, a third of the whole per-bar budget. These builders store the same field
values through the slots' own descriptors instead, producing instances equal to, and
indistinguishable from, the ones the constructors make (a unit test compares them field by field).

Only the replay uses them, only with values of the right types. If a model gains, loses or
reorders a field, importing this module fails at once rather than building incomplete objects.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ibbot.models import Event, EventType, PriceBar

if TYPE_CHECKING:
    from collections.abc import Callable

    from ibbot.models import BarSize, Payload

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


def _setters(cls: type[Any], expected: tuple[str, ...]) -> list[Callable[[object, object], None]]:
    actual = tuple(field.name for field in dataclasses.fields(cls))
    if actual != expected:
        raise ImportError(
            f"ibbot.backtest.builders knows {cls.__name__} fields {expected}, the model has "
            f"{actual}: update the builder with the model"
        )
    return [getattr(cls, name).__set__ for name in expected]


(
    _bar_symbol,
    _bar_timestamp,
    _bar_open,
    _bar_high,
    _bar_low,
    _bar_close,
    _bar_volume,
    _bar_size,
    _bar_wap,
    _bar_count,
) = _setters(PriceBar, _PRICE_BAR_FIELDS)
_event_type, _event_symbol, _event_timestamp, _event_payload, _event_source, _event_ingested = (
    _setters(Event, _EVENT_FIELDS)
)
_new = object.__new__


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
    bar: PriceBar = _new(PriceBar)
    _bar_symbol(bar, symbol)
    _bar_timestamp(bar, timestamp)
    _bar_open(bar, open_)
    _bar_high(bar, high)
    _bar_low(bar, low)
    _bar_close(bar, close)
    _bar_volume(bar, volume)
    _bar_size(bar, bar_size)
    _bar_wap(bar, wap)
    _bar_count(bar, bar_count)
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
    event: Event = _new(Event)
    _event_type(event, kind)
    _event_symbol(event, symbol)
    _event_timestamp(event, timestamp)
    _event_payload(event, payload)
    _event_source(event, source)
    _event_ingested(event, ingested_at)
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
