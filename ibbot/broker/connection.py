"""One resilient connection to TWS / IB Gateway, around one ``ib_async.IB``.

What IB really does, and what this class does about it:

- A wrong port or a Gateway that is down refuses the TCP connection (IB's 502 situation): the first
  connect fails at once with :class:`ConnectionFailed`; later reconnects back off and retry.
- A client id already in use gets error 326 and a closed socket, while ib_async would wait for the
  whole connect timeout: the first connect fails at once.
- The Gateway restarts every night and drops every API socket for a minute or two: on a dropped
  socket we reconnect forever with exponential backoff, jitter and a cap, then run the session
  hooks (reconcile orders and positions, then resubscribe).
- The nightly server reset keeps the socket but cuts IB's link (1100) and brings it back with data
  lost (1101: subscriptions are gone) or maintained (1102): 1101 runs the same hooks.
- Farms report broken/OK (2103-2106, 2157/2158): the state goes DEGRADED / back to CONNECTED.

Readiness is nextValidId + managed accounts (ib_async's API start), the startup sync of orders,
positions and executions, and the farm status notices (or a short grace period if none come).

The supervisor's invariant: **nothing the supervisor waits for can wait for the supervisor.** It
waits only for signals (a drop, a 1101), the backoff and its own connect attempts. Each session's
hooks run in a task of their own, bound to that session: a drop cancels them at once (they end
with their session), and inside them :meth:`IBConnection.wait_ready` never waits for the next
session, it raises :class:`~ibbot.errors.SessionEnded` once theirs has ended (so does every
request sent through :class:`~ibbot.broker.IBRequests`). So a drop at any point of a hook
(resubscription, reconciliation, positions) is followed by a new session within the backoff, whose
hooks run again from the start. :meth:`IBConnection.session_scope` gives the same binding to
other work that must not outlive its session (a periodic reconciliation).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Self

import structlog
from ib_async import IB

from ibbot.broker.backoff import Backoff
from ibbot.broker.errors import (
    CLIENT_ID_IN_USE,
    DATA_LOST,
    ErrorCategory,
    connection_status_for,
    describe,
)
from ibbot.broker.outbox import Outbox
from ibbot.broker.timing import wait_event, within
from ibbot.errors import ConnectionFailed, SessionEnded
from ibbot.models import ConnectionState, ConnectionStatus, Event, EventType

if TYPE_CHECKING:
    from types import TracebackType

    from ib_async import Contract

    from ibbot.broker.ports import EventPublisher
    from ibbot.clock import Clock
    from ibbot.settings import IbSettings

__all__ = [
    "ConnectionConfig",
    "HookPhase",
    "IBConnection",
    "SessionChange",
    "SessionHook",
    "is_paper_account",
]

log = structlog.get_logger(__name__)

# IB paper-trading account ids start with "DU"; anything else moves real money.
_PAPER_PREFIX: Final = "DU"

# Farm notices: code -> (farm kind, broken?). Farms are keyed by kind and by the farm name IB
# appends to the text ("Market data farm connection is OK:usfarm").
_FARM_CODES: Final = {
    2103: ("market_data", True),
    2104: ("market_data", False),
    2105: ("historical", True),
    2106: ("historical", False),
    2157: ("sec_def", True),
    2158: ("sec_def", False),
}
# Notices that say a farm is reachable (OK, or idle but available on demand): farms are up.
_FARMS_UP: Final = frozenset({2104, 2106, 2107, 2108, 2158})
_IB_LINK: Final = ("ib_link", "")
# How long closing waits for queued status events to reach the bus.
_FLUSH_SECONDS: Final = 5.0
# How long a drop waits for the cancelled hooks of the ended session to finish (they end at their
# next await; this bound only guards against a hook that swallows its cancellation).
_HOOKS_STOP_SECONDS: Final = 5.0


def is_paper_account(account: str) -> bool:
    """True for an IB paper-trading account id (``DU...``)."""
    return account.startswith(_PAPER_PREFIX)


class SessionChange(StrEnum):
    """Why the session hooks run: a new socket session, or IB's 1101 "data lost"."""

    RECONNECTED = "reconnected"
    DATA_LOST = "data_lost"


class HookPhase(StrEnum):
    """Hooks run by phase, in this order: orders and fills are reconciled, then positions (which
    must see the fills the order reconciliation found), then market data is re-established.

    Market data comes last so that the first decisions on new bars are sized against a book that
    has booked the fills made while ibbot was away, and so that a resubscription held back by
    IB's pacing (60 real-time bar requests per 10 minutes) never holds up the reconciliation.
    """

    RECONCILE = "reconcile"
    POSITIONS = "positions"
    RESUBSCRIBE = "resubscribe"


