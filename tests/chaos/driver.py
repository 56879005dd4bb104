"""The chaos driver: ibbot run against a simulated gateway, disrupted on a schedule, then checked.

ibbot's orchestrator runs as ``ibbot run`` does, against a :class:`SimulatedGateway` it does not
own (the test's, on its own port), with two strategies: ``flip`` (the long-only ``Flipper``: BUY
10 when flat, EXIT when holding, an order on every bar of AAPL and MSFT) and ``bid`` (a DAY limit
bid resting well below the market in XOM and JPM, which the schedule fills while ibbot is away).

Every disruption is applied through the gateway's fault API (what ``POST /drop``, ``/restart``,
``/notice``, ``/fill`` do) and then waited out on ibbot's own log lines: the next session is
ready and its hooks are done. Timing is driven by those lines, not sleeps: "drop again while
this hook runs" drops from inside the log call of ``connection.hook_started``, in the hook's own
task (see :mod:`tests.integration.log_tap`). Each reconnect is timed from the moment of the drop
to the new session's ``connection.ready`` and checked against the backoff bound.

:func:`check_truth` then holds ibbot's audit and book against the gateway's truth: no orderRef
twice, every execution audited exactly once (none lost, none invented), each with its
commission, the book equal to the account's positions, no long-only position ever below zero.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ibbot.app import Orchestrator
from ibbot.live import LiveTrader
from ibbot.models import EventType, OrderStatus
from ibbot.settings import Settings
from ibbot.sim.gateway import SimulatedGateway
from ibbot.store import ParquetStore
from tests.integration.app_support import (
    DEADLINE,
    Watch,
    app_settings,
    book_totals,
    fill_of,
    running,
    running_gateway,
    sim_positions,
    strategy,
)
from tests.integration.log_tap import LogTap, event_is

if TYPE_CHECKING:
    import random
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from ibbot.models import Event
    from tests.integration.log_tap import Line

FLIPPED = ("AAPL", "MSFT")
BID = ("XOM", "JPM")
LONG_ONLY = {"flip", "bid"}
# The reconnect backoff of a chaos run: retries from 50 ms, capped at half a second.
BACKOFF_INITIAL = 0.05
BACKOFF_MAX = 0.5
# What a reconnect may take beyond the backoff: the connect, ib_async's startup sync and the farm
# notices, on a machine whose cores other processes keep busy.
CONNECT_SLACK = 10.0
HOOKS = {
    "resubscribe": "MarketDataStreams._on_session_change",
    "reconcile": "OrderExecutor._on_session_change",
    "positions": "Orchestrator._on_session_change",
}


@dataclass(frozen=True, slots=True)
class Reconnect:
    """One drop and how long the next session took to be ready."""

    kind: str
    seconds: float
    refused: float  # how long the gateway refused connections (a restart)

    @property
    def bound(self) -> float:
        """The longest this reconnect may take: the refusal, one capped backoff, a connect."""
        return self.refused + BACKOFF_MAX + CONNECT_SLACK


@dataclass
class Chaos:
    """Disruptions of one running ibbot, and what they did."""

    gateway: SimulatedGateway
    orchestrator: Orchestrator
    settings: Settings
    tap: LogTap
    reconnects: list[Reconnect] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # what was done, with its parameters
    schedule: list[str] = field(default_factory=list)  # the KINDS a random schedule drew
    filled_away: list[int] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)  # sessions whose hooks a drop cut short
    trader: LiveTrader | None = None  # kept once the run stops: its book is then final
    _later: list[tuple[str, int, float]] = field(default_factory=list)  # drops made by actions

    @property
    def client_id(self) -> int:
        """ibbot's client id at the gateway."""
        return self.settings.ib.client_id

    @property
    def session(self) -> int:
        """The connection's current session number."""
        connection = self.orchestrator.connection
        assert connection is not None
        return connection.session

    # --- waiting -------------------------------------------------------------------------------

    def _ready_at(self, session: int) -> float | None:
        lines = self.tap.of("connection.ready", session=session)
        return lines[0]["t"] if lines else None

    def _hooks_done(self, session: int, change: str | None = None) -> bool:
        return any(
            line["session"] >= session and (change is None or line["change"] == change)
            for line in self.tap.of("connection.hooks_done")
        )

    async def settled(self, session: int, *, what: str) -> None:
        """Wait until ``session`` (or a later one) is ready and its hooks are done."""
        await self.tap.wait_for(
            lambda: self._hooks_done(session), seconds=2 * DEADLINE, what=f"{what}: hooks done"
        )

    def _timed(self, kind: str, session: int, started: float, refused: float = 0.0) -> None:
        ready = self._ready_at(session)
        assert ready is not None, f"{kind}: session {session} never became ready"
        self.reconnects.append(Reconnect(kind, ready - started, refused))

    def _drop_now(
        self, kind: str, session: int, *, in_hooks: bool = False
    ) -> Callable[[Line], None]:
        """An action for a log line: drop every connection now, timing the reconnect to come
        (``in_hooks``: the drop must cut the hooks of ``session - 1`` short)."""

        def drop(_: Line) -> None:
            if in_hooks:
                self.interrupted.append(session - 1)
            self.gateway.drop_connections()
            started = time.monotonic()
            self._later.append((kind, session, started))

        return drop

    def _time_later_drops(self) -> None:
        for kind, session, started in self._later:
            self._timed(kind, session, started)
        self._later.clear()

    # --- disruptions ---------------------------------------------------------------------------

    async def drop(self, *, fill_away: bool = False) -> None:
        """The gateway drops every connection (and fills a resting bid while ibbot is away)."""
        kind = "drop+fill" if fill_away else "drop"
        if fill_away:
            await self._a_bid_rests()
        before = self.session
        started = time.monotonic()
        self.gateway.drop_connections()
        if fill_away:
            self._fill_a_bid()
        await self.settled(before + 1, what=kind)
        self._timed(kind, before + 1, started)
        self.kinds.append(kind)

    async def restart(self, seconds: float, *, fill_away: bool = False, kind: str = "") -> None:
        """The gateway restarts, refusing connections for ``seconds`` (a fill may happen then)."""
        kind = kind or ("restart+fill" if fill_away else "restart")
        if fill_away:
            await self._a_bid_rests()
        before = self.session
        started = time.monotonic()
        await self.gateway.restart(seconds)
        if fill_away:
            self._fill_a_bid()
        await self.settled(before + 1, what=f"{kind} {seconds:g} s")
        self._timed(kind, before + 1, started, refused=seconds)
        self.kinds.append(kind)

    async def notices(self, *codes: int) -> None:
        """IB's link notices: 1100 (lost), then 1101 (back, data lost) or 1102 (back, kept)."""
        kind = "notice " + "+".join(str(code) for code in codes)
        session = self.session
        runs = len(self.tap.of("connection.hooks_done", change="data_lost"))
        for code in codes:
            self.gateway.send_notice(code)
        if 1101 in codes:
            await self.tap.wait_for(
                lambda: (
                    len(self.tap.of("connection.hooks_done", change="data_lost")) > runs
                    or self.session > session
                ),
                seconds=2 * DEADLINE,
                what=f"{kind}: the data-lost hooks",
            )
        else:
            await self.tap.wait_for(
                lambda: any(line["code"] == codes[-1] for line in self.tap.of("connection.notice")),
                seconds=DEADLINE,
                what=f"{kind}: the notice",
            )
        self.kinds.append(kind)

    async def flap_after_reconnect(self, delay: float) -> None:
        """A drop, then another ``delay`` (< 1 s) after the reconnect."""
        kind = f"flap {delay:.2f} s after reconnect"
        before = self.session
        loop = asyncio.get_running_loop()
        again = self._drop_now(kind, before + 2)
        self.tap.on(
            event_is("connection.reconnected", session=before + 1),
            lambda line: loop.call_later(delay, again, line),
        )
        started = time.monotonic()
        self.gateway.drop_connections()
        await self.settled(before + 2, what=kind)
        self._timed(kind, before + 1, started)
        self._time_later_drops()
        self.kinds.append(kind)

    async def flap_in_hook(self, phase: str, *, fill_away: bool = False) -> None:
        """A drop, then another as soon as the next session's ``phase`` hook starts."""
        kind = f"flap in the {phase} hook" + (" +fill" if fill_away else "")
        if fill_away:
            await self._a_bid_rests()
        before = self.session
        self.tap.on(
            event_is("connection.hook_started", hook=HOOKS[phase], session=before + 1),
            self._drop_now(kind, before + 2, in_hooks=True),
        )
        started = time.monotonic()
        self.gateway.drop_connections()
        if fill_away:
            self._fill_a_bid()
        await self.settled(before + 2, what=kind)
        self._timed(kind, before + 1, started)
        self._time_later_drops()
        self.kinds.append(kind)

    def _resting_bid(self) -> int | None:
        """The order id of one of ibbot's bids resting at the gateway, if any."""
        for order in self.gateway.truth()["exchange"]["open_orders"]:
            if order["client_id"] == self.client_id and order["order_ref"].startswith("bid:"):
                return int(order["order_id"])
        return None

    async def _a_bid_rests(self) -> None:
        """Wait until a bid rests at the gateway (the last one may just have been filled)."""
        await self.tap.wait_for(
            lambda: self._resting_bid() is not None, seconds=DEADLINE, what="a resting bid"
        )

    def _fill_a_bid(self) -> None:
        """Fill a resting bid at the gateway now (ibbot is not connected)."""
        order_id = self._resting_bid()
        assert order_id is not None, "no bid rests: wait for one first"
        self.gateway.fill_order(self.client_id, order_id)
        self.filled_away.append(order_id)

    async def quiet(self) -> None:
        """Wait for a few fills of ordinary trading: ibbot trades on after the disruptions."""
        async with Watch(self.orchestrator.bus, EventType.FILL) as watch:
            for _ in range(2):
                await watch.until(fill_of("flip"), what="a fill of the flipper")

    def check_reconnects(self) -> None:
        """Every reconnect came within its backoff bound; no flapped session finished its hooks."""
        late = [r for r in self.reconnects if r.seconds > r.bound]
        assert late == [], f"reconnects beyond the backoff bound: {late}"
        finished = [s for s in self.interrupted if self.tap.of("connection.hooks_done", session=s)]
        assert finished == [], f"drops meant to land during hooks came after them: {finished}"


