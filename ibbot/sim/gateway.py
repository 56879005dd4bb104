"""The simulated IB Gateway as a resource: listen, serve API clients, inject faults, tell the truth.

``async with SimulatedGateway(config) as gw:`` binds the API port (and the control port), starts the
order-matching loop, and serves every connection in a task group owned by the gateway; leaving the
block drops all connections and stops everything. The fault methods are the Python face of the
control interface (:mod:`ibbot.sim.control`): tests call them directly, anything outside the process
uses HTTP.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any, Self

import structlog

from ibbot.clock import Clock, ScaledClock
from ibbot.errors import ConfigError
from ibbot.sim.config import SimConfig, is_loopback
from ibbot.sim.control import ControlServer
from ibbot.sim.faults import NOTICE_CODES, EndMessage
from ibbot.sim.hub import Hub
from ibbot.sim.protocol import ErrorCode
from ibbot.sim.session import ClientSession

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = ["SimulatedGateway"]

log = structlog.get_logger(__name__)

REBIND_RETRY = 0.5


class SimulatedGateway:
    """A TWS-protocol server over a simulated market and exchange (an async context manager).

    ``clock`` defaults to a :class:`~ibbot.clock.ScaledClock` starting at ``config.start`` and
    running ``config.time_scale`` times faster than the wall clock. ``record=True`` keeps every
    outgoing frame per connection in :attr:`transcripts` (for determinism tests).
    """

    def __init__(
        self, config: SimConfig | None = None, *, clock: Clock | None = None, record: bool = False
    ) -> None:
        self.config = config or SimConfig()
        self.clock = clock or ScaledClock(self.config.start, self.config.time_scale)
        self.hub: Hub[ClientSession] = Hub(self.config, self.clock, record=record)
        self._control = ControlServer(self)
        self._server: asyncio.Server | None = None
        self._control_server: asyncio.Server | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._runner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._stop = asyncio.Event()
        self._port: int | None = None
        self._control_port: int | None = None
        self._refusing_until = 0.0
        self._listening = asyncio.Event()
        self._reopen: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind the ports and start serving; raises :class:`ConfigError` when a port cannot be bound."""
        if self._runner is not None:
            return
        self._stop.clear()
        self._ready = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(), name="ibbot-sim-gateway")
        await asyncio.wait({self._ready, self._runner}, return_when=asyncio.FIRST_COMPLETED)
        if not self._ready.done() or self._ready.exception() is not None:
            await self.close()
            if self._ready.done():
                self._ready.result()
            raise RuntimeError("the simulated gateway stopped while starting")

    async def close(self) -> None:
        """Drop every connection, stop listening and wait for all tasks (idempotent)."""
        if self._runner is None:
            return
        self._stop.set()
        runner, self._runner = self._runner, None
        await runner

    async def _run(self) -> None:
        assert self._ready is not None
        ready = self._ready
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                await self._listen()
                if self.config.control_port is not None:
                    self._control_server = await asyncio.start_server(
                        self._control.accept_factory(tasks),
                        self.control_host,
                        self.config.control_port,
                        reuse_address=True,
                    )
                    self._control_port = self._control_server.sockets[0].getsockname()[1]
                matching = tasks.create_task(self.hub.orders.run(), name="ibbot-sim-matching")
                ready.set_result(None)
                log.info(
                    "sim.gateway.started",
                    host=self.config.host,
                    port=self._port,
                    control_port=self._control_port,
                    seed=self.config.seed,
                    time_scale=self.config.time_scale,
                )
                await self._stop.wait()
                self._wind_down(matching)
        except* OSError as group:
            if ready.done():
                raise
            # the API port is bound first: if it is up, the control port is the one that failed
            key, port = (
                ("sim.control_port", self.config.control_port)
                if self._server is not None
                else ("sim.port", self.config.port)
            )
            ready.set_exception(ConfigError(key, port, str(group.exceptions[0])))
        finally:
            self._tasks = None
            self._stop_listening()
            if self._control_server is not None:
                self._control_server.close()
                self._control_server = None
            if not ready.done():
                ready.set_exception(RuntimeError("the simulated gateway failed to start"))
            log.info("sim.gateway.stopped")

    def _wind_down(self, matching: asyncio.Task[None]) -> None:
        """Stop listening, drop every connection and end the background tasks."""
        self._stop_listening()
        if self._control_server is not None:
            self._control_server.close()
            self._control_server = None
        for session in self.hub.all_sessions():
            session.abort()
        matching.cancel()
        if self._reopen is not None:
            self._reopen.cancel()
        self._control.cancel_all()

    async def _listen(self) -> None:
        port = self._port if self._port is not None else self.config.port
        self._server = await asyncio.start_server(
            self._accept, self._bind_host, port, reuse_address=True
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._listening.set()

    def _stop_listening(self) -> None:
        self._listening.clear()
        if self._server is not None:
            server, self._server = self._server, None
            server.close()

    async def wait_until_accepting(self) -> None:
        """Return once the API port accepts connections (e.g. at the end of a simulated restart)."""
        await self._listening.wait()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tasks is None or self._stop.is_set():
            writer.transport.abort()
            return
        open_now = len(self.hub.all_sessions())
        if open_now >= self.config.max_connections:
            # IB takes up to 32 API clients per session; the next one is turned away at once
            log.warning(
                "sim.gateway.connection_refused",
                peer=writer.get_extra_info("peername"),
                open=open_now,
                limit=self.config.max_connections,
            )
            writer.close()
            return
        session = ClientSession(self.hub, reader, writer)
        self.hub.attach(session)
        log.info("sim.gateway.accepted", conn=session.number, peer=session.peer)
        self._tasks.create_task(session.serve(), name=f"ibbot-sim-conn-{session.number}")

    # ---------------------------------------------------------------- addresses

    @property
    def host(self) -> str:
        """The address the API port is bound to."""
        return self.config.host

    @property
    def _bind_host(self) -> str:
        # "localhost" would bind IPv4 and IPv6 sockets, each with its own ephemeral port
        return "127.0.0.1" if self.config.host.lower() == "localhost" else self.config.host

    @property
    def control_host(self) -> str:
        """Where the control interface listens: always a loopback address, even with allow_remote."""
        return self._bind_host if is_loopback(self.config.host) else "127.0.0.1"

    @property
    def port(self) -> int:
        """The API port (the actual one when the configuration asked for an ephemeral port)."""
        if self._port is None:
            raise RuntimeError("the gateway has not been started")
        return self._port

    @property
    def control_port(self) -> int | None:
        """The control interface's port, or None when it is off."""
        return self._control_port

    @property
    def transcripts(self) -> dict[int, list[bytes]]:
        """Outgoing frames per connection number (only with ``record=True``)."""
        return self.hub.transcripts

    async def wait_for_clients(self, predicate: Callable[[set[int]], bool]) -> None:
        """Wait until ``predicate(connected client ids)`` holds (e.g. a client has gone)."""
        await self.hub.wait_for_clients(predicate)

    # ---------------------------------------------------------------- faults

    def drop_connections(self) -> int:
        """Close every client socket at once, as a crashing gateway does; returns how many."""
        sessions = self.hub.all_sessions()
        for session in sessions:
            session.abort()
        log.info("sim.fault.drop_connections", count=len(sessions))
        return len(sessions)

    async def restart(self, seconds: float) -> int:
        """A gateway restart: drop every connection and refuse new ones for ``seconds`` (wall time)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be a finite, non-negative number, got {seconds!r}")
        if self._tasks is None:
            raise RuntimeError("the gateway is not running")
        self._stop_listening()
        dropped = self.drop_connections()
        loop = asyncio.get_running_loop()
        self._refusing_until = max(self._refusing_until, loop.time() + seconds)
        if self._reopen is None or self._reopen.done():
            self._reopen = self._tasks.create_task(self._reopen_later(), name="ibbot-sim-reopen")
        log.info("sim.fault.restart", seconds=seconds, dropped=dropped)
        return dropped

    async def _reopen_later(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # restart() may push the deadline further while we sleep, hence the loop
            while (delay := self._refusing_until - loop.time()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(delay)
            try:
                await self._listen()
            except OSError as exc:
                # the port is briefly held by someone else: keep refusing and try again shortly
                log.warning("sim.gateway.rebind_failed", port=self._port, error=str(exc))
                self._refusing_until = loop.time() + REBIND_RETRY
                continue
            log.info("sim.gateway.listening_again", port=self._port)
            return

    @property
    def refusing_connections(self) -> bool:
        """True while a simulated restart keeps the API port closed."""
        return self._server is None and self._tasks is not None

    def send_notice(self, code: int) -> int:
        """Send a system notice (1100/1101/1102, 2103-2106, 2157/2158) to every API client.

        1101 ("data lost") also stops every client's market data streams, which must be requested again.
        """
        try:
            notice = ErrorCode(code)
        except ValueError:
            notice = None
        if notice not in NOTICE_CODES or notice is None:
            allowed = ", ".join(str(int(c)) for c in sorted(NOTICE_CODES))
            raise ValueError(f"{code} is not a system notice; choose one of {allowed}")
        count = self.hub.broadcast_notice(notice)
        log.info("sim.fault.notice", code=code, clients=count)
        return count

    def force_pacing_violations(self, count: int) -> None:
        """Answer the next ``count`` historical/fundamentals/real-time-bar requests with a pacing error."""
        self.hub.pacer.force(count)
        log.info("sim.fault.pacing", count=count)

    def set_strict_pacing(self, strict: bool) -> None:
        """Apply IB's small-bar historical pacing rules to every bar size (True) or, as IB does
        now, to bars of 30 seconds or less only (False)."""
        self.hub.pacer.strict = strict
        log.info("sim.pacing.strict", strict=strict)

    def reject_next_orders(self, count: int = 1, *, code: int = 201, message: str = "") -> None:
        """Reject the next ``count`` orders with IB error ``code`` (and ``message`` when given)."""
        if message:
            self.hub.exchange.reject_next(count, code=code, message=message)
        else:
            self.hub.exchange.reject_next(count, code=code)
        log.info("sim.fault.reject_orders", count=count, code=code)

    def withhold_end_messages(self, *names: str) -> None:
        """Stop sending the named connect-time End messages (see :class:`EndMessage`) until cleared."""
        try:
            messages = {EndMessage(name) for name in names}
        except ValueError as exc:
            allowed = ", ".join(m.value for m in EndMessage)
            raise ValueError(f"unknown End message in {names!r}; choose from {allowed}") from exc
        self.hub.faults.withheld |= messages
        log.info("sim.fault.withhold", messages=sorted(m.value for m in messages))

    def withhold_market_data(self, *symbols: str) -> None:
        """Accept market-data requests for ``symbols`` but send them no live data until released.

        Models a feed that is subscribed yet silent: no error, the ticker id stays valid, and
        nothing more comes, as after IB's nightly system reset (the socket and subscriptions stay,
        the feeds stop for minutes: ib_insync#469, IbcAlpha/IBC#143) or for a halted stock. The
        only sign on the quote stream is its data type: reqMktData gets tickReqParams and
        marketDataType 2 (frozen; 4 for a symbol on delayed data) and then no price, size or
        volume tick, and a snapshot only its tickSnapshotEnd; a quote stream already running is
        told marketDataType 2 and goes quiet. reqRealTimeBars sends no bar and a keepUpToDate
        request gets its history but no update (running ones stop too). Historical requests are
        still served: IB's history farm (HMDS) is separate from the live feed.

        A missing market data *subscription* is a different situation, which the client hears
        about at once: IB answers the request with error 354 (a client on delayed data gets the
        10167 warning and delayed ticks instead, or 10168/10186 when delayed data is not enabled);
        see :meth:`remove_live_subscription`.

        Raises ValueError when no symbol is given or one is not listed (naming those).
        """
        if not symbols:
            raise ValueError("name the symbols whose live data to withhold")
        wanted = self._known_symbols(symbols)
        self.hub.faults.silent_symbols |= wanted
        log.info("sim.fault.no_data", symbols=sorted(self.hub.faults.silent_symbols))

    def release_market_data(self, *symbols: str) -> None:
        """Resume live data for ``symbols`` (none given: every withheld symbol).

        Running quote streams are told their live data type again and get every value afresh;
        real-time bars and keepUpToDate updates continue from the current bar.
        """
        faults = self.hub.faults
        if symbols:
            faults.silent_symbols -= self._known_symbols(symbols)
        else:
            faults.silent_symbols.clear()
        log.info("sim.fault.no_data", symbols=sorted(faults.silent_symbols))

    def remove_live_subscription(self, *symbols: str) -> None:
        """Make ``symbols`` delayed-only, as for an account without their live data subscription.

        reqMktData on live or frozen data (reqMarketDataType 1 or 2) then gets IB's 354 "Requested
        market data is not subscribed"; on delayed data (3 or 4) the 10167 warning, marketDataType
        3 (4 when frozen) and the delayed tick ids (66-76, 88) carrying the market 15 minutes ago.
        Tick-by-tick (10189), historical ticks (10187), histograms (10188), historical bars (162)
        and real-time bars (420) are refused with IB's "No market data permissions" reason: IB
        serves them with a live subscription only. Streams already running are not affected.

        Raises ValueError when no symbol is given or one is not listed (naming those).
        """
        if not symbols:
            raise ValueError("name the symbols whose live subscription to remove")
        self.hub.faults.delayed_only |= self._known_symbols(symbols)
        log.info("sim.fault.no_subscription", symbols=sorted(self.hub.faults.delayed_only))

    def restore_live_subscription(self, *symbols: str) -> None:
        """Give ``symbols`` their live data back (none given: every symbol)."""
        faults = self.hub.faults
        if symbols:
            faults.delayed_only -= self._known_symbols(symbols)
        else:
            faults.delayed_only.clear()
        log.info("sim.fault.no_subscription", symbols=sorted(faults.delayed_only))

    def _known_symbols(self, symbols: tuple[str, ...]) -> set[str]:
        wanted = {symbol.strip().upper() for symbol in symbols}
        if "" in wanted:
            raise ValueError("a symbol cannot be blank")
        known = set(self.hub.contracts.universe)
        unknown = sorted(wanted - known)
        if unknown:
            raise ValueError(
                f"unknown symbol(s) {', '.join(unknown)}; this gateway lists {', '.join(sorted(known))}"
            )
        return wanted

    def delay_replies(self, milliseconds: float) -> None:
        """Hold every outgoing message for ``milliseconds`` before sending it (0: no delay)."""
        if not math.isfinite(milliseconds) or milliseconds < 0:
            raise ValueError(
                f"the delay must be a finite, non-negative number, got {milliseconds!r}"
            )
        self.hub.faults.reply_delay = milliseconds / 1000.0
        log.info("sim.fault.delay", milliseconds=milliseconds)

    def fill_order(
        self, client_id: int, order_id: int, price: float | None = None
    ) -> dict[str, Any]:
        """Fill an open order now (at ``price`` or the market), whether or not its client is connected."""
        return self.hub.orders.force_fill(client_id, order_id, price)

    def set_price(self, symbol: str, price: float | None) -> dict[str, Any]:
        """Pin ``symbol`` at ``price`` for the exchange's matching (None releases it); matches now."""
        return self.hub.orders.pin_price(symbol, price)

    def clear_faults(self) -> None:
        """Back to a well-behaved gateway (pacing, rejections, withheld messages and data, delays)."""
        self.hub.faults.clear()
        self.hub.pacer.force(0)
        self.hub.exchange.reject_next(0)
        log.info("sim.fault.cleared")

    def truth(self) -> dict[str, Any]:
        """The gateway's own state as JSON-ready data: clock, clients, faults and the exchange's books."""
        faults = self.hub.faults
        return {
            "time": self.clock.now().isoformat(),
            "account": self.config.account,
            "port": self._port,
            "control_port": self._control_port,
            "refusing_connections": self.refusing_connections,
            "clients": sorted(
                s.client_id for s in self.hub.api_sessions() if s.client_id is not None
            ),
            "faults": {
                "withheld": sorted(m.value for m in faults.withheld),
                "reply_delay_ms": faults.reply_delay * 1000.0,
                "no_data": sorted(faults.silent_symbols),
                "no_subscription": sorted(faults.delayed_only),
                "pinned_prices": dict(sorted(faults.pinned_prices.items())),
                "forced_pacing_violations": self.hub.pacer.forced,
            },
            "strict_pacing": self.hub.pacer.strict,
            "exchange": self.hub.exchange.snapshot(),
        }
