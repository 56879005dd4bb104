"""Limit and stop orders decided by strategies, replayed through the backtest: where they fill."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from ibbot.backtest import Backtest, BacktestConfig, BarFeed, CommissionModel, StrategySpec
from ibbot.backtest.outputs import decisions_jsonl
from ibbot.models import OrderSide, OrderStatus
from ibbot.strategies import StrategySources
from tests.unit.backtest_helpers import ScriptedStrategy, daily_bars, day, ohlc_bars, statuses

if TYPE_CHECKING:
    from ibbot.backtest.result import BacktestResult

SCRIPTED = "tests.unit.backtest_helpers.ScriptedStrategy"
FLAT = (10.0, 10.0, 10.0, 10.0)


def replay(
    script: dict[int, dict[str, Any]], rows: list[tuple[float, float, float, float]]
) -> BacktestResult:
    """Run the scripted strategy (decisions keyed by bar index) over bars of AAA."""
    spec = StrategySpec(
        "script",
        SCRIPTED,
        10_000.0,
        {"script": {day(i).isoformat(): step for i, step in script.items()}},
    )
    config = BacktestConfig(
        start=day(0),
        end=day(len(rows)),
        strategies=(spec,),
        starting_cash=10_000.0,
        commission=CommissionModel.parse("zero"),
        slippage_bps=0.0,
        sources=StrategySources(packages=("tests.unit",)),
    )
    return Backtest(config).run(BarFeed.from_bars(ohlc_bars("AAA", rows)))


def fills(result: BacktestResult) -> list[tuple[str, float, float, int]]:
    """(side, quantity, price, bar index) of every fill."""
    return [(f.side.value, f.quantity, f.price, (f.timestamp - day(0)).days) for f in result.fills]


BUY_LIMIT = {"action": "buy", "quantity": 100, "order_type": "LMT", "limit_price": 9.5}
BUY_STOP = {"action": "buy", "quantity": 100, "order_type": "STP", "stop_price": 10.5}
BUY_NOW = {"action": "buy", "quantity": 100}
EXIT_STOP = {"action": "exit", "order_type": "STP", "stop_price": 9.5}


@pytest.mark.parametrize(
    ("script", "next_bars", "expected"),
    [
        # the next bar's range reaches the limit: filled at the limit
        ({1: BUY_LIMIT}, [(10.0, 10.2, 9.3, 9.8)], [("BUY", 100, 9.5, 2)]),
        # the next bar opens through the limit: filled at the (better) open
        ({1: BUY_LIMIT}, [(9.2, 9.4, 9.0, 9.3)], [("BUY", 100, 9.2, 2)]),
        # a GTC limit not reached on the next bar keeps working and fills at the limit later
        (
            {1: BUY_LIMIT | {"time_in_force": "GTC"}},
            [(10.0, 10.3, 9.6, 10.1), (9.8, 9.9, 9.4, 9.6)],
            [("BUY", 100, 9.5, 3)],
        ),
        # a buy stop: the range reaches the stop, filled at the stop
        ({1: BUY_STOP}, [(10.1, 10.8, 10.0, 10.6)], [("BUY", 100, 10.5, 2)]),
        # a stop-loss exit: the range falls to the stop, sold at the stop
        (
            {0: BUY_NOW, 1: EXIT_STOP},
            [(9.9, 10.0, 9.3, 9.4)],
            [("BUY", 100, 10.0, 1), ("SELL", 100, 9.5, 2)],
        ),
        # a stop-loss exit: the next bar gaps below the stop, sold at the (worse) open
        (
            {0: BUY_NOW, 1: EXIT_STOP},
            [(9.0, 9.2, 8.8, 9.1)],
            [("BUY", 100, 10.0, 1), ("SELL", 100, 9.0, 2)],
        ),
    ],
    ids=["limit-in-range", "limit-gap", "gtc-limit-later", "buy-stop", "stop-loss", "stop-gap"],
)
def test_limit_and_stop_orders_fill_where_the_fill_semantics_say(
    script: dict[int, dict[str, Any]],
    next_bars: list[tuple[float, float, float, float]],
    expected: list[tuple[str, float, float, int]],
) -> None:
    """A decision's LMT/STP order works from the next bar on and fills at its price or the gap."""
    result = replay(script, [FLAT, FLAT, *next_bars, FLAT])
    assert fills(result) == expected
    assert all(order.status is OrderStatus.FILLED for order in result.orders)