KINDS = (
    "drop",
    "drop+fill",
    "restart",
    "restart+fill",
    "1100+1102",
    "1100+1101",
    "1101",
    "flap-after-reconnect",
    "flap-resubscribe",
    "flap-reconcile",
    "flap-positions+fill",
    "burst",
)
"""Every kind of disruption a random schedule draws from (and uses at least once)."""
# A random schedule strikes right after ibbot has recovered from the last disruption or a little
# later: a gap of the schedule (when to strike), not a wait for anything.
MAX_GAP = 0.5


async def run_schedule(chaos: Chaos, rng: random.Random, count: int) -> None:
    """``count`` disruptions drawn by ``rng``: every kind once, the rest at random, shuffled."""
    kinds = [*KINDS, *(rng.choice(KINDS) for _ in range(count - len(KINDS)))]
    rng.shuffle(kinds)
    for kind in kinds:
        if rng.random() < 0.5:
            await asyncio.sleep(rng.uniform(0.0, MAX_GAP))
        await _disrupt(chaos, kind, rng)
        chaos.schedule.append(kind)


async def _disrupt(chaos: Chaos, kind: str, rng: random.Random) -> None:
    match kind:
        case "drop" | "drop+fill":
            await chaos.drop(fill_away=kind.endswith("+fill"))
        case "restart" | "restart+fill":
            await chaos.restart(round(rng.uniform(0.2, 1.5), 2), fill_away=kind.endswith("+fill"))
        case "1100+1102" | "1100+1101" | "1101":
            await chaos.notices(*(int(code) for code in kind.split("+")))
        case "flap-after-reconnect":
            await chaos.flap_after_reconnect(round(rng.uniform(0.0, 0.95), 2))
        case "flap-resubscribe" | "flap-reconcile" | "flap-positions+fill":
            phase = kind.removeprefix("flap-").removesuffix("+fill")
            await chaos.flap_in_hook(phase, fill_away=kind.endswith("+fill"))
        case "burst":
            await chaos.restart(3.0, kind="burst")
        case _:
            raise ValueError(f"no disruption {kind!r}")


