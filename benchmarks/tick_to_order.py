"""Tick to order: from a price reaching ibbot to ibbot's order reaching the gateway, p50/p99.

Run: ``uv run python -m benchmarks.tick_to_order [--seconds S] [--every N]`` (30 s and every 3rd
new price by default: about 400 orders each side).

A TCP proxy between client and simulated gateway stamps every frame as it passes: each last-price
tick (TWS message 1, tick type 4) going to the client and each ``placeOrder`` (message 3) coming
back. Gateway and proxy run in a child process with their own event loop, as a real gateway would
(the stamps use the system-wide monotonic clock, ``perf_counter_ns``, the same in both processes),
so the client's loop serves only the client. A strategy trades on every Nth tick it is handed (BUY 1
share when flat, EXIT when long); its order's ``orderRef`` names the decision, the decision the
tick's price, and the latency is from the proxy seeing that price's tick to it seeing the order.
So the figure covers ib_async decoding the tick, the collector publishing it, the bus, the
strategy, the trading layer (sizing, risk gate, audit-ahead of the order) and ib_async encoding
the order: all of ibbot's side of the wire, with the socket hops on loopback.

The baseline, in the same run and through the same proxy: a bare ib_async client that calls
``placeOrder`` straight from its ticker callback on every Nth new last price (the floor of any
client). Both count only ticks that bring a new last price, so the tick that triggers an order is
the one whose price the order's decision carries.
Logging is at WARNING in both (a console at INFO would measure the terminal). Both sides run on
the event loop ``ibbot run`` uses (:func:`ibbot.eventloop.run_async`: uvloop where installed).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from ib_async import IB, MarketOrder, Stock

from ibbot.app import Orchestrator
from ibbot.clock import ScaledClock
from ibbot.eventloop import run_async
from ibbot.models import Action, Decision, Event, EventType, Fill, Position, Tick
from ibbot.settings import Settings
from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway
from ibbot.sim.wire import FrameDecoder, ProtocolError, split_fields

START = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 US/Eastern, market open
SCALE = 60.0  # the gateway then sends ~50 quote updates a second (its wall-clock cap)
SYMBOL = "AAPL"
TICK_PRICE = "1"  # TWS incoming message id
LAST = "4"  # tick type: last trade price
PLACE_ORDER = "3"  # TWS outgoing message id
TARGET_P99_MS = 5.0
TARGET_P99_RATIO = 1.5  # of the bare client's p99 in the same run
REPO = Path(__file__).resolve().parents[1]


class TickStamps:
    """What the proxy saw: when each last price arrived, when each orderRef left."""

    def __init__(self) -> None:
        self.last_price_at: dict[float, list[int]] = {}
        self.order_at: dict[str, int] = {}

    def server_frame(self, fields: list[str], at: int) -> None:
        if fields[0] == TICK_PRICE and len(fields) > 4 and fields[3] == LAST:
            self.last_price_at.setdefault(round(float(fields[4]), 6), []).append(at)

    def client_frame(self, fields: list[str], at: int) -> None:
        if fields[0] == PLACE_ORDER:
            for field in fields:
                if ":" in field and field.split(":", 1)[0] in ("bench", "baseline"):
                    self.order_at[field] = at
                    return


class Proxy:
    """A loopback TCP proxy that decodes the TWS framing on both directions and stamps frames."""

    def __init__(self, target_port: int, stamps: TickStamps) -> None:
        self._target = target_port
        self._stamps = stamps
        self._server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        pumps = [
            asyncio.ensure_future(
                self._pump(reader, up_writer, self._stamps.client_frame, handshake=True)
            ),
            asyncio.ensure_future(
                self._pump(up_reader, writer, self._stamps.server_frame, handshake=False)
            ),
        ]
        try:
            # Either side hanging up ends the pair: a pump left running would go on writing the
            # gateway's stream into a closed socket (asyncio's "socket.send() raised exception").
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            writer.close()
            up_writer.close()

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stamp: Any,
        *,
        handshake: bool,
    ) -> None:
        decoder = FrameDecoder()
        try:
            if handshake:  # "API\0", then the supported versions as a frame without a NUL
                prefix = await reader.readexactly(8)
                writer.write(prefix + await reader.readexactly(int.from_bytes(prefix[4:], "big")))
            while not writer.is_closing():
                data = await reader.read(65_536)
                if not data:
                    return
                at = time.perf_counter_ns()
                for frame in decoder.feed(data):
                    try:
                        fields = split_fields(frame)
                    except ProtocolError:  # the server's version reply
                        continue
                    stamp(fields, at)
                writer.write(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            return


class EveryNthTick:
    """Trades on every Nth new last price of its symbol: BUY 1 when flat, EXIT when long."""

    def __init__(
        self, *, name: str, allocated_capital: float, params: dict[str, Any] | None = None
    ) -> None:
        self.name = name
        self.allocated_capital = allocated_capital
        self.subscriptions = [EventType.TICK.value, EventType.FILL.value]
        self.every = int((params or {}).get("every", 5))
        self.prices: dict[str, float] = {}
        self._ticks = 0
        self._last: float | None = None
        self._held = Position(SYMBOL, 0.0, 0.0)
        self._working = False

    def on_event(self, event: Event) -> list[Decision]:
        payload = event.payload
        if isinstance(payload, Fill):
            if payload.strategy_name == self.name:
                self._held, _ = self._held.apply_fill(payload.signed_quantity, payload.price)
                self._working = False
            return []
        if not isinstance(payload, Tick) or payload.last is None or event.source == "history":
            return []
        if payload.last == self._last:  # a quote update: no new trade price
            return []
        self._last = payload.last
        self._ticks += 1
        if self._ticks % self.every or self._working:
            return []
        self._working = True
        decision_id = f"t{self._ticks:06d}"
        self.prices[f"{self.name}:{decision_id}"] = round(payload.last, 6)
        action = Action.EXIT if self._held.quantity > 0 else Action.BUY
        return [
            Decision(
                SYMBOL,
                action,
                0.0,
                1.0,
                f"tick {self._ticks}",
                strategy_name=self.name,
                decision_id=decision_id,
                timestamp=event.timestamp,
                quantity=1 if action is Action.BUY else None,
                price=payload.last,
            )
        ]

    def get_positions(self) -> dict[str, Position]:
        return {} if self._held.is_flat else {SYMBOL: self._held}

    def get_state(self) -> dict[str, Any]:
        return {"ticks": self._ticks}

    def load_state(self, state: dict[str, Any]) -> None:
        self._ticks = int(state["ticks"])


def latencies(stamps: TickStamps, prices: dict[str, float]) -> list[float]:
    """Milliseconds from the tick carrying each order's price to the order."""
    found = []
    for ref, ordered_at in stamps.order_at.items():
        price = prices.get(ref)
        arrivals = stamps.last_price_at.get(price, []) if price is not None else []
        before = bisect.bisect_right(arrivals, ordered_at)
        if before:  # the latest tick of that price that came before the order
            found.append((ordered_at - arrivals[before - 1]) / 1e6)
    return found


