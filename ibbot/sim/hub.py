"""The simulated gateway's hub: it builds the shared world and its services, and knows who is connected.

Everything that must outlive a client connection lives here, so orders, executions, positions and
pacing history survive reconnects within the process, as they do in a real IB Gateway. Sessions
come and go; the hub knows which client id each one holds (IB allows one connection per client id;
a second gets error 326) and greets a newly started API session with the accounts, the next valid
order id and the data-farm notices TWS sends at login. The services get the :class:`World` (with the
hub as their :class:`~ibbot.sim.ports.ClientDirectory`), never the hub or a session: the hub is
generic in the session type, so it needs nothing of a session beyond :class:`ClientPort`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING, Generic, TypeVar

import structlog

from ibbot.exchange import Exchange
from ibbot.sim import messages as msg
from ibbot.sim.accounts import AccountBook
from ibbot.sim.budget import InboundBudget
from ibbot.sim.contracts import ContractBook
from ibbot.sim.faults import FaultState
from ibbot.sim.handlers import build_handlers
from ibbot.sim.ibtime import format_connection_time
from ibbot.sim.market import MarketSimulator
from ibbot.sim.market_data import MarketDataService
from ibbot.sim.orders import OrderDesk
from ibbot.sim.pacing import RequestPacer
from ibbot.sim.ports import ClientPort
from ibbot.sim.protocol import ErrorCode
from ibbot.sim.secdef import SecDefService
from ibbot.sim.world import World

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ibbot.clock import Clock
    from ibbot.sim.config import SimConfig
    from ibbot.sim.ports import Handler

__all__ = ["Hub"]

log = structlog.get_logger(__name__)

# The notices TWS sends every new API session once it is ready: market data, historical data and
# security-definition farms are connected.
LOGIN_NOTICES = (ErrorCode.MARKET_FARM_OK, ErrorCode.HMDS_FARM_OK, ErrorCode.SECDEF_FARM_OK)

Session = TypeVar("Session", bound=ClientPort)


class Hub(Generic[Session]):
    """Shared state of one simulated gateway (owned by :class:`ibbot.sim.gateway.SimulatedGateway`)."""

    def __init__(self, config: SimConfig, clock: Clock, *, record: bool = False) -> None:
        self.config = config
        self.clock = clock
        self.contracts = ContractBook(config.active_universe)
        self.market = MarketSimulator(config.active_universe, seed=config.seed)
        self.exchange = Exchange(
            account=config.account,
            starting_cash=config.starting_cash,
            slippage_bps=config.slippage_bps,
            symbols=config.active_universe,
            session=config.session,
        )
        self.pacer = RequestPacer(
            clock.monotonic, enabled=config.pacing, strict=config.strict_pacing
        )
        self.faults = FaultState()
        self.world = World(
            config=config,
            clock=clock,
            contracts=self.contracts,
            market=self.market,
            exchange=self.exchange,
            pacer=self.pacer,
            faults=self.faults,
            clients=self,
        )
        self.accounts = AccountBook(self.world)
        self.orders = OrderDesk(self.world, self.accounts)
        self.data = MarketDataService(self.world)
        self.secdef = SecDefService(self.world)
        self.handlers: dict[int, Handler] = build_handlers(
            self.world, self.data, self.orders, self.accounts, self.secdef
        )
        self._by_client_id: dict[int, Session] = {}
        self._sessions: set[Session] = set()
        self.inbound: InboundBudget[Session] = InboundBudget(config.max_buffered_bytes)
        self._next_order_id: dict[int, int] = defaultdict(lambda: 1)
        self._record = record
        self.transcripts: dict[int, list[bytes]] = {}
        self._clients_changed = asyncio.Event()

    # ---------------------------------------------------------------- sessions

    def attach(self, session: Session) -> None:
        """Track a new connection (before its API has started)."""
        self._sessions.add(session)
        if self._record:
            self.transcripts[session.number] = []

    def claim(self, session: Session, client_id: int) -> bool:
        """Bind ``client_id`` to ``session``; False when another live session holds it."""
        holder = self._by_client_id.get(client_id)
        if holder is not None and holder is not session:
            return False
        self._by_client_id[client_id] = session
        self._notify_clients()
        return True

    def release(self, session: Session) -> None:
        """Forget a closed connection, its buffered bytes and its client id."""
        self._sessions.discard(session)
        self.inbound.release(session)
        if session.client_id is not None and self._by_client_id.get(session.client_id) is session:
            del self._by_client_id[session.client_id]
            self._notify_clients()

    def client_ids(self) -> set[int]:
        """The client ids of every live API session."""
        return set(self._by_client_id)

    def _notify_clients(self) -> None:
        # wake every waiter, then start a fresh event for the next change
        self._clients_changed.set()
        self._clients_changed = asyncio.Event()

    async def wait_for_clients(self, predicate: Callable[[set[int]], bool]) -> None:
        """Return once ``predicate(client ids)`` holds, re-checking at every connect/disconnect."""
        while not predicate(self.client_ids()):
            await self._clients_changed.wait()

    def session_for(self, client_id: int) -> Session | None:
        """The live API session holding ``client_id``."""
        return self._by_client_id.get(client_id)

    def api_sessions(self) -> Iterator[Session]:
        """Every session whose API has started."""
        return iter(list(self._by_client_id.values()))

    def all_sessions(self) -> list[Session]:
        """Every open connection, started or not."""
        return list(self._sessions)

    def greet(self, session: Session) -> None:
        """What TWS sends right after startApi: accounts, next order id, farm notices."""
        assert session.client_id is not None
        session.send(msg.managed_accounts([self.config.account]))
        session.send(msg.next_valid_id(self.next_order_id(session.client_id)))
        for code in LOGIN_NOTICES:
            session.send_error(-1, code)

    def broadcast_notice(self, code: ErrorCode) -> int:
        """Send a system notice (reqId -1) to every API session; returns how many got it.

        1101 means IB restored connectivity but lost the market data subscriptions: every
        session's ticks, real-time bars and keepUpToDate bars stop, and clients must request
        them again, as with IB.
        """
        sessions = list(self.api_sessions())
        for session in sessions:
            if code is ErrorCode.CONNECTIVITY_RESTORED_DATA_LOST:
                self.data.drop_subscriptions(session)
            session.send_error(-1, code)
        return len(sessions)

    # ---------------------------------------------------------------- ids and time

    def next_order_id(self, client_id: int) -> int:
        """The lowest order id this client has not used yet."""
        return self._next_order_id[client_id]

    def use_order_id(self, client_id: int, order_id: int) -> None:
        """Note that ``client_id`` used ``order_id`` (ids only ever grow)."""
        if order_id >= self._next_order_id[client_id]:
            self._next_order_id[client_id] = order_id + 1

    def connection_time(self) -> str:
        """The handshake's connection-time field."""
        return format_connection_time(self.clock.now())

    def record(self, session: Session, frame: bytes) -> None:
        """Keep an outgoing frame when transcripts are on (determinism tests compare them)."""
        if self._record:
            self.transcripts.setdefault(session.number, []).append(frame)