@asynccontextmanager
async def chaos_run(
    tmp_path: Path, *, seed: int = 7, record: list[Reconnect] | None = None
) -> AsyncIterator[Chaos]:
    """ibbot running against a fresh gateway (market open, 60x), trading; checked once stopped.

    The block disrupts it; after the block ibbot trades on for a while, stops gracefully (exit
    code 0) and :func:`check_truth` holds its audit and book against the gateway's truth. The
    reconnects are added to ``record`` (for the run's reconnect-time summary).
    """
    async with running_gateway(seed=seed) as gateway:
        settings = chaos_settings(tmp_path, gateway.port)
        tap = LogTap(["connection.", "reconciliation.", "executor.", "app."]).install()
        async with running(settings, gateway) as orchestrator:
            chaos = Chaos(gateway, orchestrator, settings, tap, trader=orchestrator.trader)
            async with Watch(orchestrator.bus, EventType.FILL, EventType.ORDER_STATUS) as watch:
                await watch.until(_bid_rests, what="a resting bid")
                await watch.until(fill_of("flip"), what="a first fill of the flipper")
            yield chaos
            await chaos.quiet()
        if record is not None:
            record.extend(chaos.reconnects)
        check_truth(chaos)


def _bid_rests(event: Event) -> bool:
    status = event.payload
    return (
        event.type is EventType.ORDER_STATUS
        and getattr(status, "strategy_name", "") == "bid"
        and getattr(status, "status", None) is OrderStatus.SUBMITTED
    )


