"""The simulated broker on the sim's Exchange: market, limit and stop fills on bars, expiry, marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ibbot.backtest import SimulatedBroker
from ibbot.backtest.commission import CommissionModel
from ibbot.backtest.replay import _utc_day
from ibbot.models import Order, OrderSide, OrderStatus, OrderType, TimeInForce

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAY = 86_400_000_000


def broker(slippage_bps: float = 0.0, cash: float = 100_000.0) -> SimulatedBroker:
    return SimulatedBroker(
        starting_cash=cash,
        commission=CommissionModel.parse("zero"),
        slippage_bps=slippage_bps,
        day_of=_utc_day,
    )


def order(
    side: OrderSide,
    kind: OrderType,
    *,
    limit: float | None = None,
    stop: float | None = None,
    tif: TimeInForce = TimeInForce.DAY,
) -> Order:
    return Order(
        "s",
        "AAA",
        side,
        100,
        kind,
        limit_price=limit,
        stop_price=stop,
        time_in_force=tif,
        decision_id="d1",
        created_at=T0,
    )


def bar(
    b: SimulatedBroker,
    i: int,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: float = 1_000.0,
):  # type: ignore[no-untyped-def]
    t = T0 + timedelta(days=i)
    return b.on_bar(
        "AAA",
        time=t,
        micros=int(t.timestamp()) * 1_000_000,
        open_=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


@pytest.mark.parametrize(
    ("side", "kind", "limit", "stop", "bar_ohlc", "price"),
    [
        (OrderSide.BUY, OrderType.MARKET, None, None, (10.0, 11.0, 9.0, 10.5), 10.0),
        (OrderSide.BUY, OrderType.LIMIT, 9.5, None, (10.0, 11.0, 9.0, 10.5), 9.5),
        (OrderSide.BUY, OrderType.LIMIT, 9.5, None, (9.2, 11.0, 9.0, 10.5), 9.2),  # gap below
        (OrderSide.SELL, OrderType.LIMIT, 10.8, None, (10.0, 11.0, 9.0, 10.5), 10.8),
        (OrderSide.SELL, OrderType.STOP, None, 9.5, (10.0, 11.0, 9.0, 10.5), 9.5),
        (OrderSide.SELL, OrderType.STOP, None, 9.5, (9.1, 9.8, 9.0, 9.5), 9.1),  # gap through
        (OrderSide.BUY, OrderType.STOP, None, 10.6, (10.0, 11.0, 9.0, 10.5), 10.6),
        (OrderSide.BUY, OrderType.STOP_LIMIT, 10.7, 10.6, (10.0, 11.0, 9.0, 10.5), 10.6),
    ],
)
def test_fill_prices_on_the_next_bar(
    side: OrderSide,
    kind: OrderType,
    limit: float | None,
    stop: float | None,
    bar_ohlc: tuple[float, float, float, float],
    price: float,
) -> None:
    """Market at the open; limit at the limit or the better open; stop at the stop or the gap open."""
    b = broker()
    b.submit(order(side, kind, limit=limit, stop=stop), T0, {"AAA": 10.0})
    (fill,) = bar(b, 1, *bar_ohlc)
    assert (fill.side, fill.quantity, fill.price, fill.timestamp) == (
        side,
        100.0,
        price,
        T0 + timedelta(days=1),
    )
    assert (fill.strategy_name, fill.decision_id) == ("s", "d1")
    assert b.open_orders == 0
    assert b.positions == {"AAA": 100.0 * side.sign}


def test_unreached_limit_rests_then_day_order_expires_gtc_stays() -> None:
    """A limit the bar never reaches fills nothing; DAY ends with its day, GTC keeps working."""
    b = broker()
    day_order = b.submit(order(OrderSide.BUY, OrderType.LIMIT, limit=8.0), T0, {"AAA": 10.0})
    gtc = b.submit(
        order(OrderSide.BUY, OrderType.LIMIT, limit=8.5, tif=TimeInForce.GTC), T0, {"AAA": 10.0}
    )
    assert bar(b, 1, 10.0, 11.0, 9.0, 10.0) == []
    expired = b.expire_day_orders((_micros(T0) + 2 * DAY), T0 + timedelta(days=2))
    assert expired == [day_order]
    assert day_order.status is OrderStatus.CANCELLED
    assert gtc.status is OrderStatus.SUBMITTED
    (fill,) = bar(b, 2, 9.0, 9.0, 8.4, 8.6)
    assert fill.price == 8.5
    assert b.cancel(gtc.order_id, T0) is None  # already filled


def test_zero_volume_bar_fills_nothing() -> None:
    """No volume, no fill; the order stays working until a bar with volume."""
    b = broker()
    b.submit(order(OrderSide.BUY, OrderType.MARKET), T0, {"AAA": 10.0})
    assert bar(b, 1, 10.0, 10.0, 10.0, 10.0, volume=0.0) == []
    assert b.open_orders == 1
    assert (
        bar(b, 1, 10.2, 10.2, 10.2, 10.2, volume=0.4)[0].price == 10.2
    )  # fractional volume trades


def test_slippage_and_cancel() -> None:
    """Slippage worsens market fills; a working order can be cancelled once."""
    b = broker(slippage_bps=50.0)
    b.submit(order(OrderSide.BUY, OrderType.MARKET), T0, {"AAA": 10.0})
    assert bar(b, 1, 10.0, 10.0, 10.0, 10.0)[0].price == pytest.approx(10.05)
    record = b.submit(order(OrderSide.SELL, OrderType.LIMIT, limit=20.0), T0, {"AAA": 10.0})
    assert b.has_open_orders("AAA")
    assert b.cancel(record.order_id, T0) is record
    assert record.status is OrderStatus.CANCELLED
    assert not b.has_open_orders("AAA")
    assert b.order(record.order_id) is record
    assert b.order(999) is None


def test_margin_uses_fresh_marks() -> None:
    """The engine's margin check values the order at the latest close the replay passes it."""
    b = broker(cash=1_000.0)
    rejected = b.submit(order(OrderSide.BUY, OrderType.MARKET), T0, {"AAA": 50.0})
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.message.startswith("201:")
    accepted = b.submit(order(OrderSide.BUY, OrderType.MARKET), T0, {"AAA": 5.0})
    assert accepted.status is OrderStatus.SUBMITTED
    b.mark_all({"AAA": 5.0}, T0)
    assert b.exchange.account_values({})["NetLiquidation"] == 1_000.0


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000
