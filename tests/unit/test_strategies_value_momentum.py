"""value_momentum: each layer passes and fails with its numbers in the trail; entries and exits."""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta
from typing import Any

import pytest

from ibbot.errors import ConfigError
from ibbot.models import Action, BarSize, Decision, Event, EventType
from ibbot.sim.universe import DEFAULT_UNIVERSE
from ibbot.strategies.value_momentum import ValueMomentumStrategy
from ibbot.strategies.value_momentum.layers import LiquidityLayer, MomentumLayer, ValuationLayer
from ibbot.strategies.value_momentum.strategy import bars_per_day
from tests.unit.strategy_events import T0, bar, day, fill_decision, fundamentals

JPM = {"shares_outstanding": 2.84e9, "eps": 19.0, "values": {"QBVPS": 118.0}}
RISING = [200.0, 205.0, 210.0]


def make(**params: Any) -> ValueMomentumStrategy:
    merged = {"momentum_window": 3, "volume_window": 3, **params}
    return ValueMomentumStrategy(name="vm", allocated_capital=100_000, params=merged)


def feed(
    strategy: ValueMomentumStrategy,
    prices: list[float],
    *,
    start: int = 1,
    volume: float = 9e6,
    symbol: str = "JPM",
    **bar_kwargs: Any,
) -> list[Decision]:
    return [
        d
        for i, price in enumerate(prices, start)
        for d in strategy.on_event(bar(symbol, i, price, volume=volume, **bar_kwargs))
    ]


def trail(strategy: ValueMomentumStrategy, symbol: str = "JPM") -> tuple[bool, str]:
    """Run the pipeline on the strategy's current view of ``symbol``."""
    state = strategy.symbol_state(symbol)
    assert state is not None
    passed, _, reasoning = strategy.pipeline.run(symbol, strategy.pipeline_input(state, T0))
    return passed, reasoning


def bought(
    fields: dict[str, Any] | None = None, **params: Any
) -> tuple[ValueMomentumStrategy, Decision]:
    """A strategy that bought 100 JPM on the rising prices and got filled."""
    strategy = make(**params)
    strategy.on_event(fundamentals("JPM", T0, **(fields or JPM)))
    [buy] = feed(strategy, RISING)
    fill_decision(strategy, buy, 100)
    return strategy, buy


def test_buys_when_every_layer_passes_and_names_every_number() -> None:
    """Liquid, cheap and rising: BUY at a conviction-scaled weight, each number in the trail."""
    strategy = make()
    strategy.on_event(fundamentals("JPM", T0, **JPM))
    [buy] = feed(strategy, RISING)
    assert buy.action is Action.BUY
    assert buy.reasoning == (
        "liquidity PASS: market cap 596.4B (shares 2.84B x price 210.00) >= 10.0B;"
        " avg daily volume 9.00M (mean of 3 daily bars) >= 1.00M"
        " | valuation PASS: P/E 11.1 (price 210.00 / EPS 19.00) < 20.0;"
        " P/B 1.78 (price 210.00 / book 118.00 per share) < 3.00"
        " | momentum PASS: price 210.00 > SMA(3) 205.00; momentum +2.4%"
        " | decision PASS: BUY JPM at target weight 0.146 = 0.20 x (0.5 + 0.5 x conviction 0.46;"
        " value 0.43, momentum 0.49)"
    )
    value = ((1 - 210 / 19 / 20) + (1 - 210 / 118 / 3)) / 2
    momentum = (210 / 205 - 1) / 0.05
    assert buy.confidence == pytest.approx((value + momentum) / 2)
    assert buy.target_weight == pytest.approx(0.2 * (0.5 + 0.5 * (value + momentum) / 2))
    assert buy.data["pe"] == pytest.approx(210 / 19)
    assert buy.decision_id == "vm-JPM-20260108T210000Z-000001"