def chaos_settings(root: Path, port: int) -> Settings:
    """Settings of a chaos run: fast reconnects, short timeouts, frequent periodic reconciliation."""
    return app_settings(
        root,
        port=port,
        watchlist=[*FLIPPED, *BID],
        strategies=[
            strategy("flip", "Flipper", symbols=list(FLIPPED)),
            strategy(
                "bid",
                "tests.integration.chaos_strategies.RestingBuyer",
                symbols=list(BID),
                retry_after_bars=1,
            ),
        ],
        ib={
            "reconnect_initial_delay": BACKOFF_INITIAL,
            "reconnect_max_delay": BACKOFF_MAX,
            "request_timeout": 5.0,
        },
        app={"reconcile_interval": 2.0, "shutdown_timeout": 1.0, "state_save_interval": 5.0},
    )


def check_truth(chaos: Chaos) -> None:
    """ibbot's audit and book against the gateway's truth (see the module docstring)."""
    chaos.check_reconnects()
    truth = chaos.gateway.truth()["exchange"]
    ours = chaos.client_id
    orders = [
        o for o in (*truth["open_orders"], *truth["completed_orders"]) if o["client_id"] == ours
    ]
    refs = Counter(o["order_ref"] for o in orders)
    assert [ref for ref, n in refs.items() if n > 1] == [], "an order reached the gateway twice"
    executions = [e for e in truth["executions"] if e["client_id"] == ours]
    audited = ParquetStore(chaos.settings.store.path).read_audit("fills")
    counted = Counter(entry.record["exec_id"] for entry in audited)
    assert [exec_id for exec_id, n in counted.items() if n > 1] == [], "a fill audited twice"
    assert set(counted) == {e["exec_id"] for e in executions}, "fills lost or invented"
    assert [e.record for e in audited if e.record["commission"] is None] == []
    commissions = {e["exec_id"]: e["commission"] for e in executions}
    assert {e.record["exec_id"]: e.record["commission"] for e in audited} == commissions
    assert _went_short(executions) == [], "a long-only position went below zero at the gateway"
    assert chaos.trader is not None
    quantities = chaos.trader.book.quantities()
    assert book_totals(quantities) == sim_positions(chaos.gateway), "book != the account"
    short = {
        (name, symbol): quantity
        for name, held in quantities.items()
        if name in LONG_ONLY
        for symbol, quantity in held.items()
        if quantity < 0
    }
    assert short == {}, f"a long-only strategy's book went short: {short}"


def _went_short(executions: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(symbol, position) at every execution that left a long-only position below zero."""
    held: dict[str, float] = {}
    short = []
    for execution in executions:
        sign = 1.0 if execution["side"] in ("BOT", "BUY") else -1.0
        symbol = execution["symbol"]
        held[symbol] = held.get(symbol, 0.0) + sign * execution["quantity"]
        if held[symbol] < -1e-9:
            short.append((symbol, held[symbol]))
    return short
