"""PipelineStrategy plumbing: construction, events, positions, pending decisions, state, registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from ibbot.errors import ConfigError
from ibbot.models import (
    Action,
    BarSize,
    Decision,
    Event,
    EventType,
    FundamentalData,
    LayerResult,
    OrderSide,
    PriceBar,
    Tick,
)
from ibbot.strategies import (
    INTENT_KEY,
    SHIPPED_STRATEGIES,
    Intent,
    PipelineStrategy,
    RollingMean,
    Strategy,
    StrategyParams,
    StrategyPipeline,
    StrategySources,
    StrategyStateError,
    SymbolState,
    create_strategy,
    decision_id,
    load_strategy_class,
    resolve_class_path,
)
from ibbot.strategies.formatting import compact, money, pct
from tests.unit.strategy_events import T0, bar, day, fill, fundamentals, tick


@dataclass(frozen=True)
class BuyLayer:
    """Always BUY at a 10% weight, noting the price it saw."""

    name: str = "always"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        return LayerResult(
            True,
            {
                INTENT_KEY: Intent(Action.BUY, 0.1, 0.5),
                "seen": data["price"],
                "bars_seen": data["bars"],
            },
            f"buy {symbol} at {data['price']}",
        )


class EveryBar(PipelineStrategy[SymbolState]):
    """Decides on every bar, tick and fundamentals update: exercises the base-class plumbing."""

    default_subscriptions: ClassVar[tuple[EventType, ...]] = (
        EventType.PRICE_BAR,
        EventType.TICK,
        EventType.FUNDAMENTAL_DATA,
        EventType.FILL,
    )

    def build_pipeline(self) -> StrategyPipeline:
        return StrategyPipeline([BuyLayer()])

    def new_symbol_state(self, symbol: str) -> SymbolState:
        return SymbolState(symbol, self.params.history_bars)

    def on_bar(self, state: SymbolState, bar: PriceBar) -> bool:
        return True

    def on_tick(self, state: SymbolState, tick: Tick) -> bool:
        return True

    def on_fundamentals(self, state: SymbolState, fundamentals: FundamentalData) -> bool:
        return True


def make(**params: Any) -> EveryBar:
    return EveryBar(name="every", allocated_capital=50_000, params=params)


def test_decision_carries_trail_ids_price_and_scalar_data() -> None:
    """A decision has the strategy, a deterministic id, the event time, last price and scalar data."""
    strategy = make()
    [decision] = strategy.on_event(bar("AAPL", 0, 101.5))
    assert decision.strategy_name == "every"
    assert decision.decision_id == "every-AAPL-20260105T210000Z-000001"
    assert decision.timestamp == T0
    assert decision.price == 101.5
    assert decision.action is Action.BUY
    assert decision.target_weight == 0.1
    assert decision.reasoning == "always PASS: buy AAPL at 101.5"
    assert decision.data == {
        "price": 101.5,
        "position": 0.0,
        "avg_cost": 0.0,
        "capital": 50_000.0,
        "seen": 101.5,
    }


def test_decision_id_format() -> None:
    """Ids are built from name, symbol, UTC time and a zero-padded sequence only."""
    assert decision_id("s", "MSFT", T0, 42) == "s-MSFT-20260105T210000Z-000042"


@pytest.mark.parametrize("year", [1, 999, 1000, 1800, 2026, 9999])
def test_decision_id_spells_the_time_as_strftime_does(year: int) -> None:
    """The field-by-field spelling is strftime's, including years it does not pad."""
    moment = datetime(year, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert decision_id("s", "A", moment, 7) == f"s-A-{moment:%Y%m%dT%H%M%S}Z-000007"


def test_event_handler_is_what_on_event_does() -> None:
    """A replay's direct handler gives what on_event gives; a subclass's own on_event is kept."""
    strategy, direct = make(), make()
    handle = direct.event_handler(EventType.PRICE_BAR)
    for index in range(3):
        assert handle(bar("AAPL", index, 100.0 + index)) == strategy.on_event(
            bar("AAPL", index, 100.0 + index)
        )
    assert direct.event_handler(EventType.ORDER_STATUS)(bar("AAPL", 5, 1.0)) == []

    class Logged(EveryBar):
        def on_event(self, event: Event) -> list[Decision]:
            return []

    logged = Logged(name="logged", allocated_capital=1.0)
    assert logged.event_handler(EventType.PRICE_BAR) == logged.on_event


def test_bar_handler_is_what_on_event_does_with_the_bar() -> None:
    """A replay's bar handler (bar and time, no event) gives what on_event gives for the bar's
    event, decisions and their ids included; a subclass with its own handling has none."""
    strategy, direct = make(), make()
    handle = direct.bar_handler()
    assert handle is not None
    for index in range(4):
        event = bar("AAPL", index, 100.0 + index)
        assert handle(event.payload, event.timestamp) == strategy.on_event(event)
    assert direct.get_state() == strategy.get_state()

    class Logged(EveryBar):
        def on_event(self, event: Event) -> list[Decision]:
            return []

    class OwnBars(EveryBar):
        def _on_price_bar(self, event: Event) -> list[Decision]:
            return []

    assert Logged(name="logged", allocated_capital=1.0).bar_handler() is None
    assert OwnBars(name="own", allocated_capital=1.0).bar_handler() is None


def test_pending_decision_waits_for_fill_or_retry_after_bars() -> None:
    """After a BUY the symbol waits retry_after_bars bars, or less when a fill arrives."""
    strategy = make(retry_after_bars=3)
    decided = [i for i in range(8) if strategy.on_event(bar("AAPL", i, 100.0 + i))]
    assert decided == [0, 3, 6]
    state = strategy.symbol_state("AAPL")
    assert state is not None
    assert state.pending
    strategy.on_event(fill("every", "AAPL", OrderSide.BUY, 10, 106.0, day(6), "e1"))
    assert not state.pending
    assert strategy.on_event(bar("AAPL", 8, 108.0))


def test_fills_build_positions_only_for_this_strategy_once_per_exec_id() -> None:
    """Own fills move positions (once per exec id); other strategies' fills are ignored."""
    strategy = make()
    strategy.on_event(fill("every", "AAPL", OrderSide.BUY, 10, 100.0, T0, "e1"))
    strategy.on_event(fill("every", "AAPL", OrderSide.BUY, 10, 100.0, T0, "e1"))
    strategy.on_event(fill("other", "AAPL", OrderSide.BUY, 99, 100.0, T0, "e2"))
    strategy.on_event(fill("every", "AAPL", OrderSide.BUY, 10, 110.0, T0, "e3", commission=1.0))
    [position] = strategy.get_positions().values()
    assert position.quantity == 20
    assert position.avg_cost == pytest.approx(105.0)
    assert position.realized_pnl == -1.0
    assert strategy.position_quantity("AAPL") == 20
    strategy.on_event(fill("every", "AAPL", OrderSide.SELL, 20, 120.0, T0, "e4"))
    assert strategy.get_positions() == {}
    assert strategy.position_quantity("MSFT") == 0.0


def test_old_and_repeated_bars_are_dropped() -> None:
    """A bar not later than the last one seen (re-sent or replayed) changes nothing."""
    strategy = make(retry_after_bars=1)
    assert strategy.on_event(bar("AAPL", 5, 100.0))
    assert strategy.on_event(bar("AAPL", 5, 100.0)) == []
    assert strategy.on_event(bar("AAPL", 4, 90.0)) == []
    state = strategy.symbol_state("AAPL")
    assert state is not None
    assert state.bar_count == 1
    assert state.last_price == 100.0


def test_symbol_and_bar_size_filters() -> None:
    """Bars of other symbols or other bar sizes are ignored when the params restrict them."""
    strategy = make(symbols="AAPL, MSFT", bar_size="1d")
    assert strategy.on_event(bar("GOOGL", 0, 1.0)) == []
    assert strategy.on_event(bar("AAPL", 0, 1.0, bar_size=BarSize.MIN_1)) == []
    assert strategy.on_event(bar("MSFT", 0, 1.0))
    assert strategy.symbol_state("GOOGL") is None


def test_ticks_update_the_price_but_not_backwards() -> None:
    """A tick sets the last price; a tick older than the last price is ignored."""
    strategy = make(retry_after_bars=1)
    [decision] = strategy.on_event(tick("AAPL", T0 + timedelta(seconds=5), 100.5))
    assert decision.price == 100.5
    assert strategy.on_event(tick("AAPL", T0, 99.0)) == []
    state = strategy.symbol_state("AAPL")
    assert state is not None
    assert state.last_price == 100.5


def test_older_fundamentals_are_ignored() -> None:
    """Fundamentals older than the ones held do not replace them."""
    strategy = make()
    strategy.on_event(fundamentals("AAPL", day(2), shares_outstanding=2.0))
    assert strategy.on_event(fundamentals("AAPL", day(1), shares_outstanding=1.0)) == []
    state = strategy.symbol_state("AAPL")
    assert state is not None
    assert state.fundamentals is not None
    assert state.fundamentals.shares_outstanding == 2.0


def test_unsubscribed_types_and_foreign_payloads_are_ignored() -> None:
    """Events of types the strategy does not follow, or with a wrong payload, give nothing."""
    strategy = make()
    order_status = Event(EventType.ORDER_STATUS, "AAPL", T0, {"status": "filled"})
    assert strategy.on_event(order_status) == []
    for kind in (EventType.PRICE_BAR, EventType.TICK, EventType.FUNDAMENTAL_DATA, EventType.FILL):
        assert strategy.on_event(Event(kind, "AAPL", T0, {"not": "a model"})) == []
    assert strategy.on_event(Event(EventType.PRICE_BAR, None, T0, {})) == []


def test_state_round_trips_through_json() -> None:
    """get_state -> JSON -> load_state restores prices, bars, positions, pending and the sequence."""
    strategy = make(retry_after_bars=2)
    strategy.on_event(fundamentals("AAPL", T0, shares_outstanding=5.0, raw="<big/>"))
    strategy.on_event(bar("AAPL", 1, 100.0))
    strategy.on_event(fill("every", "AAPL", OrderSide.BUY, 10, 100.0, day(1), "e1"))
    strategy.on_event(bar("AAPL", 2, 101.0))
    saved = json.loads(json.dumps(strategy.get_state()))
    restored = make(retry_after_bars=2)
    restored.load_state(saved)
    assert restored.get_state() == strategy.get_state()
    assert restored.get_positions() == strategy.get_positions()
    state = restored.symbol_state("AAPL")
    assert state is not None
    assert state.fundamentals is not None
    assert state.fundamentals.raw == ""  # the raw report is not kept in state
    assert [d.decision_id for d in restored.on_event(bar("AAPL", 4, 102.0))] == [
        d.decision_id for d in strategy.on_event(bar("AAPL", 4, 102.0))
    ]
    # a replayed exec id after the restart does not move the position again
    restored.on_event(fill("every", "AAPL", OrderSide.BUY, 10, 100.0, day(1), "e1"))
    assert restored.position_quantity("AAPL") == 10


@pytest.mark.parametrize(
    "breakage",
    [
        lambda s: s.pop("symbols"),
        lambda s: s.update(version=99),
        lambda s: s["symbols"]["AAPL"].update(last_bar_time="2026-01-05T21:00:00"),
        lambda s: s["positions"].update(AAPL={"symbol": "AAPL"}),
        lambda s: s["symbols"]["AAPL"].update(
            pending={"decision_id": "x", "action": "sell", "bars": 1}
        ),
    ],
)
def test_unreadable_state_raises_and_keeps_current_state(breakage: Any) -> None:
    """Broken saved state raises StrategyStateError and leaves the strategy as it was."""
    strategy = make()
    strategy.on_event(bar("AAPL", 0, 100.0))
    strategy.on_event(fill("every", "AAPL", OrderSide.BUY, 3, 100.0, T0, "e1"))
    before = strategy.get_state()
    broken = json.loads(json.dumps(before))
    breakage(broken)
    with pytest.raises(StrategyStateError, match="every: saved state is unreadable"):
        strategy.load_state(broken)
    assert strategy.get_state() == before


def test_exec_id_memory_is_bounded() -> None:
    """Only the most recent exec ids are remembered, so state stays small."""
    strategy = make()
    for i in range(1_005):
        strategy.on_event(fill("every", "AAPL", OrderSide.BUY, 1, 1.0, T0, f"e{i}"))
    ids = strategy.get_state()["exec_ids"]
    assert len(ids) == 1_000
    assert ids[0] == "e5"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"name": "", "allocated_capital": 1.0}, "strategies.name"),
        ({"name": "a:b", "allocated_capital": 1.0}, "strategies.name"),
        ({"name": "ok", "allocated_capital": 0.0}, "strategies.ok.allocated_capital"),
        ({"name": "ok", "allocated_capital": float("nan")}, "strategies.ok.allocated_capital"),
        ({"name": "ok", "allocated_capital": "lots"}, "strategies.ok.allocated_capital"),
        (
            {"name": "ok", "allocated_capital": 1.0, "params": {"nope": 1}},
            "strategies.ok.params.nope",
        ),
        (
            {"name": "ok", "allocated_capital": 1.0, "params": {"history_bars": 0}},
            "strategies.ok.params.history_bars",
        ),
        (
            {"name": "ok", "allocated_capital": 1.0, "params": {"bar_size": "7 parsecs"}},
            "strategies.ok.params.bar_size",
        ),
    ],
)
def test_construction_errors_name_the_bad_setting(kwargs: dict[str, Any], key: str) -> None:
    """Bad names, capital or params raise ConfigError whose key is the settings path."""
    with pytest.raises(ConfigError) as caught:
        EveryBar(**kwargs)
    assert caught.value.key == key


