"""Event builders shared by the strategy and trading tests (not a test module)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ibbot.models import (
    BarSize,
    Decision,
    Event,
    EventType,
    Fill,
    FundamentalData,
    OrderSide,
    PriceBar,
    Tick,
)

if TYPE_CHECKING:
    from ibbot.strategies import PipelineStrategy

T0 = datetime(2026, 1, 5, 21, 0, tzinfo=UTC)


def day(i: int) -> datetime:
    """The i-th daily bar time after T0."""
    return T0 + timedelta(days=i)


def bar(
    symbol: str,
    i: int,
    close: float,
    *,
    volume: float = 1_000_000,
    bar_size: BarSize = BarSize.DAY_1,
    step: timedelta = timedelta(days=1),
) -> Event:
    """A PRICE_BAR event for the i-th bar with open = high = low = close."""
    ts = T0 + step * i
    payload = PriceBar(symbol, ts, close, close, close, close, volume, bar_size)
    return Event(EventType.PRICE_BAR, symbol, ts, payload, ingested_at=ts)


def tick(symbol: str, ts: datetime, last: float) -> Event:
    """A TICK event with a last price."""
    return Event(EventType.TICK, symbol, ts, Tick(symbol, ts, last=last), ingested_at=ts)


def fundamentals(symbol: str, ts: datetime = T0, **fields: Any) -> Event:
    """A FUNDAMENTAL_DATA event with the given FundamentalData fields."""
    data = FundamentalData(symbol, ts, f"{symbol} INC", **fields)
    return Event(EventType.FUNDAMENTAL_DATA, symbol, ts, data, ingested_at=ts)


def fill(
    strategy: str,
    symbol: str,
    side: OrderSide,
    quantity: float,
    price: float,
    ts: datetime,
    exec_id: str,
    commission: float | None = None,
) -> Event:
    """A FILL event attributed to ``strategy``."""
    payload = Fill(
        exec_id,
        1,
        1,
        symbol,
        side,
        quantity,
        price,
        ts,
        commission=commission,
        strategy_name=strategy,
    )
    return Event(EventType.FILL, symbol, ts, payload, ingested_at=ts)


def fill_decision(strategy: PipelineStrategy[Any], decision: Decision, quantity: float) -> None:
    """Feed back a full fill of ``decision`` at its price, as the broker would."""
    side = OrderSide.BUY if decision.action == "buy" else OrderSide.SELL
    assert decision.price is not None
    strategy.on_event(
        fill(
            strategy.name,
            decision.symbol,
            side,
            quantity,
            decision.price,
            decision.timestamp,
            f"x-{decision.decision_id}",
        )
    )
