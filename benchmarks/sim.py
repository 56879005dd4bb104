"""How fast the simulated gateway answers over a real loopback socket, against baselines of the same run.

Run: ``uv run python benchmarks/sim.py [--orders N] [--requests N]``. Gateway and client share one
event loop (as with ``uv run ibbot``); ib_async's own 45 msg/s throttle and the gateway's message-rate
and pacing rules are switched off so the figures measure the code, not the rules.

* **Order round trip**: ``placeOrder`` of a market order to its ``Filled`` status at an unmodified
  ib_async client (openOrder, orderStatus, execDetails, commissionReport and account updates all flow),
  p50 and p99 over N orders, against a bare ``reqCurrentTime`` round trip (the floor of any request).
* **Historical bars served per second**: 5 days of 1-minute bars per request, received by a raw socket
  client (the gateway's serving rate) and by ib_async (end to end, bars parsed into ``BarData``),
  against ``MarketSimulator.historical_bars`` called directly (the data with no protocol at all).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import struct
import time
from datetime import UTC, datetime, timedelta

import structlog
from ib_async import IB, MarketOrder, Stock

from ibbot.models import BarSize
from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway
from ibbot.sim.market import MarketSimulator
from ibbot.sim.universe import DEFAULT_UNIVERSE
from ibbot.sim.wire import FrameDecoder, encode_frame, split_fields

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 US/Eastern
AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
CONFIG = SimConfig(port=0, control_port=None, start=START, max_messages_per_second=0, pacing=False)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def client(gw: SimulatedGateway) -> IB:
    ib = IB()
    ib.client.MaxRequests = 0  # measure the gateway, not ib_async's 45 msg/s throttle
    await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=10)
    return ib


async def order_round_trips(count: int) -> tuple[list[float], list[float]]:
    async with SimulatedGateway(CONFIG) as gw:
        ib = await client(gw)
        baseline: list[float] = []
        for _ in range(count):
            started = time.perf_counter()
            await ib.reqCurrentTimeAsync()
            baseline.append(time.perf_counter() - started)
        orders: list[float] = []
        for i in range(count):
            started = time.perf_counter()
            trade = ib.placeOrder(AAPL, MarketOrder("BUY" if i % 2 == 0 else "SELL", 1))
            while not trade.isDone():
                await trade.statusEvent
            orders.append(time.perf_counter() - started)
            assert trade.orderStatus.status == "Filled", trade.orderStatus
        ib.disconnect()
    return baseline, orders


def direct_bars(requests: int) -> tuple[int, float]:
    market = MarketSimulator(DEFAULT_UNIVERSE, seed=CONFIG.seed)
    ends = [START - timedelta(days=7 * k) for k in range(requests)]
    started = time.perf_counter()
    total = 0
    for end in ends:
        total += len(
            market.historical_bars("AAPL", end=end, duration="5 D", bar_size=BarSize.MIN_1)
        )
    return total, time.perf_counter() - started


def _request(req_id: int, end: datetime) -> bytes:
    contract = ["265598", "AAPL", "STK", "", "0", "", "", "SMART", "", "USD", "", ""]
    end_text = end.strftime("%Y%m%d %H:%M:%S UTC")
    return encode_frame(
        ["20", str(req_id), *contract, "0", end_text, "1 min", "5 D", "1", "TRADES", "1", "0", ""]
    )


async def raw_bars(requests: int) -> tuple[int, float]:
    async with SimulatedGateway(CONFIG) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        versions = b"v157..178"
        writer.write(b"API\0" + struct.pack(">I", len(versions)) + versions)
        decoder = FrameDecoder()
        started = 0.0
        total = 0
        answered = 0
        sent = False
        while answered < requests:
            data = await reader.read(1 << 20)
            if not data:
                raise ConnectionError("the gateway closed the benchmark connection")
            for payload in decoder.feed(data):
                fields = split_fields(payload)
                if len(fields) == 2 and not sent:
                    writer.write(encode_frame(["71", "2", "1", ""]))
                elif fields[0] == "9" and not sent:
                    started = time.perf_counter()
                    for k in range(requests):
                        writer.write(_request(1000 + k, START - timedelta(days=7 * k)))
                    sent = True
                elif fields[0] == "17":
                    total += int(fields[4])
                    answered += 1
        elapsed = time.perf_counter() - started
        writer.close()
    return total, elapsed


async def ib_async_bars(requests: int) -> tuple[int, float]:
    async with SimulatedGateway(CONFIG) as gw:
        ib = await client(gw)
        started = time.perf_counter()
        total = 0
        for k in range(requests):
            end = START - timedelta(days=7 * k)
            bars = await ib.reqHistoricalDataAsync(AAPL, end, "5 D", "1 min", "TRADES", True)
            total += len(bars)
        elapsed = time.perf_counter() - started
        ib.disconnect()
    return total, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    baseline, orders = asyncio.run(order_round_trips(args.orders))
    direct_total, direct_time = direct_bars(args.requests)
    raw_total, raw_time = asyncio.run(raw_bars(args.requests))
    lib_total, lib_time = asyncio.run(ib_async_bars(args.requests))

    ms = 1000.0
    print(f"{'measure':<52}{'value':>14}{'baseline':>14}{'ratio':>9}")
    for label, q in (("p50", 0.50), ("p99", 0.99)):
        value, base = percentile(orders, q) * ms, percentile(baseline, q) * ms
        print(
            f"{'placeOrder -> Filled at ib_async, ' + label + ' (ms)':<52}"
            f"{value:>14.3f}{base:>14.3f}{value / base:>8.1f}x"
        )
    print(
        f"{'  (baseline: reqCurrentTime round trip; mean order ms)':<52}"
        f"{statistics.fmean(orders) * ms:>14.3f}{statistics.fmean(baseline) * ms:>14.3f}"
        f"{statistics.fmean(orders) / statistics.fmean(baseline):>8.1f}x"
    )
    direct_rate = direct_total / direct_time
    for label, total, elapsed in (
        ("historical bars/s, raw socket client", raw_total, raw_time),
        ("historical bars/s, ib_async client", lib_total, lib_time),
    ):
        rate = total / elapsed
        print(f"{label:<52}{rate:>14,.0f}{direct_rate:>14,.0f}{rate / direct_rate:>8.2f}x")
    print(
        f"{'  (baseline: MarketSimulator.historical_bars direct)':<52}"
        f"{'':>14}{'':>14}{'':>9}\n"
        f"orders: {len(orders)}, historical requests: {args.requests} x ~{raw_total // args.requests} bars"
    )


if __name__ == "__main__":
    main()