async def baseline(port: int, seconds: float, every: int) -> dict[str, float]:
    """A bare ib_async client through the proxy; returns each order's tick price by orderRef."""
    prices: dict[str, float] = {}
    ib = IB()
    ib.client.MaxRequests = 0
    await ib.connectAsync("127.0.0.1", port, clientId=21, timeout=10)
    contract = Stock(SYMBOL, "SMART", "USD")
    await ib.qualifyContractsAsync(contract)
    ticker = ib.reqMktData(contract)
    count = 0
    held = 0
    last = float("nan")

    def on_tickers(_: object) -> None:
        nonlocal count, held, last
        if ticker.last != ticker.last or ticker.last == last:  # none yet, or a quote update
            return
        last = ticker.last
        count += 1
        if count % every:
            return
        order = MarketOrder("SELL" if held else "BUY", 1)
        order.orderRef = f"baseline:t{count:06d}"
        prices[order.orderRef] = round(ticker.last, 6)
        ib.placeOrder(contract, order)
        held = 0 if held else 1

    ib.pendingTickersEvent += on_tickers
    await asyncio.sleep(seconds)
    ib.pendingTickersEvent -= on_tickers
    ib.disconnect()
    return prices


async def ibbot(
    port: int, market_time: datetime, seconds: float, every: int, root: Path
) -> dict[str, float]:
    """ibbot's main job through the proxy; returns each order's tick price by orderRef."""
    settings = Settings(
        ib={"simulate": False, "port": port, "client_id": 22},
        store={"path": root / "data"},
        collector={"watchlist": [SYMBOL], "history_duration": "1 D", "report_types": []},
        fundamentals={"sources": ["ib"]},
        risk={"kill_switch_file": root / "KILL_SWITCH", "max_open_orders": 100},
        app={
            "control_port": None,
            "summary_interval": 3600.0,
            "strategy_packages": ["benchmarks"],
        },
        logging={"level": "WARNING"},
        strategies=[
            {
                "name": "bench",
                "class_path": "benchmarks.tick_to_order.EveryNthTick",
                "allocated_capital": 100_000.0,
                "params": {"every": every},
            }
        ],
    )
    clock = ScaledClock(market_time, SCALE)
    orchestrator = Orchestrator(settings, market_clock=clock)
    run = asyncio.ensure_future(orchestrator.run(handle_signals=False))
    started = asyncio.ensure_future(orchestrator.started.wait())
    await asyncio.wait([run, started], return_when=asyncio.FIRST_COMPLETED)
    if not started.done():  # the run ended before the live feed opened: say why
        started.cancel()
        await run
        raise RuntimeError("ibbot stopped before its live feed opened")
    await asyncio.sleep(seconds)
    # loaded by class path from benchmarks.tick_to_order, not a __main__ module
    prices: dict[str, float] = orchestrator.strategies["bench"].strategy.prices  # type: ignore[attr-defined]
    orchestrator.stop()
    await run
    return prices