@pytest.mark.parametrize(
    ("fields", "volume", "layer_text"),
    [
        (
            {**JPM, "shares_outstanding": 1e6},
            9e6,
            "liquidity FAIL: market cap 210.0M (shares 1.00M x price 210.00) < 10.0B",
        ),
        (JPM, 100_000, "avg daily volume 100.0K (mean of 3 daily bars) < 1.00M"),
        ({**JPM, "eps": 5.0}, 9e6, "valuation FAIL: P/E 42.0 (price 210.00 / EPS 5.00) >= 20.0"),
        (
            {**JPM, "values": {"QBVPS": 50.0}},
            9e6,
            "P/B 4.20 (price 210.00 / book 50.00 per share) >= 3.00",
        ),
        (
            {**JPM, "eps": -1.0},
            9e6,
            "valuation FAIL: P/E unknown (EPS -1.00 <= 0: no earnings to value)",
        ),
        ({"eps": 19.0}, 9e6, "liquidity FAIL: market cap unknown"),
    ],
)
def test_each_screen_fails_with_its_numbers(
    fields: dict[str, Any], volume: float, layer_text: str
) -> None:
    """A failing screen stops the pipeline, no BUY is made, and the trail says why in numbers."""
    strategy = make()
    strategy.on_event(fundamentals("JPM", T0, **fields))
    assert feed(strategy, RISING, volume=volume) == []
    passed, reasoning = trail(strategy)
    assert not passed
    assert layer_text in reasoning
    assert "decision" not in reasoning


def test_momentum_fails_when_price_is_not_above_its_average() -> None:
    """Cheap and liquid but falling: the momentum layer fails with price and SMA."""
    strategy = make()
    strategy.on_event(fundamentals("JPM", T0, **JPM))
    assert feed(strategy, [210.0, 205.0, 200.0]) == []
    passed, reasoning = trail(strategy)
    assert not passed
    assert reasoning.endswith("momentum FAIL: price 200.00 <= SMA(3) 205.00; momentum -2.4%")


def test_entry_margin_is_shown_and_applied() -> None:
    """min_momentum raises the entry line; the trail shows the margin and the line."""
    strategy = make(min_momentum=0.03)
    strategy.on_event(fundamentals("JPM", T0, **JPM))
    assert feed(strategy, RISING) == []
    assert trail(strategy)[1].endswith(
        "momentum FAIL: price 210.00 <= SMA(3) 205.00 +3.0% = 211.15; momentum +2.4%"
    )


def test_holding_through_a_small_dip_then_exiting_below_the_exit_line() -> None:
    """A held position survives a dip above the exit line and is sold below it."""
    strategy, _ = bought()
    assert feed(strategy, [206.0], start=4) == []
    [exit_] = feed(strategy, [200.0], start=5)
    assert exit_.action is Action.EXIT
    assert exit_.reasoning.endswith(
        "momentum FAIL: holding: price 200.00 < exit line 203.28 (SMA(3) 205.33 -1.0%);"
        " momentum -2.6% | exit PASS: thesis broken at momentum while holding 100 JPM: EXIT"
    )


def test_new_fundamentals_that_break_the_valuation_trigger_an_exit() -> None:
    """Fundamentals showing the stock is no longer cheap make a held position exit at once."""
    strategy, _ = bought()
    [exit_] = strategy.on_event(fundamentals("JPM", day(4), **{**JPM, "eps": 8.0}))
    assert exit_.action is Action.EXIT
    assert "valuation FAIL: P/E 26.2 (price 210.00 / EPS 8.00) >= 20.0" in exit_.reasoning
    assert exit_.reasoning.endswith(
        "exit PASS: thesis broken at valuation while holding 100 JPM: EXIT"
    )
    assert exit_.timestamp == day(4)


def test_holding_with_the_thesis_intact_decides_nothing() -> None:
    """While held and every layer passes there is no decision (no HOLD per bar)."""
    strategy, _ = bought()
    assert feed(strategy, [212.0, 215.0], start=4) == []
    passed, reasoning = trail(strategy)
    assert passed
    assert reasoning.endswith("decision PASS: HOLD 100 JPM: thesis intact (conviction 0.33)")


def test_waits_for_complete_averages_and_fundamentals() -> None:
    """No decision before both windows are full; fundamentals arriving later trigger the BUY."""
    strategy = make(volume_window=4)
    assert feed(strategy, RISING) == []
    assert feed(strategy, [212.0], start=4) == []
    [buy] = strategy.on_event(fundamentals("JPM", day(5), **JPM))
    assert buy.action is Action.BUY
    assert buy.timestamp == day(5)


def test_intraday_volume_is_scaled_to_a_trading_day() -> None:
    """Volumes of 1-minute bars count x390 towards the average daily volume."""
    strategy = make()
    strategy.on_event(fundamentals("JPM", T0, **JPM))
    [buy] = feed(strategy, RISING, volume=25_000, bar_size=BarSize.MIN_1, step=timedelta(minutes=1))
    assert "avg daily volume 9.75M (mean of 3 '1 min' bars x 390 per day) >= 1.00M" in buy.reasoning


