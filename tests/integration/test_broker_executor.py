"""OrderExecutor against the simulated gateway: fills, audit, reconciliation, refusals."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest

from ibbot.broker.connection import IBConnection
from ibbot.broker.executor import UNCONFIRMED_MESSAGE, ExecutorConfig, OrderExecutor
from ibbot.broker.requests import IBRequests
from ibbot.errors import BrokerError, LiveTradingRefused
from ibbot.models import EventType, Fill, Order, OrderResult, OrderSide, OrderStatus, OrderType
from ibbot.pacing import IBPacer
from ibbot.store import AsyncStore
from tests.integration.broker_support import Harness, background, connection_config, harness

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from ibbot.store import DataStore


def _executor(h: Harness, **config: object) -> OrderExecutor:
    return OrderExecutor(
        h.connection,
        h.requests,
        h.store,
        h.bus,
        config=ExecutorConfig(**config),  # type: ignore[arg-type]
    )


@asynccontextmanager
async def _restarted(h: Harness, client_id: int) -> AsyncIterator[OrderExecutor]:
    """A new run of ibbot: a fresh connection with the same client id and a fresh executor on the
    same store, running for the block."""
    again = IBConnection(
        connection_config(h.gateway, client_id),
        clock=h.clock,
        market_clock=h.market_clock,
        publisher=h.bus,
    )
    async with again:
        requests = IBRequests(again, h.pacer, policy=h.requests.policy)
        executor = OrderExecutor(again, requests, h.store, h.bus, config=ExecutorConfig())
        async with background(executor.run()):
            yield executor


def _fills(h: Harness) -> list[Fill]:
    return [e.payload for e in h.recorder.of(EventType.FILL) if isinstance(e.payload, Fill)]


async def test_market_order_filled_audited_and_published(tmp_path: Path) -> None:
    """A market order fills; the result is honest, audited, and the fill published once with commission."""
    async with harness(tmp_path) as h:
        executor = _executor(h, submit_timeout=5.0)
        async with background(executor.run()):
            order = Order("value", "AAPL", OrderSide.BUY, 10, decision_id="d-1")
            result = await executor.submit(order)
            assert result.status is OrderStatus.FILLED
            assert result.fill_quantity == 10
            assert result.fill_price is not None
            assert result.fill_price > 0
            assert result.perm_id > 0
            assert (result.strategy_name, result.decision_id) == ("value", "d-1")
            await h.recorder.wait_for(lambda: len(_fills(h)) == 1)
            await executor.flush()
        (fill,) = _fills(h)
        assert (fill.strategy_name, fill.decision_id, fill.quantity) == ("value", "d-1", 10)
        assert fill.commission == 1.0
        assert executor.get_order_status(result.order_id).status is OrderStatus.FILLED
        audited = await h.store.read_orders(strategy="value")
        assert next(r.status for _, r in audited) is OrderStatus.PENDING  # written before sending
        assert audited[-1][1].status is OrderStatus.FILLED
        fills = await h.store.read_audit("fills")
        assert [e.record["exec_id"] for e in fills] == [fill.exec_id]
        statuses = [e.payload.status for e in h.recorder.of(EventType.ORDER_STATUS)]
        assert statuses[-1] is OrderStatus.FILLED


async def test_limit_order_returns_submitted_honestly_and_cancels(tmp_path: Path) -> None:
    """A limit order far from the market is SUBMITTED after the timeout, not filled; cancel works."""
    async with harness(tmp_path) as h:
        executor = _executor(h)
        async with background(executor.run()):
            order = Order(
                "v", "AAPL", OrderSide.BUY, 5, OrderType.LIMIT, limit_price=1.0, decision_id="x"
            )
            result = await executor.submit(order, timeout=0.5)
            assert result.status is OrderStatus.SUBMITTED
            assert result.fill_price is None
            assert executor.open_orders() == [executor.get_order_status(result.order_id)]
            assert await executor.cancel(result.order_id, timeout=5.0)
            assert executor.get_order_status(result.order_id).status is OrderStatus.CANCELLED
            assert not await executor.cancel(result.order_id)
        with pytest.raises(BrokerError, match="no order with id"):
            executor.get_order_status(999_999)


async def test_rejected_order_is_rejected_with_reason(tmp_path: Path) -> None:
    """IB's 201 comes back as REJECTED with IB's reason, not as cancelled."""
    async with harness(tmp_path) as h:
        executor = _executor(h)
        h.gateway.reject_next_orders(1, code=201, message="Order rejected - reason: test")
        async with background(executor.run()):
            result = await executor.submit(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="r"))
        assert result.status is OrderStatus.REJECTED
        assert result.message is not None
        assert "201" in result.message


async def test_fill_while_disconnected_is_reconciled_exactly_once(tmp_path: Path) -> None:
    """An order filled while we were away is reconciled after reconnect, once, and never re-sent."""
    async with harness(tmp_path, client_id=4) as h:
        executor = _executor(h)
        async with background(executor.run()):
            order = Order(
                "away",
                "AAPL",
                OrderSide.BUY,
                7,
                OrderType.LIMIT,
                limit_price=100.0,
                decision_id="a1",
            )
            result = await executor.submit(order, timeout=0.5)
            assert result.status is OrderStatus.SUBMITTED
            h.gateway.drop_connections()
            await h.gateway.wait_for_clients(lambda ids: 4 not in ids)
            h.gateway.fill_order(4, result.order_id)
            await h.recorder.wait_for(lambda: len(_fills(h)) == 1, seconds=15)
            await h.recorder.wait_for(
                lambda: executor.get_order_status(result.order_id).status is OrderStatus.FILLED
            )
            # A second outage: the same execution comes back from IB and must not count again.
            session = h.connection.session
            h.gateway.drop_connections()
            await h.recorder.wait_for(lambda: h.connection.session > session, seconds=15)
            await executor.reconcile()
            await executor.flush()
        assert len(_fills(h)) == 1
        assert _fills(h)[0].decision_id == "a1"
        exchange = h.gateway.truth()["exchange"]
        sent = [
            o
            for o in exchange["open_orders"] + exchange["completed_orders"]
            if o["order_ref"] == "away:a1"
        ]
        assert len(sent) == 1  # never re-sent
        assert len(exchange["executions"]) == 1


async def test_audited_fills_are_not_published_again_by_a_new_run(tmp_path: Path) -> None:
    """A fresh executor (a restart of ibbot) remembers audited fills and does not publish them twice."""
    async with harness(tmp_path) as h:
        first = _executor(h, submit_timeout=5.0)
        async with background(first.run()):
            result = await first.submit(Order("v", "AAPL", OrderSide.BUY, 3, decision_id="once"))
            assert result.status is OrderStatus.FILLED
            await h.recorder.wait_for(lambda: len(_fills(h)) == 1)
            await first.flush()
        second = _executor(h)
        async with background(second.run()):
            await second.reconcile()
            await second.flush()
        assert len(_fills(h)) == 1


async def test_live_account_is_refused_and_audited(tmp_path: Path) -> None:
    """Connected to a non-DU account without consent: LiveTradingRefused and an audit entry."""
    async with harness(tmp_path, sim={"account": "U1234567"}) as h:
        assert not h.connection.is_paper
        executor = _executor(h)
        async with background(executor.run()):
            with pytest.raises(LiveTradingRefused, match="not a paper account"):
                await executor.submit(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="live"))
        audited = await h.store.read_orders(strategy="v")
        assert [r.status for _, r in audited] == [OrderStatus.BLOCKED]
        exchange = h.gateway.truth()["exchange"]
        assert exchange["open_orders"] == exchange["completed_orders"] == []


async def test_live_account_allowed_when_enabled(tmp_path: Path) -> None:
    """With live trading explicitly allowed, the same order is sent."""
    async with harness(tmp_path, sim={"account": "U1234567"}) as h:
        executor = _executor(h, allow_live_trading=True, submit_timeout=5.0)
        async with background(executor.run()):
            result = await executor.submit(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="ok"))
        assert result.status is OrderStatus.FILLED


async def test_read_only_mode_never_sends(tmp_path: Path) -> None:
    """Read-only: the order is audited as BLOCKED and the gateway never sees it."""
    async with harness(tmp_path) as h:
        executor = _executor(h, readonly=True)
        async with background(executor.run()):
            result = await executor.submit(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="ro"))
        assert result.status is OrderStatus.BLOCKED
        assert "read-only" in (result.message or "")
        assert [r.status for _, r in await h.store.read_orders()] == [OrderStatus.BLOCKED]


async def test_not_connected_blocks_instead_of_queueing(tmp_path: Path) -> None:
    """While disconnected an order is refused at once (BLOCKED), never queued to be sent later."""
    async with harness(tmp_path) as h:
        executor = _executor(h)
        await h.gateway.restart(5.0)
        await h.recorder.wait_for(lambda: not h.connection.is_ready)
        async with background(executor.run()):
            result = await executor.submit(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="nc"))
        assert result.status is OrderStatus.BLOCKED
        assert "not connected" in (result.message or "")


async def test_a_new_run_adopts_orders_of_the_previous_one(tmp_path: Path) -> None:
    """After a restart of ibbot, orders it left working are found, tracked and their fills published."""
    async with harness(tmp_path, client_id=6) as h:
        first = _executor(h)
        async with background(first.run()):
            order = Order(
                "keep",
                "AAPL",
                OrderSide.BUY,
                4,
                OrderType.LIMIT,
                limit_price=100.0,
                decision_id="k1",
            )
            placed = await first.submit(order, timeout=0.5)
            assert placed.status is OrderStatus.SUBMITTED
        await h.connection.close()
        await h.gateway.wait_for_clients(lambda ids: 6 not in ids)
        async with _restarted(h, 6) as second:
            await h.recorder.wait_for(
                lambda: any(
                    r.perm_id == placed.perm_id and r.status is OrderStatus.SUBMITTED
                    for r in second.open_orders()
                )
            )
            h.gateway.fill_order(6, placed.order_id)
            await h.recorder.wait_for(lambda: len(_fills(h)) == 1)
            await h.recorder.wait_for(lambda: not second.open_orders())
            await second.flush()
        (fill,) = _fills(h)
        assert (fill.strategy_name, fill.decision_id, fill.perm_id) == (
            "keep",
            "k1",
            placed.perm_id,
        )
        adopted = await h.store.read_audit("orders")
        assert any(e.record.get("order_ref") == "keep:k1" for e in adopted)


async def test_a_restart_after_a_crash_adopts_what_ib_knows_and_never_resends_the_rest(
    tmp_path: Path,
) -> None:
    """The crash windows: an order IB accepted and filled while ibbot was down is adopted and its
    fill published once; an order whose write-ahead line is all that exists is audited as
    unconfirmed, not re-sent; a further restart settles nothing twice."""
    async with harness(tmp_path, client_id=7) as h:
        first = _executor(h)
        async with background(first.run()):  # leaving the block cancels it: the "crash"
            placed = await first.submit(
                Order(
                    "crash",
                    "AAPL",
                    OrderSide.BUY,
                    5,
                    OrderType.LIMIT,
                    limit_price=100.0,
                    decision_id="at-ib",
                ),
                timeout=0.5,
            )
            assert placed.status is OrderStatus.SUBMITTED
        # What a crash between the write-ahead line and placeOrder leaves: the line, no order.
        ghost = Order("crash", "MSFT", OrderSide.BUY, 3, decision_id="never-sent")
        await h.store.log_order(
            "crash",
            ghost,
            OrderResult(
                order_id=99,
                status=OrderStatus.PENDING,
                message="sending",
                symbol="MSFT",
                strategy_name="crash",
                decision_id="never-sent",
            ),
        )
        await h.connection.close()
        await h.gateway.wait_for_clients(lambda ids: 7 not in ids)
        h.gateway.fill_order(7, placed.order_id)  # filled while ibbot is down

        for _ in range(2):  # the restart, then another one
            async with _restarted(h, 7) as second:
                await h.recorder.wait_for(lambda: len(_fills(h)) == 1)
                await second.reconcile()  # settled by now, whichever reconcile came first
                await second.flush()

    (fill,) = _fills(h)
    assert (fill.strategy_name, fill.decision_id, fill.quantity) == ("crash", "at-ib", 5)
    exchange = h.gateway.truth()["exchange"]
    sent = [o["order_ref"] for o in exchange["open_orders"] + exchange["completed_orders"]]
    assert sent == ["crash:at-ib"]  # the ghost was never sent
    assert len(exchange["executions"]) == 1
    lines = await h.store.read_audit("orders")
    ghost_lines = [e.record for e in lines if e.record["order_ref"] == "crash:never-sent"]
    assert len(ghost_lines) == 2  # the write-ahead line, then one settlement over two restarts
    assert ghost_lines[-1]["status"] == "rejected"
    assert ghost_lines[-1]["message"] == UNCONFIRMED_MESSAGE
    adopted = [e.record for e in lines if e.record["order_ref"] == "crash:at-ib"]
    assert adopted[-1].get("result", adopted[-1])["status"] == "filled"
    settled = [e.record["unconfirmed"] for e in await h.store.read_audit("reconciliation")]
    assert sum(settled) == 1


class HeldPacer(IBPacer):
    """A pacer that keeps one task waiting in :meth:`message` until :meth:`release`."""

    def __init__(self, pacer: IBPacer) -> None:
        super().__init__(pacer._clock, pacer.rules)
        self.holding = asyncio.Event()
        self._held: asyncio.Task[Any] | None = None
        self._released = asyncio.Event()

    def hold(self, task: asyncio.Task[Any]) -> None:
        self._held = task

    def release(self) -> None:
        self._released.set()

    async def message(self) -> None:
        if asyncio.current_task() is self._held:
            self.holding.set()
            await self._released.wait()
        await super().message()


async def test_an_order_waiting_to_leave_is_not_declared_lost_by_a_reconcile(
    tmp_path: Path,
) -> None:
    """A reconcile (after a reconnect) while an order waits at the pacer, write-ahead line written
    but not yet placed: the order is in flight, not "never reached IB"; it is sent once and fills."""
    async with harness(tmp_path, client_id=8) as h:
        pacer = HeldPacer(h.pacer)
        requests = IBRequests(h.connection, pacer, policy=h.requests.policy)
        executor = OrderExecutor(
            h.connection, requests, h.store, h.bus, config=ExecutorConfig(submit_timeout=5.0)
        )
        # The contract is known, so the pacer call submit() is held at is the one before placeOrder.
        await h.store.write_contract(await requests.qualify("AAPL"))
        async with background(executor.run()):
            order = Order("inflight", "AAPL", OrderSide.BUY, 2, decision_id="w1")
            submitted = asyncio.ensure_future(executor.submit(order))
            pacer.hold(submitted)
            async with asyncio.timeout(10):
                await pacer.holding.wait()
            await executor.reconcile()
            (waiting,) = executor.open_orders()
            assert waiting.status is OrderStatus.PENDING
            pacer.release()
            result = await submitted
            await executor.flush()
        assert result.status is OrderStatus.FILLED
        statuses = [
            e.payload.status
            for e in h.recorder.of(EventType.ORDER_STATUS)
            if isinstance(e.payload, OrderResult)
        ]
        assert OrderStatus.REJECTED not in statuses
        audited = [r.status for _, r in await h.store.read_orders(strategy="inflight")]
        assert OrderStatus.REJECTED not in audited
        refs = [o["order_ref"] for o in h.gateway.truth()["exchange"]["completed_orders"]]
        assert refs.count("inflight:w1") == 1


class SlowDiskStore(AsyncStore):
    """The store on a disk so slow that no write run in a worker thread ends until :attr:`disk`
    is set; the write half of an order's write-ahead line is the only write that goes ahead."""

    def __init__(self, store: DataStore) -> None:
        super().__init__(store)
        self.disk = asyncio.Event()

    async def log_order(self, strategy_name: str, order: Order, result: OrderResult) -> None:
        await self.disk.wait()
        await super().log_order(strategy_name, order, result)

    async def log_audit(
        self,
        kind: str,
        record: Mapping[str, Any],
        *,
        strategy: str | None = None,
        symbol: str | None = None,
    ) -> None:
        await self.disk.wait()
        await super().log_audit(kind, record, strategy=strategy, symbol=symbol)


