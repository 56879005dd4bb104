"""Building the replay's PriceBar and Event values fast, from inputs the replay has already checked.

The models' constructors are written for values from outside: a frozen dataclass sets each field
through ``object.__setattr__`` and ``__post_init__`` normalises timestamps (``ensure_utc``), enums
and bar sizes. In a replay every one of those inputs is already normal (timestamps are built in UTC
from the store's integers, the bar size and event type are enum members), and the constructors cost
about 2.6 µs per bar, a third of the whole per-bar budget. These builders are
:func:`ibbot.models.frozen.builder` functions without ``__post_init__``: plain slot stores into a
twin of the model's layout, then the model's class, producing instances equal to, and
indistinguishable from, the ones the constructors make (a unit test compares them field by field).

Only the replay uses them, only with values of the right types. If a model gains, loses or
reorders a field, importing this module fails at once rather than building incomplete objects.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ibbot.models import Event, PriceBar
from ibbot.models.frozen import builder

if TYPE_CHECKING:
    from collections.abc import Callable

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


make_price_bar: Callable[..., PriceBar] = builder(PriceBar, post_init=False)
"""``make_price_bar(symbol, timestamp, open, high, low, close, volume, bar_size, wap, bar_count)``:
``PriceBar(...)`` for a UTC ``timestamp`` and a ``BarSize`` member, without re-checking them."""

make_event: Callable[..., Event] = builder(Event, post_init=False)
"""``make_event(type, symbol, timestamp, payload, source, ingested_at)``: ``Event(...)`` for an
``EventType`` member and UTC timestamps, without re-checking them."""


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
