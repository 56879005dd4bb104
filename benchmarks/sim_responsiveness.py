"""Does the simulated gateway keep answering while it serves the largest history request it allows?

Run: ``uv run python benchmarks/sim_responsiveness.py [--requests N] [--probes N]``. Gateway and
clients share one event loop (as with ``uv run ibbot``); pacing and the message-rate limit are off so
the figures measure the code, not IB's rules. Every client is a raw socket client, so the clients'
own decoding costs next to nothing.

* **Load**: one client asks, N times in a row and each for another symbol (nothing cached), for the
  costliest history the gateway serves: a year of extended-hours hourly bars (about 4,000 bars, each
  aggregated from minutes; 68 years of daily bars cost about the same). It reads the answers and
  discards them.
* **Probes**, back to back while a load request is in flight: a second TWS client's
  ``reqCurrentTime`` round trip, and ``GET /truth`` on the control port (a fresh HTTP connection
  each). p50, p99 and max latency, against the same probes with nothing else running (the baseline,
  same run), as a ratio. Target: every probe answered within 100 ms while the load is served.
* **Event loop lag**: how late a 1 ms timer fires, loaded and idle: the longest the loop was blocked.
* Requests beyond IB's limits (the attacks that froze the gateway for seconds) and how fast they are
  refused.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import struct
import time
from datetime import UTC, datetime

import structlog

from ibbot.sim.config import SimConfig
from ibbot.sim.gateway import SimulatedGateway
from ibbot.sim.universe import DEFAULT_UNIVERSE
from ibbot.sim.wire import encode_frame, split_fields

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 US/Eastern
CONFIG = SimConfig(port=0, control_port=0, start=START, max_messages_per_second=0, pacing=False)
TARGET_MS = 100.0
MAXIMAL = ("1 hour", "1 Y")
TIMER = 0.001
ATTACKS = (("1 min", "6 M"), ("1 min", "1 Y"), ("1 min", "68 Y"))
_LENGTH = struct.Struct(">I")


class Raw:
    """A bare TWS client: frames are read by their length prefix, split into fields on demand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, client_id: int) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        raw = cls(reader, writer)
        versions = b"v157..178"
        writer.write(b"API\0" + _LENGTH.pack(len(versions)) + versions)
        await raw.frame()
        writer.write(encode_frame(["71", "2", str(client_id), ""]))
        while (await raw.frame())[:2] != b"9\0":  # nextValidId: the API session has started
            pass
        return raw

    async def frame(self) -> bytes:
        (length,) = _LENGTH.unpack(await self.reader.readexactly(_LENGTH.size))
        return await self.reader.readexactly(length)

    async def frame_starting(self, prefix: bytes) -> bytes:
        while not (payload := await self.frame()).startswith(prefix):
            pass
        return payload

    def close(self) -> None:
        self.writer.close()


def history(req_id: int, symbol: str, bar_size: str, duration: str) -> bytes:
    security = DEFAULT_UNIVERSE[symbol]
    contract = [security.con_id, symbol, "STK", "", "0", "", "", "SMART", "", "USD", "", ""]
    return encode_frame(
        ["20", req_id, *contract, "0", "", bar_size, duration, "0", "TRADES", "1", "0", ""]
    )


async def tws_probe(client: Raw) -> float:
    started = time.perf_counter()
    client.writer.write(encode_frame(["49", "1"]))
    await client.frame_starting(b"49\0")
    return time.perf_counter() - started


async def control_probe(port: int) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /truth HTTP/1.1\r\nHost: sim\r\n\r\n")
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    assert response.startswith(b"HTTP/1.1 200"), response[:80]
    return time.perf_counter() - started