def report(name: str, samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p90 = ordered[min(len(ordered) - 1, int(0.90 * len(ordered)))]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(
        f"  {name:<42} {len(ordered):>5} orders   p50 {p50:6.3f} ms   p90 {p90:6.3f} ms   "
        f"p99 {p99:6.3f} ms"
    )
    return p50, p99


async def serve() -> None:
    """The child process: gateway and proxy; prints the proxy's port and the market time, then,
    when stdin closes, the stamps as JSON."""
    config = SimConfig(
        port=0, control_port=None, start=START, time_scale=SCALE, max_messages_per_second=0
    )
    stamps = TickStamps()
    async with SimulatedGateway(config) as gateway, Proxy(gateway.port, stamps) as proxy:
        print(json.dumps({"port": proxy.port, "time": gateway.clock.now().isoformat()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(json.dumps({"prices": stamps.last_price_at, "orders": stamps.order_at}), flush=True)


async def main(seconds: float, every: int) -> None:
    quiet()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.tick_to_order",
        "--serve",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO,
        limit=64 * 1024 * 1024,  # the stamps come back as one JSON line
    )
    assert child.stdin is not None
    assert child.stdout is not None
    ready = json.loads(await child.stdout.readline())
    port, market_time = ready["port"], datetime.fromisoformat(ready["time"])
    base_prices = await baseline(port, seconds, every)
    with tempfile.TemporaryDirectory(prefix="ibbot-tick-bench-") as tmp:
        market_time = market_time + timedelta(seconds=(seconds + 1) * SCALE)
        our_prices = await ibbot(port, market_time, seconds, every, Path(tmp))
    child.stdin.close()
    dump = json.loads(await child.stdout.readline())
    await child.wait()
    stamps = TickStamps()
    stamps.last_price_at = {float(k): v for k, v in dump["prices"].items()}
    stamps.order_at = dump["orders"]
    print(f"tick to order, an order every {every} new last prices of {SYMBOL}, {seconds:g} s each:")
    base_p50, base_p99 = report(
        "baseline (placeOrder in the callback)", latencies(stamps, base_prices)
    )
    p50, p99 = report("ibbot (collector, bus, strategy, trading)", latencies(stamps, our_prices))
    print(
        f"  ratio ibbot/baseline: p50 {p50 / base_p50:.1f}x, p99 {p99 / base_p99:.1f}x; targets: "
        f"p99 < {TARGET_P99_MS:g} ms {'met' if p99 < TARGET_P99_MS else 'NOT met'}, "
        f"p99 <= {TARGET_P99_RATIO:g}x baseline "
        f"{'met' if p99 <= TARGET_P99_RATIO * base_p99 else 'NOT met'}"
    )


def quiet() -> None:
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("ib_async").setLevel(logging.ERROR)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="run length of each side")
    parser.add_argument("--every", type=int, default=3, help="trade on every Nth new price")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        quiet()
        run_async(serve())
    else:
        run_async(main(options.seconds, options.every))
