"""IBConnection against the simulated gateway: readiness, fail-fast, reconnects, notices."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING

import pytest

from ibbot.broker.connection import ConnectionConfig, HookPhase, IBConnection, SessionChange
from ibbot.clock import WallClock
from ibbot.errors import ConnectionFailed, SessionEnded
from ibbot.models import ConnectionState, EventType
from tests.integration.broker_support import connection_config, harness

if TYPE_CHECKING:
    from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_connects_ready_with_paper_account_and_status_events(tmp_path: Path) -> None:
    """Entering connects: ready, the managed paper account known, CONNECTED published."""
    async with harness(tmp_path) as h:
        conn = h.connection
        assert conn.is_ready
        assert conn.state is ConnectionState.CONNECTED
        assert conn.accounts == ("DU1234567",)
        assert conn.account == "DU1234567"
        assert conn.is_paper
        assert conn.session == 1
        first, second = conn.next_order_id(), conn.next_order_id()
        assert second == first + 1
        await h.recorder.wait_for(
            lambda: any(
                e.payload.state is ConnectionState.CONNECTED
                for e in h.recorder.of(EventType.CONNECTION)
            )
        )
        states = [e.payload.state for e in h.recorder.of(EventType.CONNECTION)]
        assert states[:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]


async def test_order_ids_only_on_the_loop_thread(tmp_path: Path) -> None:
    """next_order_id from another thread is refused plainly; the sequence is not touched."""
    async with harness(tmp_path) as h:
        conn = h.connection
        first = conn.next_order_id()
        with pytest.raises(RuntimeError, match="event loop the connection runs on"):
            await asyncio.to_thread(conn.next_order_id)
        assert conn.next_order_id() == first + 1


async def test_refused_port_fails_fast() -> None:
    """Nothing listening on the port: ConnectionFailed at once, naming the address."""
    port = _free_port()
    conn = IBConnection(ConnectionConfig(port=port, connect_timeout=5.0), clock=WallClock())
    started = time.monotonic()
    with pytest.raises(ConnectionFailed, match=f"127.0.0.1:{port} refused"):
        await conn.connect()
    assert time.monotonic() - started < 2.0
    assert conn.state is ConnectionState.DISCONNECTED
    await conn.close()


async def test_client_id_in_use_fails_fast(tmp_path: Path) -> None:
    """A second client with the same id gets 326: ConnectionFailed without waiting for the timeout."""
    async with harness(tmp_path, client_id=7) as h:
        twin = IBConnection(connection_config(h.gateway, 7, connect_timeout=8.0), clock=WallClock())
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="client id 7 is already in use"):
            await twin.connect()
        assert time.monotonic() - started < 3.0
        await twin.close()
        assert h.connection.is_ready


async def test_unmanaged_account_is_refused(tmp_path: Path) -> None:
    """A configured account the login does not manage is a connect failure, not a silent switch."""
    async with harness(tmp_path) as h:
        other = IBConnection(
            connection_config(h.gateway, 9, account="DU7654321"), clock=WallClock()
        )
        with pytest.raises(ConnectionFailed, match="does not manage the configured account"):
            await other.connect()
        await other.close()


async def test_reconnects_after_drop_and_runs_hooks_in_phase_order(tmp_path: Path) -> None:
    """All connections dropped: the connection comes back by itself and runs reconcile, then
    resubscribe."""
    async with harness(tmp_path) as h:
        calls: list[tuple[str, SessionChange]] = []
        done = asyncio.Event()

        async def reconcile(change: SessionChange) -> None:
            calls.append(("reconcile", change))

        async def resubscribe(change: SessionChange) -> None:
            calls.append(("resubscribe", change))
            done.set()

        async def broken(change: SessionChange) -> None:
            raise RuntimeError("a failing hook must not stop the others")

        h.connection.add_session_hook(reconcile, phase=HookPhase.RECONCILE)
        h.connection.add_session_hook(broken)
        h.connection.add_session_hook(resubscribe)
        assert h.gateway.drop_connections() == 1
        async with asyncio.timeout(10):
            await done.wait()
        assert calls == [
            ("reconcile", SessionChange.RECONNECTED),
            ("resubscribe", SessionChange.RECONNECTED),
        ]
        assert h.connection.is_ready
        assert h.connection.session == 2

        def states() -> list[ConnectionState]:
            return [e.payload.state for e in h.recorder.of(EventType.CONNECTION)]

        await h.recorder.wait_for(lambda: states()[-1] is ConnectionState.CONNECTED)
        assert ConnectionState.DISCONNECTED in states()


async def test_reconnects_after_a_restart_that_refuses_connections(tmp_path: Path) -> None:
    """A Gateway restart refuses connections for a while; the backoff keeps trying until it is back."""
    async with harness(tmp_path) as h:
        back = asyncio.Event()

        async def on_session(change: SessionChange) -> None:
            back.set()

        h.connection.add_session_hook(on_session)
        await h.gateway.restart(1.0)
        async with asyncio.timeout(15):
            await back.wait()
        assert h.connection.session == 2
        attempts = [
            e
            for e in h.recorder.of(EventType.CONNECTION)
            if e.payload.state is ConnectionState.CONNECTING
        ]
        assert len(attempts) >= 3  # the first connect, then retries while the port was closed


async def test_1101_runs_hooks_with_data_lost_and_1100_degrades(tmp_path: Path) -> None:
    """1100 degrades the connection; 1101 restores it with data lost and runs the session hooks."""
    async with harness(tmp_path) as h:
        changes: list[SessionChange] = []
        ran = asyncio.Event()

        async def hook(change: SessionChange) -> None:
            changes.append(change)
            ran.set()

        h.connection.add_session_hook(hook)
        h.gateway.send_notice(1100)
        await h.recorder.wait_for(lambda: h.connection.state is ConnectionState.DEGRADED)
        h.gateway.send_notice(1101)
        async with asyncio.timeout(10):
            await ran.wait()
        assert changes == [SessionChange.DATA_LOST]
        assert h.connection.state is ConnectionState.CONNECTED
        assert h.connection.session == 1  # same socket

        def restored() -> bool:
            statuses = [e.payload for e in h.recorder.of(EventType.CONNECTION)]
            return any(s.state is ConnectionState.RESTORED and s.data_lost for s in statuses)

        await h.recorder.wait_for(restored)
        statuses = [e.payload for e in h.recorder.of(EventType.CONNECTION)]
        assert any(s.state is ConnectionState.DEGRADED and s.code == 1100 for s in statuses)


async def test_farm_notices_degrade_and_restore(tmp_path: Path) -> None:
    """A broken market data farm degrades the connection until its OK notice."""
    async with harness(tmp_path) as h:
        h.gateway.send_notice(2103)
        await h.recorder.wait_for(lambda: h.connection.state is ConnectionState.DEGRADED)
        h.gateway.send_notice(2104)
        await h.recorder.wait_for(lambda: h.connection.state is ConnectionState.CONNECTED)


async def test_close_is_idempotent_and_stops_reconnecting(tmp_path: Path) -> None:
    """After close the connection stays down even if the gateway is there; closing twice is fine."""
    async with harness(tmp_path) as h:
        await h.connection.close()
        await h.connection.close()
        assert not h.connection.is_ready
        assert h.connection.state is ConnectionState.DISCONNECTED
        await h.gateway.wait_for_clients(lambda ids: 1 not in ids)


async def test_a_drop_while_the_positions_hook_waits_for_the_connection_still_reconnects(
    tmp_path: Path,
) -> None:
    """The gateway drops while the positions hook is about to ask for positions: the hook ends
    with its session and the supervisor reconnects and runs the hooks again (no deadlock)."""
    async with harness(tmp_path) as h:
        conn = h.connection
        sessions: list[int] = []
        started = asyncio.Event()

        async def positions(change: SessionChange) -> None:
            sessions.append(conn.session)
            if len(sessions) == 1:
                started.set()
                # As LiveTrader.reconcile: something to wait for first, then IB's positions.
                await h.recorder.wait_for(lambda: not conn.is_ready)
                await h.requests.positions()

        conn.add_session_hook(positions, phase=HookPhase.POSITIONS)
        assert h.gateway.drop_connections() == 1
        async with asyncio.timeout(15):
            await started.wait()
        assert h.gateway.drop_connections() == 1
        await h.recorder.wait_for(lambda: conn.session == 3 and len(sessions) == 2, seconds=15)
        assert conn.is_ready
        assert sessions == [2, 3]


async def test_requests_bound_to_a_session_end_with_it_instead_of_waiting(tmp_path: Path) -> None:
    """In a session scope a request after a drop raises SessionEnded at once; outside one it waits
    for the next session and is answered."""
    async with harness(tmp_path) as h:
        conn = h.connection
        with conn.session_scope() as session:
            assert session == 1
            assert await h.requests.positions() == []
            assert h.gateway.drop_connections() == 1
            await h.recorder.wait_for(lambda: not conn.is_ready)
            with pytest.raises(SessionEnded, match="session 1 has ended"):
                await h.requests.positions()
        assert await h.requests.positions() == []  # waited for session 2
        assert conn.session == 2
        with conn.session_scope():
            assert await h.requests.positions() == []
        h.gateway.drop_connections()
        await h.recorder.wait_for(lambda: not conn.is_ready)
        with pytest.raises(SessionEnded), conn.session_scope():
            pass
