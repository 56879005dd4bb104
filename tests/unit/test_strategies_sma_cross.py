"""sma_cross: exact decisions on known crossover sequences, params, state and determinism."""

from __future__ import annotations

import json
import math
import random
import re
from datetime import timedelta
from typing import Any

import pytest

from ibbot.errors import ConfigError
from ibbot.models import (
    Action,
    BarSize,
    Decision,
    Event,
    OrderSide,
    OrderType,
    Protection,
    TimeInForce,
)
from ibbot.strategies import INTENT_KEY
from ibbot.strategies.entry import EntryOrder
from ibbot.strategies.sma_cross import CrossSignal, SmaCrossStrategy
from ibbot.strategies.sma_cross.layers import DecisionLayer
from tests.unit.strategy_events import T0, bar, day, fill, fill_decision, tick

# fast SMA(3) / slow SMA(5): the fast average crosses above on bar 10 and below on bar 15
PRICES = [10, 10, 10, 10, 10, 9, 8, 7, 8, 9, 10, 11, 12, 11, 10, 9, 8]


def make(**params: Any) -> SmaCrossStrategy:
    merged = {"fast": 3, "slow": 5, **params}
    return SmaCrossStrategy(name="sma", allocated_capital=100_000, params=merged)


def run(
    strategy: SmaCrossStrategy, prices: list[float], *, fills: bool = True, start: int = 0
) -> list[tuple[int, Decision]]:
    """Feed bars; fill every decision in full at its price when ``fills``."""
    decided = []
    for i, price in enumerate(prices[start:], start):
        for decision in strategy.on_event(bar("AAPL", i, price)):
            decided.append((i, decision))
            if fills:
                held = strategy.position_quantity("AAPL")
                quantity = held if decision.action is Action.EXIT else 1_000
                fill_decision(strategy, decision, quantity)
    return decided


def test_known_crossover_sequence_gives_exactly_the_expected_decisions() -> None:
    """BUY on the bar the fast SMA crosses above, EXIT on the bar it crosses below, nothing else."""
    strategy = make()
    decided = run(strategy, PRICES)
    assert [(i, d.action, d.decision_id) for i, d in decided] == [
        (10, Action.BUY, "sma-AAPL-20260115T210000Z-000001"),
        (15, Action.EXIT, "sma-AAPL-20260120T210000Z-000002"),
    ]
    buy, exit_ = decided[0][1], decided[1][1]
    assert buy.reasoning == (
        "crossover PASS: SMA(3) 9.00 crossed above SMA(5) 8.40 (+7.1%)"
        " | decision PASS: BUY AAPL to target weight 0.10 of capital 100,000.00, holding 0"
    )
    assert (buy.target_weight, buy.quantity, buy.price, buy.confidence) == (0.1, None, 10.0, 1.0)
    assert buy.timestamp == day(10)
    assert buy.data["fast_sma"] == 9.0
    assert buy.data["signal"] == "crossed_above"
    assert exit_.reasoning == (
        "crossover PASS: SMA(3) 10.00 crossed below SMA(5) 10.60 (-5.7%)"
        " | decision PASS: EXIT 1000 AAPL held at avg cost 10.00"
    )
    assert strategy.get_positions() == {}


def test_fixed_quantity_buys_that_many_shares() -> None:
    """With ``quantity`` the BUY asks for that many shares; its weight is informational."""
    strategy = make(quantity=50)
    [(i, buy)] = run(strategy, PRICES[:11])
    assert i == 10
    assert buy.quantity == 50
    assert buy.target_weight == pytest.approx(50 * 10 / 100_000)
    assert buy.reasoning.endswith("decision PASS: BUY 50 AAPL (fixed quantity), holding 0")


def test_limit_entry_buys_with_a_day_limit_under_the_last_price() -> None:
    """entry = limit: the BUY is a DAY LMT ``limit_offset_bps`` under the close; EXIT stays MKT."""
    strategy = make(entry="limit", limit_offset_bps=25)
    decided = run(strategy, PRICES)
    assert [i for i, _ in decided] == [10, 15]
    buy, exit_ = (d for _, d in decided)
    assert (buy.order_type, buy.limit_price, buy.stop_price, buy.time_in_force) == (
        OrderType.LIMIT,
        9.97,
        None,
        TimeInForce.DAY,
    )
    assert buy.reasoning.endswith(
        "decision PASS: BUY AAPL to target weight 0.10 of capital 100,000.00, holding 0, "
        "with a DAY limit at 9.97 (25 bps below the last price 10.00)"
    )
    assert (exit_.order_type, exit_.limit_price) == (OrderType.MARKET, None)
    fixed = run(make(entry="limit", quantity=50), PRICES[:11])
    assert [(d.quantity, d.order_type, d.limit_price) for _, d in fixed] == [
        (50, OrderType.LIMIT, 10.0)
    ]