def test_unknown_param_lists_the_accepted_ones_and_all_problems() -> None:
    """An unknown parameter's error lists valid names; further problems are reported too."""
    with pytest.raises(ConfigError) as caught:
        EveryBar(name="x", allocated_capital=1, params={"nope": 1, "history_bars": -1})
    message = str(caught.value)
    assert caught.value.key == "strategies.x.params.history_bars"
    assert "also: nope: unknown parameter; StrategyParams accepts symbols, bar_size" in message


def test_params_accept_cli_strings() -> None:
    """Parameters given as strings (from --param on the CLI) are converted."""
    strategy = make(history_bars="5", bar_size="1 min", symbols=["AAPL"])
    assert strategy.params == StrategyParams(
        history_bars=5, bar_size=BarSize.MIN_1, symbols=("AAPL",)
    )


def test_registry_creates_shipped_strategies_by_short_name() -> None:
    """Every shipped name resolves to a class that builds a Strategy with default params."""
    for short, path in SHIPPED_STRATEGIES.items():
        assert resolve_class_path(short) == path
        strategy = create_strategy(short, name=short, allocated_capital=10_000)
        assert isinstance(strategy, Strategy)
        assert strategy.name == short
        assert strategy.subscriptions
        assert load_strategy_class(path) is type(strategy)
    assert resolve_class_path("my.module.Class") == "my.module.Class"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("NoDots", "expected 'package.module.ClassName'"),
        ("ibbot.strategies.no_such_module.Thing", "cannot import ibbot.strategies.no_such_module"),
        ("ibbot.clock.WallClock", "ibbot.clock is not an allowed strategy module"),
        ("ibbot.strategies.NoSuchClass", "has no class NoSuchClass"),
        ("ibbot.strategies.FAILED_LAYER_KEY", "has no class FAILED_LAYER_KEY"),
    ],
)
def test_registry_reports_bad_class_paths(path: str, reason: str) -> None:
    """A class path that cannot be loaded is a ConfigError under the strategy's class_path key."""
    with pytest.raises(ConfigError, match=reason) as caught:
        create_strategy(path, name="mine", allocated_capital=1)
    assert caught.value.key == "strategies.mine.class_path"