async def test_the_write_ahead_line_is_on_file_before_the_order_leaves(tmp_path: Path) -> None:
    """When the order reaches placeOrder its write-ahead line is already in the orders audit file,
    written on the loop, whatever the worker threads are doing (here: stuck on a slow disk)."""
    async with harness(tmp_path, client_id=9) as h:
        store = SlowDiskStore(h.store.store)
        pacer = HeldPacer(h.pacer)
        requests = IBRequests(h.connection, pacer, policy=h.requests.policy)
        executor = OrderExecutor(
            h.connection, requests, store, h.bus, config=ExecutorConfig(submit_timeout=5.0)
        )
        # The contract is known, so the pacer call submit() is held at is the one before placeOrder.
        await h.store.write_contract(await requests.qualify("AAPL"))
        async with background(executor.run()):
            order = Order("ahead", "AAPL", OrderSide.BUY, 3, decision_id="wa1")
            submitted = asyncio.ensure_future(executor.submit(order))
            pacer.hold(submitted)
            async with asyncio.timeout(10):
                await pacer.holding.wait()
            on_file = h.store.store.read_orders(strategy="ahead")
            assert [(o.order_ref, r.status, r.message) for o, r in on_file] == [
                ("ahead:wa1", OrderStatus.PENDING, "sending")
            ]
            assert h.gateway.truth()["exchange"]["completed_orders"] == []
            store.disk.set()
            pacer.release()
            result = await submitted
            await executor.flush()
        assert result.status is OrderStatus.FILLED
        audited = [r.status for _, r in await h.store.read_orders(strategy="ahead")]
        assert audited[0] is OrderStatus.PENDING
        assert audited[-1] is OrderStatus.FILLED