SessionHook = Callable[[SessionChange], Awaitable[None]]
"""A coroutine function run after every reconnect and every 1101."""


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """Where the Gateway is and how to talk to it.

    ``connect_timeout`` bounds each step of a connect (TCP, API handshake, startup sync); a freshly
    restarted Gateway needs 15-30 s. ``farm_grace`` is how long to wait after the sync for the farm
    status notices before calling the connection ready anyway (some Gateways send none).
    ``account`` pins the account when the login manages several.
    """

    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    connect_timeout: float = 15.0
    readonly: bool = False
    account: str = ""
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=60.0))
    farm_grace: float = 2.0

    @classmethod
    def from_settings(
        cls,
        ib: IbSettings,
        *,
        host: str | None = None,
        port: int | None = None,
        client_id: int | None = None,
    ) -> ConnectionConfig:
        """The ``[ib]`` settings as a connection config (``host``/``port``/``client_id`` override)."""
        return cls(
            host=host if host is not None else ib.host,
            port=port if port is not None else ib.port,
            client_id=client_id if client_id is not None else ib.client_id,
            connect_timeout=ib.connect_timeout,
            readonly=ib.readonly,
            account=ib.account,
            backoff=Backoff(initial=ib.reconnect_initial_delay, maximum=ib.reconnect_max_delay),
        )


class _Signal(StrEnum):
    DROPPED = "dropped"
    DATA_LOST = "data_lost"


@dataclass(frozen=True, slots=True)
class _Scope:
    """The session some work is bound to (see :meth:`IBConnection.session_scope`)."""

    connection: IBConnection
    session: int


# The session the current task's work is bound to: set in every hook task, and by session_scope.
# A context variable, so the binding follows the work into whatever it awaits and the tasks it
# starts, and two connections in one process never see each other's.
_SCOPE: ContextVar[_Scope | None] = ContextVar("ibbot_connection_session", default=None)