async def lag_monitor(samples: list[float]) -> None:
    """Record how late a 1 ms timer fires, until cancelled."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(TIMER)
        samples.append(max(0.0, time.perf_counter() - started - TIMER))


async def load(client: Raw, symbols: list[str], busy: asyncio.Event) -> list[tuple[int, float]]:
    """Serve the maximal request once per symbol, in turn; (bars, seconds) for each."""
    done: list[tuple[int, float]] = []
    busy.set()
    for k, symbol in enumerate(symbols):
        started = time.perf_counter()
        client.writer.write(history(100 + k, symbol, *MAXIMAL))
        payload = await client.frame_starting(b"17\0")
        count = payload.split(b"\0", 5)[4]  # 17, reqId, start, end, count: no need to split it all
        done.append((int(count), time.perf_counter() - started))
    busy.clear()
    return done


async def measure(requests: int, probes: int) -> None:
    async with SimulatedGateway(CONFIG) as gw:
        assert gw.control_port is not None
        prober = await Raw.connect(gw.port, client_id=2)
        loader = await Raw.connect(gw.port, client_id=1)
        base_lag: list[float] = []
        monitor = asyncio.create_task(lag_monitor(base_lag))
        base_tws = [await tws_probe(prober) for _ in range(probes)]
        base_ctl = [await control_probe(gw.control_port) for _ in range(probes)]
        monitor.cancel()

        symbols = list(DEFAULT_UNIVERSE)[:requests]
        busy = asyncio.Event()
        served = asyncio.create_task(load(loader, symbols, busy))
        await busy.wait()
        loaded_lag: list[float] = []
        monitor = asyncio.create_task(lag_monitor(loaded_lag))
        loaded_tws: list[float] = []
        loaded_ctl: list[float] = []
        while not served.done():
            loaded_tws.append(await tws_probe(prober))
            loaded_ctl.append(await control_probe(gw.control_port))
        answers = await served
        monitor.cancel()

        refusals: list[tuple[str, float, str]] = []
        for k, (bar_size, duration) in enumerate(ATTACKS):
            started = time.perf_counter()
            loader.writer.write(history(200 + k, "KO", bar_size, duration))
            error = split_fields(await loader.frame_starting(b"4\0"))
            refusals.append((f"{duration} of {bar_size}", time.perf_counter() - started, error[4]))
        prober.close()
        loader.close()

    probes_seen = {
        "second TWS client, reqCurrentTime": (loaded_tws, base_tws),
        "control port, GET /truth": (loaded_ctl, base_ctl),
    }
    report(probes_seen, (loaded_lag, base_lag), answers, refusals)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(
    probes: dict[str, tuple[list[float], list[float]]],
    lag: tuple[list[float], list[float]],
    answers: list[tuple[int, float]],
    refusals: list[tuple[str, float, str]],
) -> None:
    ms = 1000.0
    bars = sum(n for n, _ in answers)
    busy = sum(t for _, t in answers)
    print(
        f"load: {len(answers)} x '{MAXIMAL[1]}' of '{MAXIMAL[0]}' bars, extended hours: "
        f"{bars:,} bars in {busy:.2f} s ({', '.join(f'{t:.2f} s' for _, t in answers)})"
    )
    print(f"{'latency (ms)':<44}{'loaded':>10}{'baseline':>10}{'ratio':>9}")
    rows = [*probes.items(), ("event loop lag, 1 ms timer", lag)]
    for name, (loaded, base) in rows:
        for label, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            value, floor = percentile(loaded, q) * ms, percentile(base, q) * ms
            ratio = f"{value / floor:>8.1f}x" if floor > 0 else f"{'-':>9}"
            print(f"{name + ', ' + label:<44}{value:>10.2f}{floor:>10.2f}{ratio}")
        print(f"{'  samples while loaded / baseline':<44}{len(loaded):>10}{len(base):>10}")
    worst = max(max(loaded) for loaded, _ in probes.values()) * ms
    verdict = "met" if worst < TARGET_MS else "NOT met"
    print(
        f"target: every probe under {TARGET_MS:.0f} ms while loaded: {verdict} (worst {worst:.1f} ms)"
    )
    for name, took, text in refusals:
        print(f"refused at once: {name:<16} in {took * ms:7.2f} ms ({text})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3, help="maximal requests in a row")
    parser.add_argument("--probes", type=int, default=200, help="baseline probes of each kind")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(measure(args.requests, args.probes))


if __name__ == "__main__":
    main()