async def test_unknown_symbol_is_rejected_before_sending(tmp_path: Path) -> None:
    """An order for a symbol IB cannot describe is REJECTED with the reason and never sent."""
    async with harness(tmp_path) as h:
        executor = _executor(h)
        async with background(executor.run()):
            result = await executor.submit(Order("v", "NOPE", OrderSide.BUY, 1, decision_id="n"))
        assert result.status is OrderStatus.REJECTED
        assert "cannot trade" in (result.message or "")
        exchange = h.gateway.truth()["exchange"]
        assert exchange["open_orders"] == exchange["completed_orders"] == []


async def test_recovered_fills_carry_the_commission_ib_reported_without_waiting(
    tmp_path: Path,
) -> None:
    """Fills made while away come back from reqExecutions with their commission reports: audited
    and published with the commission, at once (no wait for a report that already came)."""
    async with harness(tmp_path, client_id=5) as h:
        # A fill waiting for a commission report would wait far longer than this test may take.
        executor = _executor(h, commission_wait=120.0)
        async with background(executor.run()):
            orders = []
            for n, symbol in enumerate(("AAPL", "MSFT")):
                order = Order(
                    "away",
                    symbol,
                    OrderSide.BUY,
                    3 + n,
                    OrderType.LIMIT,
                    limit_price=1.0,
                    decision_id=f"c{n}",
                )
                orders.append(await executor.submit(order, timeout=0.5))
            h.gateway.drop_connections()
            await h.gateway.wait_for_clients(lambda ids: 5 not in ids)
            for result in orders:
                h.gateway.fill_order(5, result.order_id)
            await h.recorder.wait_for(lambda: len(_fills(h)) == 2, seconds=20)
            await executor.flush()
        truth = {e["exec_id"]: e["commission"] for e in h.gateway.truth()["exchange"]["executions"]}
        assert None not in truth.values()
        assert {f.exec_id: f.commission for f in _fills(h)} == truth
        audited = await h.store.read_audit("fills")
        assert {e.record["exec_id"]: e.record["commission"] for e in audited} == truth


