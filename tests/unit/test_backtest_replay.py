"""The replay: a hand-computed sma_cross run, event order, no look-ahead, risk gate, order events."""

from __future__ import annotations

import dataclasses
import gc
import json
from dataclasses import fields
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ibbot.backtest import (
    Backtest,
    BacktestConfig,
    BacktestError,
    BacktestInputError,
    BarFeed,
    CommissionModel,
    DecisionOutcome,
    SimulatedBroker,
    StrategySpec,
    load_bars,
    load_fundamentals,
    run_backtest,
)
from ibbot.backtest.metrics import realized_pnl
from ibbot.backtest.outputs import decisions_jsonl, equity_csv, trades_csv
from ibbot.backtest.replay import _MarketDay
from ibbot.models import (
    BarSize,
    EventType,
    FundamentalData,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    PriceBar,
    TimeInForce,
)
from ibbot.store import ParquetStore
from ibbot.strategies import StrategySources
from ibbot.trading import RiskLimits, RiskRule
from tests.unit.backtest_helpers import RecordingStrategy, daily_bars, day, statuses

if TYPE_CHECKING:
    from pathlib import Path

RECORDER = "tests.unit.backtest_helpers.RecordingStrategy"

# Closes chosen so that SMA(2) crosses above SMA(3) on bar 5 and below on bar 7 (worked out in
# test_sma_cross_hand_computed); bars 6 and 8 open away from the previous close.
CLOSES = [10.0, 10.0, 10.0, 9.0, 9.0, 12.0, 13.0, 8.0, 7.0]
OPENS = {6: 12.5, 8: 8.2}


def config(*specs: StrategySpec, **overrides: object) -> BacktestConfig:
    values: dict[str, object] = {
        "start": day(0),
        "end": day(100),
        "strategies": specs,
        "starting_cash": 10_000.0,
        "commission": CommissionModel.parse("ib"),
        "slippage_bps": 0.0,
        "sources": StrategySources(packages=("tests.unit",)),
    }
    values.update(overrides)
    return BacktestConfig(**values)  # type: ignore[arg-type]


def sma_spec(**params: object) -> StrategySpec:
    return StrategySpec(
        "sma", "sma_cross", 10_000.0, {"fast": 2, "slow": 3, "quantity": 10, **params}
    )


def test_sma_cross_hand_computed() -> None:
    """SMA(2)/SMA(3) on nine bars: one BUY filled at bar 6's open, one EXIT at bar 8's, exact cash."""
    # Bar 5 (close 12): SMA(2) = 10.5 > SMA(3) = 10 after being below: BUY 10, filled at bar 6's
    # open 12.50, commission max(1.00, 10 x 0.005) = 1.00. Bar 7 (close 8): SMA(2) = 10.5 <
    # SMA(3) = 11: EXIT, filled at bar 8's open 8.20, commission capped at 1% of 82.00 = 0.82.
    # Cash: 10,000 - 125 - 1 = 9,874 then + 82 - 0.82 = 9,955.18; realized -44.82.
    feed = BarFeed.from_bars(daily_bars("ABC", CLOSES, opens=OPENS))
    result = Backtest(config(sma_spec())).run(feed)
    trades = [(f.timestamp, f.side, f.quantity, f.price, f.commission) for f in result.fills]
    assert trades == [
        (day(6), OrderSide.BUY, 10.0, 12.5, 1.0),
        (day(8), OrderSide.SELL, 10.0, 8.2, 0.82),
    ]
    assert [f.decision_id for f in result.fills] == [
        "sma-ABC-20240107T000000Z-000001",
        "sma-ABC-20240109T000000Z-000002",
    ]
    assert realized_pnl(result.fills) == [None, pytest.approx(-44.82)]
    assert result.equity.cash == pytest.approx([10_000.0] * 6 + [9_874.0] * 2 + [9_955.18])
    # equity: cash plus 10 shares at each close while held
    assert result.equity.equity == pytest.approx(
        [10_000.0] * 6 + [9_874.0 + 130.0, 9_874.0 + 80.0, 9_955.18]
    )
    assert result.equity.gross == pytest.approx([0.0] * 6 + [130.0, 80.0, 0.0])
    assert result.final_positions == {}
    assert result.final_cash == pytest.approx(9_955.18)
    csv_lines = trades_csv(result, realized_pnl(result.fills)).splitlines()
    assert csv_lines[1] == (
        "2024-01-08T00:00:00+00:00,ABC,BUY,10,12.5,1.0,sma,sma-ABC-20240107T000000Z-000001,,entry"
    )
    assert csv_lines[2].startswith("2024-01-10T00:00:00+00:00,ABC,SELL,10,8.2,0.82,sma,")
    assert equity_csv(result).splitlines()[7] == ("2024-01-08T00:00:00+00:00,10004.0,9874.0,130.0")