def test_market_entry_is_the_default() -> None:
    """Without ``entry`` the BUY is a market DAY order, as before entry existed."""
    [(_, buy)] = run(make(), PRICES[:11])
    assert (buy.order_type, buy.limit_price, buy.time_in_force) == (
        OrderType.MARKET,
        None,
        TimeInForce.DAY,
    )


def test_cross_below_without_a_position_is_not_an_exit() -> None:
    """An unfilled BUY expires; the later cross below gives no EXIT since nothing is held."""
    decided = run(make(), PRICES, fills=False)
    assert [(i, d.action) for i, d in decided] == [(10, Action.BUY)]


def test_cross_above_while_long_is_not_a_second_buy() -> None:
    """Already long when the fast SMA crosses above: no BUY; the cross below still exits."""
    strategy = make()
    assert run(strategy, PRICES[:10]) == []
    strategy.on_event(fill("sma", "AAPL", OrderSide.BUY, 100, 9.0, day(9), "pre"))
    decided = run(strategy, PRICES, start=10)
    assert [(i, d.action) for i, d in decided] == [(15, Action.EXIT)]


def test_position_held_while_below_is_exited() -> None:
    """A position the strategy holds while the fast SMA is below (e.g. restored) is exited."""
    strategy = make()
    strategy.on_event(fill("sma", "AAPL", OrderSide.BUY, 100, 10.0, T0, "pre"))
    decided = run(strategy, PRICES)
    assert [(i, d.action) for i, d in decided] == [
        (5, Action.EXIT),
        (10, Action.BUY),
        (15, Action.EXIT),
    ]
    assert "SMA(3) 9.67 is below SMA(5) 9.80" in decided[0][1].reasoning


def test_position_arriving_after_the_cross_is_exited_on_the_next_bar() -> None:
    """A fill that lands after the cross below is exited on the next bar still below."""
    strategy = make()
    [(_, buy)] = run(strategy, PRICES[:16], fills=False)
    fill_decision(strategy, buy, 1_000)
    [(i, late_exit)] = run(strategy, PRICES, fills=False, start=16)
    assert i == 16
    assert late_exit.action is Action.EXIT
    assert late_exit.reasoning.startswith("crossover PASS: SMA(3) 9.00 is below SMA(5) 10.00")


def test_touching_is_not_crossing() -> None:
    """Equal averages keep the last side: above-equal-above is no cross, below-equal-above is."""
    # SMA(1) vs SMA(2): the fast one is above exactly when the close rises
    decided = run(make(fast=1, slow=2), [10, 11, 11, 12, 11, 11, 12], fills=False)
    assert [(i, d.action) for i, d in decided] == [(6, Action.BUY)]
    state = make(fast=1, slow=2)
    state.on_event(bar("AAPL", 0, 10))
    state.on_event(bar("AAPL", 1, 10))
    symbol_state = state.symbol_state("AAPL")
    assert symbol_state is not None
    assert symbol_state.signal is CrossSignal.EQUAL


def test_the_first_side_seen_is_not_a_cross() -> None:
    """When the averages first become known, being above is not a crossing."""
    assert run(make(), [10, 10, 10, 10, 10, 11, 12, 13], fills=False) == []


@pytest.mark.parametrize(
    ("params", "key", "text"),
    [
        ({"fast": 5, "slow": 5}, "strategies.sma.params", "fast (5) must be shorter than slow (5)"),
        ({"quantity": 10, "weight": 0.2}, "strategies.sma.params", "either quantity or weight"),
        ({"fast": 0}, "strategies.sma.params.fast", "greater than or equal to 1"),
        ({"weight": 1.5}, "strategies.sma.params.weight", "less than or equal to 1"),
        ({"quantity": 0}, "strategies.sma.params.quantity", "greater than or equal to 1"),
        ({"limit_offset_bps": 5}, "strategies.sma.params", "applies to entry = limit only"),
        ({"entry": "stop"}, "strategies.sma.params.entry", "'market' or 'limit'"),
        (
            {"entry": "limit", "limit_offset_bps": -1},
            "strategies.sma.params.limit_offset_bps",
            "greater than or equal to 0",
        ),
    ],
)
def test_params_validation(params: dict[str, Any], key: str, text: str) -> None:
    """Bad parameters raise ConfigError naming the parameter (or the params block) and the rule."""
    with pytest.raises(ConfigError, match=re.escape(text)) as caught:
        make(**params)
    assert caught.value.key == key