async def test_a_new_run_recovers_fills_made_while_it_was_down_with_their_commission(
    tmp_path: Path,
) -> None:
    """A restart finds an order of the last run filled while nobody ran: the fill is published
    once, with the commission IB reported, without waiting for another report."""
    async with harness(tmp_path, client_id=6) as h:
        first = _executor(h)
        async with background(first.run()):
            order = Order(
                "away", "AAPL", OrderSide.BUY, 4, OrderType.LIMIT, limit_price=1.0, decision_id="r1"
            )
            result = await first.submit(order, timeout=0.5)
        await h.connection.close()
        await h.gateway.wait_for_clients(lambda ids: 6 not in ids)
        h.gateway.fill_order(6, result.order_id)
        again = IBConnection(
            connection_config(h.gateway, 6),
            clock=h.clock,
            market_clock=h.market_clock,
            publisher=h.bus,
        )
        async with again:
            requests = IBRequests(again, h.pacer, policy=h.requests.policy)
            second = OrderExecutor(
                again, requests, h.store, h.bus, config=ExecutorConfig(commission_wait=120.0)
            )
            async with background(second.run()):
                await h.recorder.wait_for(lambda: len(_fills(h)) == 1, seconds=20)
                await second.reconcile()
                await second.flush()
        (fill,) = _fills(h)
        (execution,) = h.gateway.truth()["exchange"]["executions"]
        assert execution["commission"] is not None
        assert (fill.decision_id, fill.commission) == ("r1", execution["commission"])