def test_slippage_and_per_share_commission() -> None:
    """Market fills are worsened by the slippage (buys up, sells down); per-share commission."""
    feed = BarFeed.from_bars(daily_bars("ABC", CLOSES, opens=OPENS))
    cfg = config(sma_spec(), commission=CommissionModel.parse("per-share=0.02"), slippage_bps=10.0)
    result = Backtest(cfg).run(feed)
    assert [(f.price, f.commission) for f in result.fills] == [
        (pytest.approx(12.5125), pytest.approx(0.2)),
        (pytest.approx(8.1918), pytest.approx(0.2)),
    ]


def test_decisions_carry_reasoning_sizing_and_broker_outcome() -> None:
    """decisions.jsonl: every decision with its reasoning, sizing, risk verdict and fill."""
    feed = BarFeed.from_bars(daily_bars("ABC", CLOSES, opens=OPENS))
    result = Backtest(config(sma_spec())).run(feed)
    lines = [json.loads(line) for line in decisions_jsonl(result).splitlines()]
    assert [line["action"] for line in lines] == ["buy", "exit"]
    first = lines[0]
    assert "crossover PASS" in first["reasoning"]
    assert first["sizing"].endswith("BUY 10")
    assert first["risk"]["allowed"] is True
    assert first["broker"]["status"] == "filled"
    assert first["broker"]["avg_price"] == 12.5
    assert first["order"]["order_ref"] == f"sma:{first['decision_id']}"


def test_risk_gate_blocks_and_audits_without_trading() -> None:
    """An order over max_order_notional is refused by the gate: audited with its rule, no fill."""
    feed = BarFeed.from_bars(daily_bars("ABC", CLOSES, opens=OPENS))
    cfg = config(sma_spec(), risk=RiskLimits(max_order_notional=100.0, min_order_notional=10.0))
    result = Backtest(cfg).run(feed)
    assert result.fills == ()
    assert result.orders == ()
    blocked = [d for d in result.decisions if d.outcome is DecisionOutcome.BLOCKED]
    assert len(blocked) == 1
    assert blocked[0].verdict is not None
    assert blocked[0].verdict.rule is RiskRule.MAX_ORDER_NOTIONAL
    line = json.loads(decisions_jsonl(result).splitlines()[0])
    assert line["outcome"] == "blocked"
    assert line["risk"]["rule"] == "max_order_notional"
    assert line["broker"] is None


def test_events_are_ordered_and_fills_attributed_by_order_ref() -> None:
    """Two symbols: events by time then symbol; a FILL before the bar it filled on; no look-ahead."""
    bars = daily_bars("BBB", [20.0] * 5) + daily_bars("AAA", [10.0] * 5)
    spec = StrategySpec("rec", RECORDER, 10_000.0, {"buy_on": [day(1).isoformat()], "quantity": 10})
    backtest = Backtest(config(spec))
    backtest.run(BarFeed.from_bars(bars))
    events = RecordingStrategy.seen["rec"]
    kinds = [(e.type.value, e.symbol, e.timestamp) for e in events]
    # the recorder buys both symbols at day 1: each fills at day 2's open, seen before day 2's bar
    assert kinds[:8] == [
        ("price_bar", "AAA", day(0)),
        ("price_bar", "BBB", day(0)),
        ("price_bar", "AAA", day(1)),
        ("price_bar", "BBB", day(1)),
        ("fill", "AAA", day(2)),
        ("price_bar", "AAA", day(2)),
        ("fill", "BBB", day(2)),
        ("price_bar", "BBB", day(2)),
    ]
    for index, event in enumerate(events):
        assert all(earlier.timestamp <= event.timestamp for earlier in events[:index])
    fill = events[4].payload
    assert fill.strategy_name == "rec"  # type: ignore[union-attr]
    assert fill.decision_id == "rec-1"  # type: ignore[union-attr]
    assert events[4].source == "backtest"
    assert events[0].ingested_at == day(1)  # a daily bar is known when it ends