@pytest.mark.parametrize(
    ("step", "reaching_later"),
    [
        (BUY_LIMIT, (9.0, 9.1, 8.9, 9.0)),  # would fill the limit a day late
        (BUY_STOP, (11.0, 11.2, 10.9, 11.0)),  # would trigger the stop a day late
    ],
    ids=["limit", "stop"],
)
def test_a_day_order_not_reached_on_its_day_expires_unfilled(
    step: dict[str, Any], reaching_later: tuple[float, float, float, float]
) -> None:
    """Not reached on the next bar: no fill, and the DAY order is cancelled before the next day."""
    result = replay({1: step}, [FLAT, FLAT, (10.0, 10.3, 9.6, 10.1), reaching_later])
    assert result.fills == ()
    [order] = result.orders
    assert order.status is OrderStatus.CANCELLED
    assert order.message == "DAY order expired unfilled at the end of its trading day"
    assert order.finished_at == day(3)
    assert statuses(ScriptedStrategy.seen["script"]) == [
        ("submitted", "AAA"),
        ("cancelled", "AAA"),
    ]


def test_decisions_jsonl_shows_the_order_terms_of_limit_and_stop_orders() -> None:
    """A limit entry and a stop exit in one run: both orders with their prices in decisions.jsonl."""
    result = replay(
        {1: BUY_LIMIT, 3: EXIT_STOP},
        [FLAT, FLAT, (10.0, 10.2, 9.3, 9.8), FLAT, (9.9, 10.0, 9.3, 9.4)],
    )
    assert fills(result) == [("BUY", 100, 9.5, 2), ("SELL", 100, 9.5, 4)]
    lines = [json.loads(line) for line in decisions_jsonl(result).splitlines()]
    assert [line["order"] for line in lines] == [
        {
            "side": "BUY",
            "quantity": 100,
            "type": "LMT",
            "order_ref": "script:script-1",
            "limit_price": 9.5,
            "stop_price": None,
            "time_in_force": "DAY",
        },
        {
            "side": "SELL",
            "quantity": 100,
            "type": "STP",
            "order_ref": "script:script-2",
            "limit_price": None,
            "stop_price": 9.5,
            "time_in_force": "DAY",
        },
    ]
    assert (
        lines[0]["sizing"]
        == "target 100 shares (explicit quantity); holding 0: BUY 100 LMT limit 9.5 DAY"
    )
    assert lines[0]["risk"]["message"] == "BUY 100 AAA LMT x 9.50 = 950.00: within every limit"
    assert [line["broker"]["avg_price"] for line in lines] == [9.5, 9.5]


def test_a_limit_decision_without_a_price_is_refused_and_never_sent() -> None:
    """A LMT without a limit price is recorded as no order, with the reason; nothing trades."""
    result = replay({1: {"action": "buy", "quantity": 100, "order_type": "LMT"}}, [FLAT] * 4)
    assert (result.fills, result.orders) == ((), ())
    [record] = result.decisions
    assert record.order is None
    assert record.sizing == "BUY AAA: LMT order needs a positive limit_price, got None: refused"


# SMA(2) crosses above SMA(3) on bar 5 (close 12) and below on bar 7 (see test_backtest_replay).
SMA_CLOSES = [10.0, 10.0, 10.0, 9.0, 9.0, 12.0, 13.0, 8.0, 7.0]


def sma_limit_run(low_after_cross: float) -> BacktestResult:
    """sma_cross(2, 3) buying 10 shares with a limit 200 bps under the crossing close (11.76)."""
    bars = daily_bars("AAA", SMA_CLOSES, opens={6: 12.5, 8: 8.2})
    crossing = bars[6]
    bars[6] = type(crossing)(
        "AAA", crossing.timestamp, 12.5, 13.2, low_after_cross, 13.0, 1_000_000.0, crossing.bar_size
    )
    params = {"fast": 2, "slow": 3, "quantity": 10, "entry": "limit", "limit_offset_bps": 200}
    config = BacktestConfig(
        start=day(0),
        end=day(20),
        strategies=(StrategySpec("sma", "sma_cross", 10_000.0, params),),
        starting_cash=10_000.0,
        commission=CommissionModel.parse("zero"),
        slippage_bps=0.0,
    )
    return Backtest(config).run(BarFeed.from_bars(bars))


def test_sma_cross_with_a_limit_entry_buys_only_if_the_next_session_comes_down_to_it() -> None:
    """entry = limit: a DAY limit 2% under the crossing close, filled at 11.76 when reached;
    when the next bar stays above it the entry expires and there is nothing to exit."""
    reached = sma_limit_run(low_after_cross=11.5)
    assert [(f.side, f.price, f.timestamp) for f in reached.fills] == [
        (OrderSide.BUY, 11.76, day(6)),
        (OrderSide.SELL, 8.2, day(8)),
    ]
    buy = reached.decisions[0].decision
    assert (buy.order_type, buy.limit_price, buy.time_in_force) == ("LMT", 11.76, "DAY")
    assert buy.reasoning.endswith("with a DAY limit at 11.76 (200 bps below the last price 12.00)")
    missed = sma_limit_run(low_after_cross=11.8)
    assert missed.fills == ()
    assert [o.status for o in missed.orders] == [OrderStatus.CANCELLED]
    assert len(missed.decisions) == 1