def test_bar_size_filter_and_ticks_are_ignored() -> None:
    """With bar_size set, bars of another size are ignored; ticks are not followed at all."""
    strategy = make(bar_size="1 day")
    for i, price in enumerate(PRICES):
        assert strategy.on_event(bar("AAPL", i, price, bar_size=BarSize.MIN_5)) == []
    assert strategy.on_event(tick("AAPL", T0, 10.0)) == []
    assert strategy.symbol_state("AAPL") is None


def test_state_round_trip_mid_sequence_continues_identically() -> None:
    """Save after bar 12, restore through JSON into a new object: the rest is decided identically."""
    uninterrupted = run(make(), PRICES)
    first = make()
    before = run(first, PRICES[:13])
    restored = make()
    restored.load_state(json.loads(json.dumps(first.get_state())))
    after = run(restored, PRICES, start=13)
    assert before + after == uninterrupted


def test_changed_window_lengths_restart_the_averages() -> None:
    """Restoring state saved with other SMA lengths keeps prices and positions, not the averages."""
    first = make()
    run(first, PRICES[:12])
    other = make(fast=2, slow=4)
    other.load_state(json.loads(json.dumps(first.get_state())))
    state = other.symbol_state("AAPL")
    assert state is not None
    assert state.fast.count == 0
    assert state.slow.count == 0
    assert state.last_price == PRICES[11]
    assert other.get_positions() == first.get_positions()


def _random_walk(n: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    price, events = 100.0, []
    for i in range(n):
        price *= math.exp(rng.gauss(0, 0.01))
        events.append(bar("SYN", i, price, step=timedelta(minutes=1)))
    return events


def test_same_events_give_identical_decisions() -> None:
    """Two strategies fed the same events decide identically, ids and reasoning included."""
    events = _random_walk(3_000, seed=11)
    runs = []
    for _ in range(2):
        strategy = make(fast=10, slow=30)
        runs.append([d for e in events for d in strategy.on_event(e)])
    assert runs[0] == runs[1]
    assert len(runs[0]) > 10
    assert json.dumps(runs[0][0].reasoning) == json.dumps(runs[1][0].reasoning)


def test_decision_layer_without_an_action() -> None:
    """A signal that calls for nothing given the holding fails the decision layer, saying why."""
    layer = DecisionLayer(0.1)
    data = {"signal": CrossSignal.CROSSED_ABOVE, "fast_sma": 2.0, "slow_sma": 1.0}
    long_ = layer.process("AAPL", {**data, "position": 5.0})
    assert (long_.passed, long_.reasoning) == (False, "no action: already long 5")
    flat = layer.process("AAPL", {**data, "signal": CrossSignal.BELOW, "position": 0.0})
    assert (flat.passed, flat.reasoning) == (False, "no action: not holding")


def test_limit_entry_without_a_last_price_leaves_the_refusal_to_the_trading_layer() -> None:
    """No price to set a limit from: the intent is a LMT without a limit, which sizing refuses."""
    layer = DecisionLayer(0.1, entry=EntryOrder.LIMIT, limit_offset_bps=10)
    data = {
        "signal": CrossSignal.CROSSED_ABOVE,
        "fast_sma": 2.0,
        "slow_sma": 1.0,
        "position": 0.0,
        "price": None,
        "capital": 1_000.0,
    }
    result = layer.process("AAPL", data)
    intent = result.data[INTENT_KEY]
    assert (intent.order_type, intent.limit_price) == (OrderType.LIMIT, None)
    assert result.reasoning.endswith("with a limit but no last price")


def test_protection_params_protect_each_entry_and_the_trail_says_so() -> None:
    """With stop_loss_pct and take_profit_pct the BUY carries them and its reasoning states them;
    the EXIT carries none; without them nothing changes."""
    strategy = make(stop_loss_pct=0.05, take_profit_pct=0.1)
    (_, buy), (_, exit_) = run(strategy, PRICES)
    assert buy.protection == Protection(stop_loss_pct=0.05, take_profit_pct=0.1)
    assert buy.reasoning.endswith(
        "; protection: stop-loss 5.00% below entry, take-profit 10.00% above entry, GTC"
    )
    assert exit_.protection is None
    assert all(d.protection is None for _, d in run(make(), PRICES))