def test_a_decision_never_trades_on_a_bar_of_its_own_instant() -> None:
    """A BUY decided on AAA's bar at t for BBB fills at BBB's bar t+1, not BBB's bar t."""

    class CrossSymbol(RecordingStrategy):
        def on_event(self, event):  # type: ignore[no-untyped-def]
            decisions = super().on_event(event)
            if event.symbol != "AAA":
                return []
            return [d.__class__(**{**_fields(d), "symbol": "BBB"}) for d in decisions]

    bars = daily_bars("AAA", [10.0] * 4) + daily_bars(
        "BBB", [20.0, 20.0, 21.0, 22.0], opens={1: 19.0, 2: 25.0}
    )
    strategy = CrossSymbol(
        name="x", allocated_capital=10_000.0, params={"buy_on": [day(1).isoformat()]}
    )
    result = Backtest(config(StrategySpec("x", RECORDER, 10_000.0)), [strategy]).run(
        BarFeed.from_bars(bars)
    )
    assert [(f.symbol, f.timestamp, f.price) for f in result.fills] == [("BBB", day(2), 25.0)]


def _fields(decision: object) -> dict[str, object]:
    return {f.name: getattr(decision, f.name) for f in fields(decision)}  # type: ignore[arg-type]


def test_fundamentals_as_of_each_bar(tmp_path: Path) -> None:
    """Fundamentals arrive at their own time: before the first bar at or after it, never earlier."""
    store = ParquetStore(tmp_path)
    store.write_bars("AAA", daily_bars("AAA", [10.0] * 6, first=10))

    def record(at: object, name: str, report: str = "ReportSnapshot") -> FundamentalData:
        return FundamentalData("AAA", at, name, report_type=report)  # type: ignore[arg-type]

    for item in (
        record(day(1), "old snapshot"),
        record(day(2), "latest snapshot before the start"),
        record(day(3), "statements before the start", "ReportsFinStatements"),
        record(day(12), "at bar 12 exactly"),
        record(day(13) + timedelta(hours=15), "during bar 13"),
        record(day(30), "after the last bar"),
    ):
        store.write_fundamental("AAA", item)
    subscriptions = ["price_bar", "fundamental_data", "financial_statements"]
    spec = StrategySpec("rec", RECORDER, 10_000.0, {"subscriptions": subscriptions})
    run_backtest(config(spec, start=day(10), end=day(16)), store)
    seen = [
        (
            e.type.value,
            e.payload.company_name if e.type is not EventType.PRICE_BAR else None,
            e.timestamp,
        )  # type: ignore[union-attr]
        for e in RecordingStrategy.seen["rec"]
    ]
    assert seen == [
        ("fundamental_data", "latest snapshot before the start", day(2)),
        ("financial_statements", "statements before the start", day(3)),
        ("price_bar", None, day(10)),
        ("price_bar", None, day(11)),
        ("fundamental_data", "at bar 12 exactly", day(12)),
        ("price_bar", None, day(12)),
        ("price_bar", None, day(13)),
        ("fundamental_data", "during bar 13", day(13) + timedelta(hours=15)),
        ("price_bar", None, day(14)),
        ("price_bar", None, day(15)),
    ]
    assert len(load_fundamentals(store, ["AAA"], day(10), day(16))) == 4


