"""How fast the simulated market serves requests and the exchange matches bars.

Run: ``uv run python benchmarks/sim_market.py``. Prints wall times (best of several runs) and, for each,
a baseline measured in the same run, as a ratio:

* historical requests (1 year of daily bars, 5 days of 1-minute bars, 1 day of 5-second bars, quotes)
  served by a fresh ``MarketSimulator`` (cold: nothing cached) and again (warm), against the cost of
  building the same number of ``SimBar`` objects from ready tuples (the floor of any implementation);
* ``Exchange.on_bar`` over 100,000 bars with no orders, with a resting limit order that never fills,
  and with a market order placed every 20 bars, against a loop that does nothing but call a function
  per bar.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ibbot.exchange import Exchange, OrderRequest, SimBar
from ibbot.models import BarSize, OrderSide, OrderType, TimeInForce
from ibbot.sim import pricepath
from ibbot.sim.market import MarketSimulator
from ibbot.sim.universe import DEFAULT_UNIVERSE

if TYPE_CHECKING:
    from collections.abc import Callable

END = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
REPEATS = 5


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bar_floor(count: int) -> float:
    """Seconds to build ``count`` SimBars from ready numbers: what serving costs at the very least."""
    rows = [
        (1_700_000_000 + 60 * i, 100.0, 101.0, 99.0, 100.5, 1000, 100.2, 10) for i in range(count)
    ]

    def build() -> None:
        for ts, o, h, lo, c, v, w, n in rows:
            SimBar(datetime.fromtimestamp(ts, UTC), o, h, lo, c, v, w, n)

    return best_of(build)


def market_requests() -> None:
    cases: list[tuple[str, Callable[[MarketSimulator], object]]] = [
        (
            "1 Y of 1 day bars",
            lambda m: m.historical_bars("AAPL", end=END, duration="1 Y", bar_size=BarSize.DAY_1),
        ),
        (
            "5 D of 1 min bars",
            lambda m: m.historical_bars("AAPL", end=END, duration="5 D", bar_size=BarSize.MIN_1),
        ),
        (
            "1 D of 5 secs bars",
            lambda m: m.historical_bars("AAPL", end=END, duration="1 D", bar_size=BarSize.SEC_5),
        ),
        (
            "2000 S of 1 secs bars",
            lambda m: m.historical_bars("AAPL", end=END, duration="2000 S", bar_size=BarSize.SEC_1),
        ),
        (
            "1 Y of 1 day bars, use_rth=False",
            lambda m: m.historical_bars(
                "AAPL", end=END, duration="1 Y", bar_size=BarSize.DAY_1, use_rth=False
            ),
        ),
    ]
    pricepath.Draws(1, 1).normals(1)  # build the draw tables once, as any long-running process has
    print(f"MarketSimulator requests (best of {REPEATS}; cold = fresh simulator)")
    print(
        f"  {'request':34} {'bars':>6} {'cold ms':>9} {'warm ms':>9} {'floor ms':>9} {'cold/floor':>10}"
    )
    for name, request in cases:
        count = len(request(MarketSimulator(DEFAULT_UNIVERSE)))  # type: ignore[arg-type]
        cold = best_of(lambda r=request: r(MarketSimulator(DEFAULT_UNIVERSE)))
        warm_market = MarketSimulator(DEFAULT_UNIVERSE)
        request(warm_market)
        warm = best_of(lambda r=request, m=warm_market: r(m))
        floor = bar_floor(count)
        print(
            f"  {name:34} {count:>6} {cold * 1e3:>9.2f} {warm * 1e3:>9.2f} "
            f"{floor * 1e3:>9.2f} {cold / floor:>9.1f}x"
        )
    market = MarketSimulator(DEFAULT_UNIVERSE)
    times = [END - timedelta(hours=3) + timedelta(seconds=0.25 * k) for k in range(4_000)]
    quotes = best_of(lambda: [market.quote("AAPL", t) for t in times], repeats=3)
    print(f"  quotes: {len(times) / quotes:,.0f} per second (one symbol, 250 ms apart, first pass)")


def synthetic_bars(count: int) -> list[SimBar]:
    rng = random.Random(7)
    price = 100.0
    start = datetime(2000, 1, 3, 14, 30, tzinfo=UTC)
    bars: list[SimBar] = []
    for i in range(count):
        o = price
        c = max(1.0, o * (1 + rng.gauss(0, 0.015)))
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.005)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, 0.005)))
        bars.append(SimBar(start + timedelta(days=i), o, h, lo, c, 1_000_000, (o + c) / 2, 5_000))
        price = c
    return bars


def order(
    order_id: int, action: OrderSide, order_type: OrderType, limit: float | None = None
) -> OrderRequest:
    return OrderRequest(
        1, order_id, "SYN", action, 100, order_type, limit, None, TimeInForce.GTC, "bench:1", "DU1"
    )


def exchange_matching() -> None:
    bars = synthetic_bars(100_000)
    sink: dict[str, float] = {}

    def baseline() -> None:
        def consume(symbol: str, b: SimBar) -> None:
            sink[symbol] = b.close

        for b in bars:
            consume("SYN", b)

    def idle() -> None:
        ex = Exchange()
        for b in bars:
            ex.on_bar("SYN", b)

    def resting() -> None:
        ex = Exchange()
        ex.submit(
            order(1, OrderSide.BUY, OrderType.LIMIT, 0.01), bars[0].time, None, market_open=True
        )
        for b in bars:
            ex.on_bar("SYN", b)

    def trading() -> None:
        ex = Exchange(starting_cash=1e12)
        side = OrderSide.BUY
        for i, b in enumerate(bars):
            ex.on_bar("SYN", b)
            if i % 20 == 0:
                ex.submit(order(i + 1, side, OrderType.MARKET), b.time, None, market_open=True)
                side = OrderSide.SELL if side is OrderSide.BUY else OrderSide.BUY

    base = best_of(baseline, repeats=3)
    print(f"\nExchange.on_bar over {len(bars):,} bars (best of 3)")
    print(f"  {'case':44} {'bars/s':>12} {'vs baseline':>12}")
    print(f"  {'baseline: a function call per bar':44} {len(bars) / base:>12,.0f} {1.0:>11.1f}x")
    for name, fn in (
        ("no orders (mark update only)", idle),
        ("one resting limit order, never filled", resting),
        ("a market order every 20 bars (5,000 fills)", trading),
    ):
        took = best_of(fn, repeats=3)
        print(f"  {name:44} {len(bars) / took:>12,.0f} {took / base:>11.1f}x")


if __name__ == "__main__":
    market_requests()
    exchange_matching()