class NotAStrategy:
    """Accepts the constructor arguments but lacks the protocol's methods."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def test_registry_refuses_classes_that_are_not_strategies() -> None:
    """A class that does not implement the Strategy protocol is refused."""
    with pytest.raises(ConfigError, match="NotAStrategy is not a strategy"):
        create_strategy(
            f"{__name__}.NotAStrategy",
            name="x",
            allocated_capital=1,
            sources=StrategySources(packages=("tests.unit",)),
        )


def test_rolling_mean() -> None:
    """The running mean covers the last N values and restores exactly."""
    rolling = RollingMean(3)
    assert rolling.mean is None
    for value in (1.0, 2.0, 3.0, 10.0):
        rolling.push(value)
    assert rolling.full
    assert rolling.count == 3
    assert rolling.mean == pytest.approx(5.0)
    again = RollingMean.restore(json.loads(json.dumps(rolling.dump())))
    again.push(4.0)
    rolling.push(4.0)
    assert again.mean == rolling.mean
    with pytest.raises(ValueError, match="at least 1"):
        RollingMean(0)
    with pytest.raises(ValueError, match="cannot hold 2 values"):
        RollingMean.restore({"length": 1, "values": [1.0, 2.0], "total": 3.0})


def test_number_formatting() -> None:
    """Trails print magnitudes compactly, money with separators, fractions as signed percents."""
    assert compact(596_400_000_000) == "596.4B"
    assert compact(2_840_000_000) == "2.84B"
    assert compact(3.2e12) == "3.20T"
    assert compact(9_000_000) == "9.00M"
    assert compact(1_500) == "1.50K"
    assert compact(12.345) == "12.35"
    assert money(25_200) == "25,200.00"
    assert pct(0.021) == "+2.1%"
    assert pct(-0.01) == "-1.0%"


class Quiet(PipelineStrategy[SymbolState]):
    """Follows ticks and fundamentals but keeps the base class's default hooks (never decides)."""

    default_subscriptions: ClassVar[tuple[EventType, ...]] = (
        EventType.TICK,
        EventType.FUNDAMENTAL_DATA,
    )

    def build_pipeline(self) -> StrategyPipeline:
        return StrategyPipeline([BuyLayer()])

    def new_symbol_state(self, symbol: str) -> SymbolState:
        return SymbolState(symbol, self.params.history_bars)


def test_default_hooks_never_decide_and_filters_apply_to_ticks_and_fundamentals() -> None:
    """Default hooks only record data; ticks without a price and other symbols are ignored."""
    strategy = Quiet(name="quiet", allocated_capital=1, params={"symbols": ["AAPL"]})
    assert strategy.on_event(tick("AAPL", T0, 10.0)) == []
    assert strategy.on_event(Event(EventType.TICK, "AAPL", T0, Tick("AAPL", day(1)))) == []
    assert strategy.on_event(tick("MSFT", T0, 10.0)) == []
    assert strategy.on_event(fundamentals("MSFT", T0)) == []
    assert strategy.on_event(fundamentals("AAPL", T0)) == []
    assert strategy.on_event(bar("AAPL", 0, 1.0)) == []  # bars are not followed
    assert strategy.symbol_state("MSFT") is None
    state = strategy.symbol_state("AAPL")
    assert state is not None
    assert state.last_price == 10.0
    assert state.last_bar_time is None
    restored = Quiet(name="quiet", allocated_capital=1, params={"symbols": ["AAPL"]})
    restored.load_state(json.loads(json.dumps(strategy.get_state())))
    assert restored.get_state() == strategy.get_state()