def test_statements_are_delivered_as_live_publishes_them_and_leave_snapshots_alone(
    tmp_path: Path,
) -> None:
    """A stored ReportsFinStatements record is a FINANCIAL_STATEMENTS event, as live; it reaches
    its subscribers and does not replace value_momentum's snapshot (same decisions without it)."""
    store = ParquetStore(tmp_path)
    closes = [100.0 + i for i in range(60)]
    store.write_bars("AAA", daily_bars("AAA", closes, volumes=dict.fromkeys(range(60), 5e6)))
    snapshot = FundamentalData(
        "AAA", day(1), "AAA Inc", market_cap=50e9, pe_ratio=12.0, price_to_book=2.0
    )
    store.write_fundamental("AAA", snapshot)
    specs = (
        StrategySpec("vm", "value_momentum", 10_000.0, {"momentum_window": 5, "volume_window": 5}),
        StrategySpec(
            "rec", RECORDER, 10_000.0, {"subscriptions": ["price_bar", "financial_statements"]}
        ),
    )
    cfg = config(*specs, end=day(60), risk=RiskLimits(max_position_pct=1.0))
    without = run_backtest(cfg, store)
    # IB's statements carry no market cap or ratios: as a snapshot they would fail every screen
    statements = FundamentalData(
        "AAA", day(30) + timedelta(hours=12), "AAA Inc", report_type="ReportsFinStatements"
    )
    store.write_fundamental("AAA", statements)
    with_statements = run_backtest(cfg, store)
    vm = [
        (r.decision.timestamp, r.decision.action, r.decision.reasoning, r.outcome)
        for r in with_statements.decisions
        if r.decision.strategy_name == "vm"
    ]
    assert vm == [
        (r.decision.timestamp, r.decision.action, r.decision.reasoning, r.outcome)
        for r in without.decisions
        if r.decision.strategy_name == "vm"
    ]
    assert [action for _, action, _, _ in vm] == ["buy"]
    assert with_statements.fills == without.fills
    delivered = [e for e in RecordingStrategy.seen["rec"] if e.type is not EventType.PRICE_BAR]
    assert [(e.type, e.payload) for e in delivered] == [
        (EventType.FINANCIAL_STATEMENTS, statements)
    ]


def test_zero_volume_bar_fills_nothing_and_day_order_expires() -> None:
    """The bar after the decision has no volume: nothing fills and the DAY order is cancelled."""
    bars = daily_bars("AAA", [10.0] * 5, volumes={2: 0.0})
    spec = StrategySpec(
        "rec",
        RECORDER,
        10_000.0,
        {"buy_on": [day(1).isoformat()], "subscriptions": ["price_bar", "fill", "order_status"]},
    )
    result = Backtest(config(spec)).run(BarFeed.from_bars(bars))
    assert result.fills == ()
    assert [o.status for o in result.orders] == [OrderStatus.CANCELLED]
    assert "expired" in result.orders[0].message
    assert statuses(RecordingStrategy.seen["rec"]) == [("submitted", "AAA"), ("cancelled", "AAA")]


def test_order_status_events_reach_subscribers() -> None:
    """A strategy subscribed to order_status hears submitted, filled and blocked orders."""
    bars = daily_bars("AAA", [10.0] * 6)
    spec = StrategySpec(
        "rec",
        RECORDER,
        10_000.0,
        {
            "buy_on": [day(1).isoformat(), day(3).isoformat()],
            "quantity": 200,
            "subscriptions": ["price_bar", "fill", "order_status"],
        },
    )
    cfg = config(spec, risk=RiskLimits(max_position_pct=0.3))
    result = Backtest(cfg).run(BarFeed.from_bars(bars))
    assert len(result.fills) == 1
    # the second BUY of 200 more would hold 400 x 10 = 4,000 > 30% of 10,000
    assert statuses(RecordingStrategy.seen["rec"]) == [
        ("submitted", "AAA"),
        ("filled", "AAA"),
        ("blocked", "AAA"),
    ]


def test_margin_rejection_is_recorded() -> None:
    """An order the engine rejects for margin (IB 201) is recorded as rejected, not traded."""
    bars = daily_bars("AAA", [10.0] * 4)
    spec = StrategySpec(
        "rec", RECORDER, 10_000.0, {"buy_on": [day(1).isoformat()], "quantity": 500}
    )
    cfg = config(
        spec,
        starting_cash=1_000.0,
        risk=RiskLimits(max_position_pct=1.0, max_order_notional=1e9),
    )
    with capture_logs() as logs:
        result = Backtest(cfg).run(BarFeed.from_bars(bars))
    assert result.fills == ()
    assert [o.status for o in result.orders] == [OrderStatus.REJECTED]
    assert result.orders[0].message.startswith("201:")
    # each rejection at debug (a long run would print thousands), their count in the summary
    rejected = [line for line in logs if line["event"] == "backtest.order_rejected"]
    assert [line["log_level"] for line in rejected] == ["debug"]
    replayed = next(line for line in logs if line["event"] == "backtest.replayed")
    assert (replayed["rejected"], replayed["blocked"]) == (1, 0)