class IBConnection:
    """An async context manager owning one ``ib_async.IB``: connect, stay connected, report state.

    Entering connects (failing fast with :class:`ConnectionFailed`) and starts the supervisor that
    reconnects after a drop; leaving disconnects and stops it. Components register session hooks
    (:meth:`add_session_hook`) to be re-established after a reconnect or a 1101. State changes are
    published as ``connection`` events and logged. ``clock`` times the waits; ``market_clock``
    (default: ``clock``) is the gateway's time, see :attr:`market_clock`.
    """

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        clock: Clock,
        market_clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._market_clock = market_clock if market_clock is not None else clock
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not secrets
        self._ib = IB()
        # An empty historical answer or an error must raise, never look like "no data".
        self._ib.RaiseRequestErrors = True
        self._ib.errorEvent += self._on_error
        self._ib.disconnectedEvent += self._on_disconnected
        self._outbox = Outbox(publisher, name="connection", maxsize=1_000)
        self._state = ConnectionState.DISCONNECTED
        self._ready = asyncio.Event()
        self._signals: asyncio.Queue[tuple[_Signal, int]] = asyncio.Queue(maxsize=len(_Signal))
        self._pending_signals: set[_Signal] = set()
        self._hooks: dict[HookPhase, list[SessionHook]] = {phase: [] for phase in HookPhase}
        self._broken: set[tuple[str, str]] = set()
        self._farms_up = asyncio.Event()
        self._connect_failure: asyncio.Future[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop ib_async runs on
        self._connecting = False
        self._closing = False
        self._session = 0
        self._accounts: tuple[str, ...] = ()
        self._tasks: asyncio.TaskGroup | None = None
        self._workers: list[asyncio.Task[None]] = []
        # The running hook task and at most one queued behind it (a 1101 during the hooks).
        self._hook_runs: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ public state

    @property
    def ib(self) -> IB:
        """The ib_async client (for the broker package only; nothing else imports ib_async)."""
        return self._ib

    @property
    def config(self) -> ConnectionConfig:
        """Where this connection points."""
        return self._config

    @property
    def clock(self) -> Clock:
        """The clock timeouts, backoffs and other waits are measured on (real time)."""
        return self._clock

    @property
    def market_clock(self) -> Clock:
        """The time at the gateway: what "now" means for bars, windows and timestamps.

        The wall clock for a real Gateway; the simulated gateway's own clock when simulating
        (its time may start elsewhere and run faster).
        """
        return self._market_clock

    @property
    def state(self) -> ConnectionState:
        """CONNECTING, CONNECTED, DEGRADED (socket up, IB link or a farm down) or DISCONNECTED."""
        return self._state

    @property
    def is_ready(self) -> bool:
        """True while requests can be sent (connected, possibly degraded)."""
        return self._ready.is_set()

    @property
    def session(self) -> int:
        """How many times a connection has been established (1 after the first connect)."""
        return self._session

    @property
    def accounts(self) -> tuple[str, ...]:
        """The accounts this login manages, as of the last connect."""
        return self._accounts

    @property
    def account(self) -> str:
        """The account orders go to: the configured one, else the only managed one, else ""."""
        if self._config.account:
            return self._config.account
        return self._accounts[0] if len(self._accounts) == 1 else ""

    def account_values(self, tags: Iterable[str]) -> dict[str, float]:
        """The latest of IB's account values named ``tags`` (``NetLiquidation``...), in the base
        currency, as the account updates ib_async subscribes at connect last reported them (IB
        refreshes them about every three minutes, and at once after a fill); no request is sent."""
        wanted = set(tags)
        account = self.account
        found: dict[str, float] = {}
        for value in self._ib.accountValues(account):
            if value.tag in wanted and value.currency in ("USD", "BASE", ""):
                try:
                    found[value.tag] = float(value.value)
                except ValueError:
                    continue
        return found

    @property
    def is_paper(self) -> bool:
        """True when every managed account is a paper account (and there is at least one)."""
        return bool(self._accounts) and all(is_paper_account(a) for a in self._accounts)

    async def wait_ready(self) -> None:
        """Return once the connection is ready (at once when it already is).

        Work bound to a session (a session hook, a :meth:`session_scope` block) never waits for
        the next session: it returns at once while its session is up and raises
        :class:`~ibbot.errors.SessionEnded` once that session has ended.
        """
        scope = _SCOPE.get()
        if scope is not None and scope.connection is self:
            self._check_session(scope.session)
            return
        await self._ready.wait()

    @contextmanager
    def session_scope(self) -> Iterator[int]:
        """Bind the block to the current session (yielded): see :meth:`wait_ready`.

        Raises :class:`~ibbot.errors.SessionEnded` at once when the connection is not ready.
        """
        self._check_session(self._session)
        token = _SCOPE.set(_Scope(self, self._session))
        try:
            yield self._session
        finally:
            _SCOPE.reset(token)

    def in_session(self, session: int) -> bool:
        """True while ``session`` is the current session and the connection is ready."""
        return self._ready.is_set() and self._session == session

    def _check_session(self, session: int) -> None:
        if not self.in_session(session):
            raise SessionEnded(
                f"connection session {session} has ended (the Gateway dropped the connection)",
                request="session",
            )

    def next_order_id(self) -> int:
        """A fresh order id from ib_async's sequence (seeded by nextValidId, bumped by openOrder).

        Call it on the connection's event loop thread only (RuntimeError elsewhere): ib_async draws
        every request and order id from that one unlocked counter on the loop thread, so ids drawn
        there never repeat; a repeated order id would get IB's 103 (duplicate order id).
        """
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is None or running is not self._loop:
            # A programming error, not a broker failure: not an IbbotError, so no handler of
            # broker failures mistakes it for one.
            raise RuntimeError(
                "IBConnection.next_order_id() must be called on the event loop the connection "
                "runs on (ib_async's id counter is not thread-safe)"
            )
        if not self.is_ready:
            raise ConnectionFailed("not connected to IB Gateway: no order id available")
        return self._ib.client.getReqId()

    def add_session_hook(
        self,
        hook: SessionHook,
        *,
        phase: HookPhase = HookPhase.RESUBSCRIBE,
    ) -> None:
        """Run ``hook`` after every reconnect and every 1101, in ``phase`` order then added order."""
        self._hooks[phase].append(hook)

    def remove_session_hook(self, hook: SessionHook) -> None:
        """Stop running ``hook`` (no error if it was not registered)."""
        for hooks in self._hooks.values():
            if hook in hooks:
                hooks.remove(hook)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Connect (failing fast on 326, a refused port or no handshake) and start supervising."""
        if self._tasks is not None:
            return
        self._closing = False
        tasks = asyncio.TaskGroup()
        await tasks.__aenter__()
        self._tasks = tasks
        self._workers = [
            tasks.create_task(self._outbox.run(), name="ibbot-connection-outbox"),
        ]
        try:
            await self._connect_once()
        except BaseException:
            await self._stop_tasks()
            raise
        self._workers.append(
            tasks.create_task(self._supervise(), name="ibbot-connection-supervisor")
        )

    async def close(self) -> None:
        """Disconnect and stop reconnecting; idempotent."""
        if self._tasks is None:
            return
        self._closing = True
        was_connected = self._ib.isConnected()
        self._ready.clear()
        self._cancel_hooks()
        self._ib.disconnect()
        if was_connected:
            self._set_state(ConnectionState.DISCONNECTED, "closed by ibbot")
        await self._stop_tasks()

    async def _stop_tasks(self) -> None:
        """Deliver what the outbox holds (for at most a few seconds), then stop the workers."""
        try:
            await within(self._clock, _FLUSH_SECONDS, self._outbox.flush())
        except TimeoutError:
            log.warning("connection.close_undelivered", pending=self._outbox.pending)
        tasks, self._tasks = self._tasks, None
        for worker in self._workers:
            worker.cancel()
        self._workers = []
        if tasks is not None:
            await tasks.__aexit__(None, None, None)

    # ------------------------------------------------------------------ connecting

    async def _connect_once(self) -> None:
        """One connect attempt: handshake, startup sync, farms; ConnectionFailed on any failure."""
        cfg = self._config
        where = f"{cfg.host}:{cfg.port}"
        self._set_state(ConnectionState.CONNECTING, f"connecting to {where}")
        self._connecting = True
        self._ib.disconnect()  # a half-dead previous session must not linger
        self._broken.clear()
        self._farms_up.clear()
        loop = asyncio.get_running_loop()
        self._loop = loop
        failure: asyncio.Future[str] = loop.create_future()
        self._connect_failure = failure

        def on_api_error(message: str) -> None:
            # ib_async: "Peer closed connection. clientId N already in use?" before the API start.
            if not failure.done():
                failure.set_result(
                    f"the Gateway closed the connection during the handshake ({message})"
                )

        self._ib.client.apiError += on_api_error
        try:
            await self._handshake(failure, where)
        except ConnectionFailed:
            self._set_state(ConnectionState.DISCONNECTED, "connect failed")
            raise
        except ConnectionRefusedError as exc:
            self._set_state(ConnectionState.DISCONNECTED, "connect refused")
            raise ConnectionFailed(
                f"IB Gateway at {where} refused the connection (IB 502: is the Gateway running, "
                "the API enabled and the port its socket port?)"
            ) from exc
        except TimeoutError as exc:
            self._set_state(ConnectionState.DISCONNECTED, "connect timed out")
            raise ConnectionFailed(
                f"IB Gateway at {where} did not complete the API handshake and startup sync "
                f"within {cfg.connect_timeout:g} s"
            ) from exc
        except OSError as exc:
            self._set_state(ConnectionState.DISCONNECTED, "connect failed")
            if type(exc) is ConnectionError:  # ib_async: the startup sync failed or broke off
                raise ConnectionFailed(
                    f"IB Gateway at {where}: startup sync failed: {exc}"
                ) from exc
            raise ConnectionFailed(f"cannot reach IB Gateway at {where}: {exc}") from exc
        finally:
            self._connecting = False
            self._connect_failure = None
            self._ib.client.apiError -= on_api_error
            if not failure.done():
                failure.cancel()

        accounts = tuple(self._ib.managedAccounts())
        if cfg.account and cfg.account not in accounts:
            self._ib.disconnect()
            self._set_state(ConnectionState.DISCONNECTED, "account not managed")
            raise ConnectionFailed(
                f"IB Gateway at {where} does not manage the configured account "
                f"(it manages {len(accounts)} account(s))"
            )
        if not await wait_event(self._clock, self._farms_up, cfg.farm_grace):
            log.warning(
                "connection.no_farm_status", host=cfg.host, port=cfg.port, waited=cfg.farm_grace
            )
        if not self._ib.isConnected():
            # Dropped while waiting for the farms: not ready yet, so no drop was signalled.
            self._set_state(ConnectionState.DISCONNECTED, "dropped while connecting")
            raise ConnectionFailed(f"IB Gateway at {where} dropped the connection while connecting")
        self._accounts = accounts
        self._session += 1
        self._ready.set()
        self._set_state(
            ConnectionState.DEGRADED if self._broken else ConnectionState.CONNECTED,
            "connected" if not self._broken else "connected; some farms are down",
        )
        log.info(
            "connection.ready",
            host=cfg.host,
            port=cfg.port,
            client_id=cfg.client_id,
            session=self._session,
            server_version=self._ib.client.serverVersion(),
            accounts=len(accounts),
            paper=self.is_paper,
        )

    async def _handshake(self, failure: asyncio.Future[str], where: str) -> None:
        """ib_async's connect, cut short by a refusal (326, socket closed) reported on ``failure``."""
        cfg = self._config
        attempt = asyncio.ensure_future(
            self._ib.connectAsync(
                cfg.host,
                cfg.port,
                clientId=cfg.client_id,
                timeout=cfg.connect_timeout,
                readonly=cfg.readonly,
                account=cfg.account,
                raiseSyncErrors=True,
            )
        )
        try:
            done, _ = await asyncio.wait((attempt, failure), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not attempt.done():
                attempt.cancel()
                await asyncio.wait((attempt,))
        if attempt in done:
            attempt.result()
            return
        self._ib.disconnect()
        raise ConnectionFailed(f"cannot connect to IB Gateway at {where}: {failure.result()}")

    # ------------------------------------------------------------------ supervision

    async def _supervise(self) -> None:
        """Reconnect after drops and start the session hooks, until cancelled.

        It awaits only signals, the backoff and its own connect attempts, never a hook (see the
        module docstring): the hooks run in tasks of their own.
        """
        while True:
            signal, session = await self._signals.get()
            self._pending_signals.discard(signal)
            if signal is _Signal.DROPPED:
                await self._end_hooks()
                await self._reconnect()
                self._start_hooks(SessionChange.RECONNECTED)
            elif self.in_session(session):  # a 1101 of an ended session: its successor's hooks ran
                self._start_hooks(SessionChange.DATA_LOST)

    async def _reconnect(self) -> None:
        """Try to connect again, forever, with exponential backoff and jitter."""
        attempt = 0
        while True:
            delay = self._config.backoff.delay(attempt, self._rng)
            log.info("connection.reconnect_wait", attempt=attempt + 1, delay=round(delay, 3))
            await self._clock.sleep(delay)
            try:
                await self._connect_once()
            except ConnectionFailed as exc:
                log.warning("connection.reconnect_failed", attempt=attempt + 1, error=str(exc))
                attempt += 1
            else:
                log.info("connection.reconnected", attempts=attempt + 1, session=self._session)
                return

    def _start_hooks(self, change: SessionChange) -> None:
        """Run the hooks for the current session in a task, after the run before it (if any)."""
        if self._tasks is None:
            return
        runs = [run for run in self._hook_runs if not run.done() and not run.cancelling()]
        if len(runs) > 1:
            return  # a run is already queued behind the running one: it covers this 1101 too
        previous = runs[-1] if runs else None
        run = self._tasks.create_task(
            self._run_hooks(change, self._session, previous),
            name=f"ibbot-connection-hooks-{self._session}-{change.value}",
        )
        self._hook_runs = [*runs, run]

    def _cancel_hooks(self) -> None:
        """Cancel every hook run: their session has ended."""
        cancelled = 0
        for run in self._hook_runs:
            if not run.done() and not run.cancelling():
                run.cancel()
                cancelled += 1
        if cancelled:
            log.info("connection.hooks_cancelled", runs=cancelled, session=self._session)

    async def _end_hooks(self) -> None:
        """Cancel the hook runs and wait (bounded) until they have finished."""
        self._cancel_hooks()
        runs = [run for run in self._hook_runs if not run.done()]
        self._hook_runs = []
        if not runs:
            return
        stopped = True
        try:
            await within(self._clock, _HOOKS_STOP_SECONDS, asyncio.wait(runs))
        except TimeoutError:
            stopped = False
        if not stopped:
            log.error(
                "connection.hooks_not_stopped",
                runs=[run.get_name() for run in runs if not run.done()],
                waited=_HOOKS_STOP_SECONDS,
            )

    async def _run_hooks(
        self, change: SessionChange, session: int, previous: asyncio.Task[None] | None
    ) -> None:
        """Every hook, by phase, for ``session``; stops when the session ends."""
        if previous is not None:
            await asyncio.wait((previous,))
        _SCOPE.set(_Scope(self, session))  # this task's own context: its hooks are bound to it
        log.info("connection.hooks_started", change=change.value, session=session)
        for phase in HookPhase:
            for hook in list(self._hooks[phase]):
                if not self.in_session(session):
                    log.warning(
                        "connection.hooks_interrupted", change=change.value, session=session
                    )
                    return
                name = getattr(hook, "__qualname__", repr(hook))
                log.info(
                    "connection.hook_started",
                    hook=name,
                    phase=phase.value,
                    change=change.value,
                    session=session,
                )
                try:
                    await hook(change)
                except asyncio.CancelledError:
                    raise
                except SessionEnded as exc:
                    log.warning(
                        "connection.hooks_interrupted",
                        hook=name,
                        phase=phase.value,
                        session=session,
                        error=str(exc),
                    )
                    return
                except Exception:  # one failing hook must not stop the others
                    log.exception("connection.hook_failed", hook=name, phase=phase.value)
                else:
                    log.info(
                        "connection.hook_done", hook=name, phase=phase.value, change=change.value
                    )
        log.info("connection.hooks_done", change=change.value, session=session)

    def _signal(self, signal: _Signal) -> None:
        # Signals are idempotent: one pending signal of a kind covers any repeat (queue of 2).
        if signal in self._pending_signals:
            return
        self._pending_signals.add(signal)
        self._signals.put_nowait((signal, self._session))

    # ------------------------------------------------------------------ ib_async callbacks (sync)

    def _on_disconnected(self) -> None:
        if self._closing or self._connecting:
            return
        was_ready = self._ready.is_set()
        self._ready.clear()
        self._cancel_hooks()  # they end with their session, now
        if was_ready:
            self._set_state(ConnectionState.DISCONNECTED, "the Gateway dropped the connection")
            self._signal(_Signal.DROPPED)

    def _on_error(self, req_id: int, code: int, message: str, contract: Contract | None) -> None:
        row = describe(code)
        if code == CLIENT_ID_IN_USE and self._connect_failure is not None:
            if not self._connect_failure.done():
                self._connect_failure.set_result(
                    f"client id {self._config.client_id} is already in use (IB 326)"
                )
            return
        if code in _FARMS_UP:
            self._farms_up.set()
        if row.category in (ErrorCategory.CONNECTIVITY, ErrorCategory.FARM_STATUS):
            log.info("connection.notice", code=code, message=message, category=row.category.value)
        self._track_link(code, message)

    def _track_link(self, code: int, message: str) -> None:
        """Follow what is broken; publish a status when the set changes (and on every 1101)."""
        status = connection_status_for(
            code,
            message,
            host=self._config.host,
            port=self._config.port,
            client_id=self._config.client_id,
        )
        if status is None:
            return
        farm = _FARM_CODES.get(code)
        key = (farm[0], message.rpartition(":")[2].strip()) if farm else _IB_LINK
        changed = False
        if status.state is ConnectionState.DEGRADED:
            changed = key not in self._broken
            self._broken.add(key)
        elif key in self._broken:
            self._broken.discard(key)
            changed = True
        elif farm is None:
            # 1101/1102 without a 1100 first: the link bounced while we were not looking.
            self._broken = {k for k in self._broken if k != _IB_LINK}
        if code == DATA_LOST:
            changed = True
            self._signal(_Signal.DATA_LOST)
        if not changed or not self._ready.is_set():
            return
        self._state = ConnectionState.DEGRADED if self._broken else ConnectionState.CONNECTED
        log.warning(
            "connection.degraded"
            if status.state is ConnectionState.DEGRADED
            else "connection.restored",
            code=code,
            message=message,
            data_lost=status.data_lost,
            broken=sorted(f"{kind}:{name}" if name else kind for kind, name in self._broken),
        )
        self._publish(status)

    # ------------------------------------------------------------------ state changes

    def _set_state(self, state: ConnectionState, message: str) -> None:
        if state is self._state:
            return
        previous, self._state = self._state, state
        log.info("connection.state", state=state.value, previous=previous.value, message=message)
        self._publish(
            ConnectionStatus(
                state=state,
                message=message,
                host=self._config.host,
                port=self._config.port,
                client_id=self._config.client_id,
            )
        )

    def _publish(self, status: ConnectionStatus) -> None:
        self._outbox.put(
            Event(
                type=EventType.CONNECTION,
                symbol=None,
                timestamp=self._market_clock.now(),
                payload=status,
                source="ib",
                ingested_at=self._market_clock.now(),
            )
        )
