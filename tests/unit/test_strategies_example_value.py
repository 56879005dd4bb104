"""example_value: liquidity screen on market cap, then HOLD, exactly as the user's plan describes."""

from __future__ import annotations

import json

import pytest

from ibbot.errors import ConfigError
from ibbot.models import Action, EventType
from ibbot.strategies.example_value import ExampleValueStrategy
from ibbot.strategies.example_value.layers import DecisionLayer, LiquidityScreen
from tests.unit.strategy_events import T0, bar, day, fundamentals


def make(**params: float) -> ExampleValueStrategy:
    return ExampleValueStrategy(name="example_value", allocated_capital=10_000, params=params)


def test_large_company_passes_the_screen_and_is_held() -> None:
    """Market cap above the threshold: one HOLD decision with both layers in the trail."""
    strategy = make()
    [decision] = strategy.on_event(fundamentals("AAPL", T0, market_cap=3.45e12))
    assert decision.action is Action.HOLD
    assert decision.target_weight == 0.0
    assert decision.reasoning == (
        "liquidity PASS: market cap 3.45T (as reported) > 10.0B"
        " | decision PASS: HOLD AAPL: the example strategy has no trading logic"
    )
    assert decision.data["market_cap"] == 3.45e12


def test_small_company_fails_the_screen_and_gives_no_decision() -> None:
    """Market cap at or below the threshold: the pipeline stops, nothing is decided."""
    strategy = make(min_market_cap=5e9)
    assert strategy.on_event(fundamentals("TINY", T0, market_cap=5e9)) == []
    passed, _, reasoning = strategy.pipeline.run("TINY", {"fundamentals": None})
    assert not passed
    assert reasoning == "liquidity FAIL: no fundamental data for TINY yet"


def test_market_cap_is_valued_at_the_last_bar_price() -> None:
    """With shares outstanding known, the market cap uses the last bar's close."""
    strategy = make(min_market_cap=1e9)
    assert strategy.on_event(bar("ACME", 0, 12.0)) == []
    [decision] = strategy.on_event(fundamentals("ACME", day(1), shares_outstanding=1e8))
    assert "market cap 1.20B (shares 100.0M x price 12.00) > 1.00B" in decision.reasoning


def test_unknown_market_cap_fails_the_screen() -> None:
    """Fundamentals without shares or market cap fail the screen, saying why."""
    screen = LiquidityScreen(1e9)
    result = screen.process("X", {"fundamentals": fundamentals("X").payload, "price": 3.0})
    assert not result.passed
    assert (
        result.reasoning
        == "market cap unknown: no shares outstanding or market cap in the fundamentals"
    )


def test_decision_layer_always_holds() -> None:
    """The decision layer holds whatever the data says."""
    result = DecisionLayer().process("X", {})
    assert result.passed
    assert result.data["intent"].action is Action.HOLD


def test_subscriptions_and_params_validation() -> None:
    """It follows fundamentals (and bars for the price); a non-positive threshold is refused."""
    assert make().subscriptions == [EventType.FUNDAMENTAL_DATA, EventType.PRICE_BAR, EventType.FILL]
    with pytest.raises(ConfigError) as caught:
        make(min_market_cap=0)
    assert caught.value.key == "strategies.example_value.params.min_market_cap"


def test_state_round_trip() -> None:
    """State survives JSON and the restored strategy decides the same way."""
    strategy = make()
    strategy.on_event(bar("AAPL", 0, 200.0))
    strategy.on_event(fundamentals("AAPL", T0, shares_outstanding=1.5e10))
    restored = make()
    restored.load_state(json.loads(json.dumps(strategy.get_state())))
    assert restored.get_state() == strategy.get_state()
    event = fundamentals("AAPL", day(2), shares_outstanding=1.5e10)
    assert restored.on_event(event) == strategy.on_event(event)
