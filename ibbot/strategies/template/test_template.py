"""Tests of the Template strategy (written by ``ibbot strategies new``): run them with
``pytest strategies/test_template.py``, and add yours as the strategy grows.

The strategy is loaded the way ibbot loads it, by class path from this directory, and fed events
as live trading and backtests feed them: no broker, no clock, no files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ibbot.models import Action, BarSize, Event, EventType, Fill, OrderSide, PriceBar
from ibbot.strategies import PipelineStrategy, StrategySources, create_strategy

HERE = Path(__file__).resolve().parent
START = datetime(2026, 3, 4, 14, 30, tzinfo=UTC)


def build(**params: object) -> PipelineStrategy[Any]:
    """The strategy, as settings with ``class_path = "template.TemplateStrategy"`` build it."""
    strategy = create_strategy(
        "template.TemplateStrategy",
        name="template",
        allocated_capital=100_000.0,
        params={"entry_bars": 3, "exit_bars": 2, **params},
        sources=StrategySources(directories=(HERE,)),
    )
    assert isinstance(strategy, PipelineStrategy)
    return strategy


def bar(minute: int, close: float) -> Event:
    """A one-minute AAPL bar closing at ``close`` (high and low 0.5 around it)."""
    start = START + timedelta(minutes=minute)
    payload = PriceBar(
        "AAPL", start, close, close + 0.5, close - 0.5, close, 1_000.0, BarSize.MIN_1
    )
    return Event(EventType.PRICE_BAR, "AAPL", start + timedelta(minutes=1), payload)


def fill(strategy: PipelineStrategy[Any], quantity: float, price: float) -> Event:
    """A fill of a BUY of ``quantity`` shares attributed to ``strategy``."""
    done = Fill(
        "exec-1", 1, 1, "AAPL", OrderSide.BUY, quantity, price, START, strategy_name=strategy.name
    )
    return Event(EventType.FILL, "AAPL", START, done)


def test_a_breakout_buys_with_its_reasoning() -> None:
    """Three quiet bars, then a close above their highs: one BUY saying why."""
    strategy = build()
    for minute in range(3):
        assert strategy.on_event(bar(minute, 100.0)) == []
    [decision] = strategy.on_event(bar(3, 102.0))
    assert decision.action is Action.BUY
    assert decision.target_weight == 0.1
    assert "channel PASS: close 102.00 > 3-bar high 100.50" in decision.reasoning


def test_a_breakdown_exits_a_held_position() -> None:
    """Once holding, a close under the lows of the bars before is an EXIT."""
    strategy = build()
    for minute in range(3):
        strategy.on_event(bar(minute, 100.0))
    strategy.on_event(bar(3, 102.0))
    strategy.on_event(fill(strategy, 100, 102.0))
    [decision] = strategy.on_event(bar(4, 99.0))
    assert decision.action is Action.EXIT


def test_the_state_survives_a_restart() -> None:
    """get_state/load_state carry the channel over: the restored strategy decides the same."""
    strategy = build()
    for minute in range(3):
        strategy.on_event(bar(minute, 100.0))
    restored = build()
    restored.load_state(strategy.get_state())
    assert [d.action for d in restored.on_event(bar(3, 102.0))] == [Action.BUY]
