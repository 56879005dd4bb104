"""Strategy and trading-layer throughput on synthetic bars.

    uv run python benchmarks/strategies.py [--bars 100000] [--repeat 3]

Main figure: sma_cross(10, 30) ``on_event`` over 100,000 pre-built daily PRICE_BAR events in whole
cents (decisions filled back as FILL events, as a backtest would), against a baseline loop over the
same events that only keeps the two float running sums: the ratio is what the framework costs on top
of the arithmetic.
Also: value_momentum on the same bars (the full pipeline runs on every bar), and the per-decision
cost of sizing + risk gate + position book. Best of ``--repeat`` runs; events are built outside
the timed sections. Also sma_cross on the walk's unrounded floats: prices that are not decimals of
up to 8 places take the exact averages' binary path (see ``ibbot.strategies.rolling``).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from ibbot.models import Action, Event, EventType, Fill, FundamentalData, OrderSide, PriceBar
from ibbot.strategies.sma_cross import SmaCrossStrategy
from ibbot.strategies.value_momentum import ValueMomentumStrategy
from ibbot.trading import PositionBook, RiskGate, RiskLimits, size_decision

T0 = datetime(1990, 1, 2, 21, 0, tzinfo=UTC)
FAST, SLOW = 10, 30


def synthetic_bars(n: int, seed: int = 7, *, cents: bool = True) -> list[Event]:
    """A seeded random walk of daily bars for one symbol, in whole cents as IB reports them
    (``cents=False``: the walk's raw floats, which the exact averages handle on a slower path)."""
    rng = random.Random(seed)
    walk, events = 100.0, []
    for i in range(n):
        walk *= math.exp(rng.gauss(0.0002, 0.012))
        price = round(walk, 2) if cents else walk
        ts = T0 + timedelta(days=i)
        high, low = price * 1.005, price * 0.995
        if cents:
            high, low = round(high, 2), round(low, 2)
        bar = PriceBar("SYN", ts, price, high, low, price, 1_000_000 + (i % 7) * 1_000)
        events.append(Event(EventType.PRICE_BAR, "SYN", ts, bar, ingested_at=ts))
    return events


def baseline(events: list[Event]) -> int:
    """Only the two running sums and the crossing test: the least any SMA crossover can do."""
    fast_window: deque[float] = deque()
    slow_window: deque[float] = deque()
    fast_sum = slow_sum = 0.0
    last_side = 0
    crossings = 0
    for event in events:
        close = event.payload.close  # type: ignore[union-attr]
        fast_window.append(close)
        slow_window.append(close)
        fast_sum += close
        slow_sum += close
        if len(fast_window) > FAST:
            fast_sum -= fast_window.popleft()
        if len(slow_window) > SLOW:
            slow_sum -= slow_window.popleft()
        if len(slow_window) == SLOW:
            side = (fast_sum / FAST > slow_sum / SLOW) - (fast_sum / FAST < slow_sum / SLOW)
            if side and side != last_side:
                crossings += last_side != 0
                last_side = side
    return crossings


def run_strategy(strategy: SmaCrossStrategy | ValueMomentumStrategy, events: list[Event]) -> int:
    """Feed every event; fill each decision in full at its price, as a backtest would."""
    decisions = 0
    for event in events:
        for decision in strategy.on_event(event):
            decisions += 1
            held = strategy.position_quantity(decision.symbol)
            side = OrderSide.SELL if decision.action is Action.EXIT else OrderSide.BUY
            quantity = held if decision.action is Action.EXIT else 100
            assert decision.price is not None
            fill = Fill(
                decision.decision_id,
                0,
                0,
                decision.symbol,
                side,
                quantity,
                decision.price,
                decision.timestamp,
                strategy_name=strategy.name,
            )
            strategy.on_event(
                Event(
                    EventType.FILL,
                    decision.symbol,
                    decision.timestamp,
                    fill,
                    ingested_at=decision.timestamp,
                )
            )
    return decisions


def best_of(repeat: int, fn, *args) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def trading_per_decision(events: list[Event], repeat: int) -> tuple[float, int]:
    """Size, risk-check and book every sma_cross decision of the run."""
    strategy = SmaCrossStrategy(
        name="sma", allocated_capital=100_000, params={"fast": FAST, "slow": SLOW}
    )
    decisions = [d for e in events for d in strategy.on_event(e)]

    def trade() -> int:
        book = PositionBook()
        gate = RiskGate(RiskLimits(), monotonic=time.monotonic, account="DU0000000")
        orders = 0
        for i, decision in enumerate(decisions):
            held = book.quantity("sma", decision.symbol)
            sized = size_decision(decision, allocated_capital=100_000, position_quantity=held)
            if sized.order is None:
                continue
            verdict = gate.check(
                sized.order,
                price=sized.price,
                allocated_capital=100_000,
                position_quantity=held,
                daily_pnl=book.daily_realized_pnl("sma", decision.timestamp),
                open_orders=0,
            )
            if verdict.allowed:
                orders += 1
                assert decision.price is not None
                book.apply_fill(
                    Fill(
                        f"x{i}",
                        i,
                        i,
                        decision.symbol,
                        sized.order.action,
                        sized.order.quantity,
                        decision.price,
                        decision.timestamp,
                        commission=1.0,
                        strategy_name="sma",
                    )
                )
        return orders

    seconds, _ = best_of(repeat, trade)
    return seconds, len(decisions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = synthetic_bars(args.bars)

    base_s, crossings = best_of(args.repeat, baseline, events)

    def sma() -> int:
        strategy = SmaCrossStrategy(
            name="sma", allocated_capital=100_000, params={"fast": FAST, "slow": SLOW}
        )
        return run_strategy(strategy, events)

    sma_s, sma_decisions = best_of(args.repeat, sma)
    raw_events = synthetic_bars(args.bars, cents=False)

    def sma_raw() -> int:
        strategy = SmaCrossStrategy(
            name="sma", allocated_capital=100_000, params={"fast": FAST, "slow": SLOW}
        )
        return run_strategy(strategy, raw_events)

    raw_s, _ = best_of(args.repeat, sma_raw)

    fundamentals = FundamentalData(
        "SYN", T0, "SYNTHETIC", shares_outstanding=1e9, eps=10.0, values={"QBVPS": 60.0}
    )
    vm_events = [
        Event(EventType.FUNDAMENTAL_DATA, "SYN", T0, fundamentals, ingested_at=T0),
        *events,
    ]

    def value_momentum() -> int:
        strategy = ValueMomentumStrategy(
            name="vm", allocated_capital=100_000, params={"max_pe": 1e9, "max_price_to_book": 1e9}
        )
        return run_strategy(strategy, vm_events)

    vm_s, vm_decisions = best_of(args.repeat, value_momentum)
    trade_s, trade_decisions = trading_per_decision(events, args.repeat)

    n = len(events)
    print(f"bars: {n:,} daily bars, 1 symbol, best of {args.repeat}")
    print(
        f"baseline (two running sums only): {n / base_s:>12,.0f} bars/s  "
        f"{base_s / n * 1e9:7.0f} ns/bar  ({crossings} crossings)"
    )
    print(
        f"sma_cross({FAST},{SLOW}) on_event:        {n / sma_s:>12,.0f} bars/s  "
        f"{sma_s / n * 1e9:7.0f} ns/bar  ({sma_decisions} decisions)"
    )
    agreement = "agree" if sma_decisions == crossings else "DISAGREE"
    print(
        f"  ratio sma_cross / baseline time: {sma_s / base_s:.2f}x "
        f"(decisions and baseline crossings {agreement})"
    )
    print(
        f"  on unrounded prices (exact binary sums): {n / raw_s:>9,.0f} bars/s  "
        f"{raw_s / n * 1e9:7.0f} ns/bar"
    )
    print(
        f"value_momentum on_event:         {n / vm_s:>12,.0f} bars/s  "
        f"{vm_s / n * 1e9:7.0f} ns/bar  ({vm_decisions} decisions, full pipeline every bar)"
    )
    print(f"  ratio value_momentum / baseline time: {vm_s / base_s:.2f}x")
    print(
        f"sizing + risk gate + position book: {trade_s / trade_decisions * 1e6:.2f} us/decision "
        f"({trade_decisions} decisions)"
    )


if __name__ == "__main__":
    main()