async def test_an_order_caught_by_a_drop_before_it_left_is_finished_not_left_working(
    tmp_path: Path,
) -> None:
    """The socket drops while an order waits for the message pacer: it is finished as not sent
    (audited, no longer open), never left "pending" forever, and IB never saw it."""
    async with harness(tmp_path, client_id=8) as h:
        # One message every 2 s: the second order waits at the pacer, already past every check.
        slow = IBPacer(h.clock, dataclasses.replace(h.pacer.rules, messages_per_second=0.5))
        requests = IBRequests(h.connection, slow, policy=h.requests.policy)
        executor = OrderExecutor(h.connection, requests, h.store, h.bus)
        async with background(executor.run()):
            await executor.submit(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="first"))
            waiting = asyncio.ensure_future(
                executor.submit(Order("v", "AAPL", OrderSide.BUY, 2, decision_id="second"))
            )
            await asyncio.sleep(0)  # a yield, not a wait: submit runs up to its pacer wait
            await h.gateway.restart(60.0)  # refused for longer than the pacer makes it wait
            async with asyncio.timeout(15):
                result = await waiting
        assert result.status is OrderStatus.BLOCKED
        assert result.message is not None
        assert "not sent" in result.message
        assert executor.open_orders() == []
        audited = [
            r for _, r in await h.store.read_orders(strategy="v") if r.decision_id == "second"
        ]
        assert audited[-1].status is OrderStatus.BLOCKED
        refs = [o["order_ref"] for o in h.gateway.truth()["exchange"]["completed_orders"]]
        assert "v:second" not in refs