def test_bars_per_day() -> None:
    """Bar sizes convert to bars per regular 6.5-hour session."""
    assert bars_per_day(BarSize.SEC_5) == 4_680
    assert bars_per_day(BarSize.HOUR_1) == 6.5
    assert bars_per_day(BarSize.DAY_1) == 1
    assert bars_per_day(BarSize.WEEK_1) == pytest.approx(0.2)
    assert bars_per_day(BarSize.MONTH_1) == pytest.approx(1 / 21)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"max_weight": 0}, "strategies.vm.params.max_weight"),
        ({"exit_below": 1.0}, "strategies.vm.params.exit_below"),
        ({"momentum_window": 1}, "strategies.vm.params.momentum_window"),
        ({"max_pe": -5}, "strategies.vm.params.max_pe"),
    ],
)
def test_params_validation(params: dict[str, Any], key: str) -> None:
    """Bad thresholds are refused with the parameter's settings path."""
    with pytest.raises(ConfigError) as caught:
        make(**params)
    assert caught.value.key == key


def test_state_round_trip_and_determinism() -> None:
    """Restored from JSON it continues exactly like the original, exits included."""
    strategy, _ = bought()
    restored = make()
    restored.load_state(json.loads(json.dumps(strategy.get_state())))
    assert restored.get_state() == strategy.get_state()
    assert restored.get_positions() == strategy.get_positions()
    tail = [206.0, 200.0]
    assert feed(restored, tail, start=4) == feed(strategy, tail, start=4)


def _universe_events(*, reported_ratios: bool, bars: int, seed: int = 3) -> list[Event]:
    """Fundamentals for the simulated universe, then seeded daily bars for each security."""
    events = []
    for sec in DEFAULT_UNIVERSE.values():
        fields: dict[str, Any]
        if reported_ratios:
            fields = {
                "price": sec.base_price,
                "market_cap": sec.shares_outstanding * sec.base_price,
                "pe_ratio": sec.base_price / sec.eps_ttm,
                "price_to_book": sec.base_price / sec.book_value_per_share,
            }
        else:
            fields = {
                "shares_outstanding": sec.shares_outstanding,
                "eps": sec.eps_ttm,
                "values": {"QBVPS": sec.book_value_per_share},
            }
        events.append(fundamentals(sec.symbol, T0, **fields))
    rng = random.Random(seed)
    prices = {sec.symbol: sec.base_price for sec in DEFAULT_UNIVERSE.values()}
    for i in range(1, bars + 1):
        for sec in DEFAULT_UNIVERSE.values():
            sigma = sec.annual_volatility / math.sqrt(252)
            prices[sec.symbol] *= math.exp(sec.annual_drift / 252 + sigma * rng.gauss(0, 1))
            events.append(
                bar(sec.symbol, i, round(prices[sec.symbol], 2), volume=sec.avg_daily_volume)
            )
    return events


@pytest.mark.parametrize("reported_ratios", [False, True])
def test_default_params_trade_the_simulated_universe_within_a_few_dozen_bars(
    reported_ratios: bool,
) -> None:
    """With default params, the moderately valued sim stocks (JPM, XOM) are bought within 40 bars."""
    strategy = ValueMomentumStrategy(name="value_momentum", allocated_capital=100_000)
    assert strategy.subscriptions == [
        EventType.PRICE_BAR,
        EventType.FUNDAMENTAL_DATA,
        EventType.FILL,
    ]
    events = _universe_events(reported_ratios=reported_ratios, bars=40)
    buys = {d.symbol for e in events for d in strategy.on_event(e) if d.action is Action.BUY}
    assert buys
    assert buys <= {"JPM", "XOM"}


def test_layers_refuse_without_fundamentals_or_price() -> None:
    """Each layer fails plainly when its inputs are missing."""
    assert LiquidityLayer(1, 1).process("X", {}).reasoning == "no fundamental data for X yet"
    assert ValuationLayer(1, 1).process("X", {}).reasoning == "no fundamental data for X yet"
    momentum = MomentumLayer(3, 0.0, 0.01, 0.05).process("X", {"momentum_sma": 1.0, "price": None})
    assert (momentum.passed, momentum.reasoning) == (False, "no price for X yet")


def test_same_events_give_identical_decisions() -> None:
    """Two strategies fed the same universe replay decide identically, ids and trails included."""
    events = _universe_events(reported_ratios=False, bars=60, seed=5)
    runs = []
    for _ in range(2):
        strategy = ValueMomentumStrategy(name="value_momentum", allocated_capital=100_000)
        runs.append([d for e in events for d in strategy.on_event(e)])
    assert runs[0]
    assert runs[0] == runs[1]