def test_a_strategy_that_raises_stops_the_run_with_context() -> None:
    """A strategy exception becomes a BacktestError naming the strategy, event and time."""
    spec = StrategySpec("rec", RECORDER, 10_000.0, {"raise_on": day(2).isoformat()})
    with pytest.raises(
        BacktestError, match="'rec' raised RuntimeError on the price_bar event of AAA"
    ):
        Backtest(config(spec)).run(BarFeed.from_bars(daily_bars("AAA", [10.0] * 4)))


def test_progress_is_reported_and_a_backtest_runs_once() -> None:
    """The progress callback ends at (total, total); a second run() is refused."""
    calls: list[tuple[int, int]] = []
    backtest = Backtest(config(sma_spec()))
    feed = BarFeed.from_bars(daily_bars("ABC", CLOSES))
    backtest.run(feed, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (len(CLOSES), len(CLOSES))
    with pytest.raises(BacktestError, match="runs once"):
        backtest.run(feed)


def test_intraday_day_orders_expire_at_the_us_eastern_day_end() -> None:
    """A limit order on 1-hour bars works through its New York trading day, then is cancelled."""
    day_of = _MarketDay()
    broker = SimulatedBroker(
        starting_cash=10_000.0,
        commission=CommissionModel.parse("zero"),
        slippage_bps=0.0,
        day_of=day_of,
    )
    start = day(0) + timedelta(hours=15)  # 10:00 New York
    order = Order("s", "AAA", OrderSide.BUY, 10, OrderType.LIMIT, limit_price=9.0, created_at=start)
    broker.submit(order, start, {"AAA": 10.0})
    for hour in (1, 2, 3):
        t = start + timedelta(hours=hour)
        micros = int(t.timestamp()) * 1_000_000
        assert broker.expire_day_orders(micros, t) == []
        broker.on_bar(
            "AAA", time=t, micros=micros, open_=10.0, high=10.0, low=9.5, close=10.0, volume=100
        )
    next_day = day(1) + timedelta(hours=14, minutes=30)
    expired = broker.expire_day_orders(int(next_day.timestamp()) * 1_000_000, next_day)
    assert [record.status for record in expired] == [OrderStatus.CANCELLED]
    assert broker.open_orders == 0


def test_feed_rejects_mixed_bar_sizes() -> None:
    """A feed holds one bar size."""
    bars = [*daily_bars("AAA", [1.0]), PriceBar("AAA", day(3), 1, 1, 1, 1, 1, BarSize.HOUR_1)]
    with pytest.raises(BacktestInputError, match="exactly one size"):
        BarFeed.from_bars(bars)


def test_cyclic_gc_is_paused_during_the_replay_and_restored() -> None:
    """The collector is off while bars replay and back in its previous state afterwards."""
    states: list[bool] = []

    class Probe(RecordingStrategy):
        def on_event(self, event):  # type: ignore[no-untyped-def]
            states.append(gc.isenabled())
            return super().on_event(event)

    feed = BarFeed.from_bars(daily_bars("AAA", [10.0] * 3))
    spec = StrategySpec("p", RECORDER, 10_000.0)
    assert gc.isenabled()
    Backtest(config(spec), [Probe(name="p", allocated_capital=10_000.0)]).run(feed)
    assert states == [False, False, False]
    assert gc.isenabled()
    gc.disable()
    try:
        Backtest(config(spec), [Probe(name="p", allocated_capital=10_000.0)]).run(feed)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_decisions_are_attributed_to_the_strategy_that_made_them() -> None:
    """A decision without (or with another) strategy name trades for the strategy that returned it."""

    class Anonymous(RecordingStrategy):
        def on_event(self, event):  # type: ignore[no-untyped-def]
            return [
                d.__class__(**{**_fields(d), "strategy_name": ""}) for d in super().on_event(event)
            ]

    strategy = Anonymous(
        name="anon", allocated_capital=10_000.0, params={"buy_on": [day(1).isoformat()]}
    )
    result = Backtest(config(StrategySpec("anon", RECORDER, 10_000.0)), [strategy]).run(
        BarFeed.from_bars(daily_bars("AAA", [10.0] * 3))
    )
    assert [(f.strategy_name, f.quantity) for f in result.fills] == [("anon", 10.0)]


def test_an_exit_while_a_sale_works_sells_nothing_more() -> None:
    """The backtest sizes against working orders as live trading does: a second EXIT while the
    first GTC sale waits (a bar without volume) sends nothing, so the strategy never goes short."""

    class GoodTillCancelled(RecordingStrategy):
        def on_event(self, event):  # type: ignore[no-untyped-def]
            return [
                dataclasses.replace(d, time_in_force=TimeInForce.GTC)
                for d in super().on_event(event)
            ]

    strategy = GoodTillCancelled(
        name="gtc",
        allocated_capital=10_000.0,
        params={
            "buy_on": [day(1).isoformat()],
            "exit_on": [day(3).isoformat(), day(4).isoformat()],
        },
    )
    bars = daily_bars("AAA", [10.0] * 7, volumes={4: 0.0})
    result = Backtest(config(StrategySpec("gtc", RECORDER, 10_000.0)), [strategy]).run(
        BarFeed.from_bars(bars)
    )
    assert [(o.order.action, o.order.quantity) for o in result.orders] == [
        (OrderSide.BUY, 10),
        (OrderSide.SELL, 10),
    ]
    assert result.final_positions == {}
    second_exit = result.decisions[-1]
    assert second_exit.outcome is DecisionOutcome.NO_ORDER
    assert second_exit.sizing == (
        "EXIT AAA: nothing to close (holding 10, working gtc:gtc-2 may still sell 10)"
    )


def test_load_bars_is_the_feed_of_the_same_bars(tmp_path: Path) -> None:
    """Bars loaded from the store (symbols asked in any order, over different spans) make the
    feed that sorting the same bars by time, then symbol, makes."""
    store = ParquetStore(tmp_path)
    written = [
        *daily_bars("MSFT", [10.0, 11.0, 12.0, 13.0], first=2),
        *daily_bars("AAPL", [20.0, 21.0, 22.0]),
        *daily_bars("IBM", [30.0, 31.0, 32.0, 33.0, 34.0], first=1),
    ]
    for symbol in ("MSFT", "AAPL", "IBM"):
        store.write_bars(symbol, [bar for bar in written if bar.symbol == symbol])
    loaded = load_bars(store, day(0), day(10), symbols=["MSFT", "IBM", "AAPL"])
    assert loaded == BarFeed.from_bars(written)
    assert loaded.symbols[:4] == ["AAPL", "AAPL", "IBM", "AAPL"]
    assert load_bars(store, day(0), day(10)) == loaded


def test_what_the_replay_kept_leaves_the_young_generation_without_a_collection() -> None:
    """After the replay its result is in the oldest generation, so the collector's next young
    pass does not walk it; nothing is left frozen, and a heap the caller froze stays frozen."""
    feed = BarFeed.from_bars(daily_bars("AAA", [10.0 + i % 7 for i in range(3_000)]))
    spec = StrategySpec("p", RECORDER, 10_000.0)
    gc.unfreeze()  # whatever an earlier test in this process left frozen
    gc.disable()  # no young pass in this test may move the result on its own
    try:
        result = Backtest(
            config(spec), [RecordingStrategy(name="p", allocated_capital=10_000.0)]
        ).run(feed)
        assert gc.get_freeze_count() == 0
        kept = {id(result), id(result.equity), id(result.equity.equity), id(result.equity.cash)}
        assert not kept & {id(thing) for thing in gc.get_objects(generation=0)}
        assert kept <= {id(thing) for thing in gc.get_objects(generation=2)}
        gc.freeze()
        Backtest(config(spec), [RecordingStrategy(name="p", allocated_capital=10_000.0)]).run(feed)
        assert gc.get_freeze_count() > 0  # not thawed by the replay
    finally:
        gc.unfreeze()
        gc.enable()
