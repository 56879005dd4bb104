"""OrderExecutor.place_now against the simulated gateway: the order leaves before it returns, its
write-ahead line first; when it cannot send at once, it writes and sends nothing."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from ibbot.broker.executor import ExecutorConfig, OrderExecutor
from ibbot.broker.requests import IBRequests
from ibbot.models import Order, OrderSide, OrderStatus
from ibbot.pacing import IBPacer
from tests.integration.broker_support import Harness, background, harness

if TYPE_CHECKING:
    from pathlib import Path


def _executor(h: Harness, **config: object) -> OrderExecutor:
    # A burst of messages in the pacer: the orders here never wait for the per-second budget.
    rules = dataclasses.replace(h.pacer.rules, message_burst=10)
    requests = IBRequests(h.connection, IBPacer(h.clock, rules), policy=h.requests.policy)
    return OrderExecutor(
        h.connection,
        requests,
        h.store,
        h.bus,
        config=ExecutorConfig(**config),  # type: ignore[arg-type]
    )


def _written_ahead(tmp_path: Path) -> list[tuple[str, str]]:
    """(orderRef, status) of every line of the orders audit, read from the files as they are."""
    lines = [
        json.loads(line)
        for path in sorted(tmp_path.glob("data/audit/orders/*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    return [(e["record"]["order_ref"], e["record"]["result"]["status"]) for e in lines]


async def test_an_order_leaves_before_place_now_returns_its_line_written_first(
    tmp_path: Path,
) -> None:
    """Once its contract is known, place_now writes the order's line and hands the order to IB
    before returning; its outcome is what submit returns, audited."""
    async with harness(tmp_path) as h:
        executor = _executor(h, submit_timeout=5.0)
        async with background(executor.run()):
            first = Order("v", "AAPL", OrderSide.BUY, 1, decision_id="p0")
            assert executor.place_now(first) is None  # the contract is not known yet
            assert _written_ahead(tmp_path) == []
            assert (await executor.submit(first)).status is OrderStatus.FILLED
            order = Order("v", "AAPL", OrderSide.BUY, 2, decision_id="p1")
            placed = executor.place_now(order)
            assert placed is not None
            assert ("v:p1", "pending") in _written_ahead(tmp_path)
            assert "v:p1" in [t.order.orderRef for t in h.connection.ib.trades()]
            result = await placed.outcome()
        assert result.status is OrderStatus.FILLED
        assert (result.fill_quantity, result.decision_id) == (2, "p1")
        audited = [(r.decision_id, r.status) for _, r in await h.store.read_orders(strategy="v")]
        assert ("p1", OrderStatus.FILLED) in audited  # status lines of p0 may come after it
        exchange = h.gateway.truth()["exchange"]
        assert len(exchange["completed_orders"]) == 2


async def test_place_now_sends_nothing_when_submit_must_refuse(tmp_path: Path) -> None:
    """Read-only, a live account without consent, or no connection: place_now writes and sends
    nothing, leaving the refusal (and its audit) to submit."""
    async with harness(tmp_path) as h:
        executor = _executor(h, readonly=True)
        async with background(executor.run()):
            assert executor.place_now(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="r")) is None
    async with harness(tmp_path / "live", sim={"account": "U1234567"}) as h:
        executor = _executor(h)
        async with background(executor.run()):
            assert executor.place_now(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="l")) is None
    async with harness(tmp_path / "down") as h:
        executor = _executor(h)
        async with background(executor.run()):
            await executor.submit(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="c"))
            await h.gateway.restart(5.0)
            await h.recorder.wait_for(lambda: not h.connection.is_ready)
            assert executor.place_now(Order("v", "AAPL", OrderSide.BUY, 1, decision_id="d")) is None
    assert _written_ahead(tmp_path) == []
    assert {ref for ref, _ in _written_ahead(tmp_path / "down")} == {"v:c"}
