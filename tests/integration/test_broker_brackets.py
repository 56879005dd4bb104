"""The executor's brackets at the simulated gateway: one unit, children attributed, modified with
IB's modify, adopted after a restart, and a child's fill while ibbot was away booked once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ibbot.broker.executor import ExecutorConfig, OrderExecutor
from ibbot.models import (
    EventType,
    Fill,
    Order,
    OrderLeg,
    OrderSide,
    OrderStatus,
    Protection,
    split_leg,
)
from ibbot.trading import plan_bracket
from tests.integration.broker_support import Harness, background, harness
from tests.integration.test_broker_executor import _restarted

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.models import Bracket


def _bracket(protection: Protection, decision: str = "b1") -> Bracket:
    entry = Order("guard", "AAPL", OrderSide.BUY, 10, decision_id=decision)
    planned = plan_bracket(entry, protection, 100.0)
    assert planned.bracket is not None
    return planned.bracket


def _fills(h: Harness) -> list[Fill]:
    return [e.payload for e in h.recorder.of(EventType.FILL) if isinstance(e.payload, Fill)]


def _open_at_ib(h: Harness) -> dict[str, dict[str, object]]:
    return {o["order_ref"]: o for o in h.gateway.truth()["exchange"]["open_orders"]}


async def test_a_bracket_goes_as_one_unit_and_a_child_fill_is_attributed(tmp_path: Path) -> None:
    """submit_bracket: the entry fills, its children work at IB under their own orderRefs, a stop
    raised with modify_stop moves at IB, and the stop's fill names the strategy, decision and leg;
    the take-profit is cancelled by IB."""
    async with harness(tmp_path) as h:
        h.gateway.set_price("AAPL", 100.0)
        executor = OrderExecutor(h.connection, h.requests, h.store, h.bus, config=ExecutorConfig())
        async with background(executor.run()):
            result = await executor.submit_bracket(
                _bracket(Protection(stop_loss_pct=0.05, take_profit_pct=0.1)), timeout=5.0
            )
            assert result.status is OrderStatus.FILLED
            await h.recorder.wait_for(lambda: len(_open_at_ib(h)) == 2)
            at_ib = _open_at_ib(h)
            stop = at_ib["guard:b1/stop_loss"]
            assert (stop["stop_price"], stop["parent_id"], stop["oca_type"]) == (
                95.0,
                result.order_id,
                2,
            )
            assert (
                at_ib["guard:b1/take_profit"]["oca_group"]
                == stop["oca_group"]
                == ("ibbot:guard:b1")
            )
            (stop_result,) = [
                r
                for r in executor.open_orders()
                if split_leg(r.decision_id)[1] is OrderLeg.STOP_LOSS
            ]
            assert executor.working_stop(stop_result.order_id) == 95.0
            assert await executor.modify_stop(stop_result.order_id, 97.0)
            await h.recorder.wait_for(
                lambda: _open_at_ib(h)["guard:b1/stop_loss"]["stop_price"] == 97.0
            )
            h.gateway.set_price("AAPL", 96.0)
            await h.recorder.wait_for(lambda: len(_fills(h)) == 2)
            await h.recorder.wait_for(lambda: not executor.open_orders())
            await executor.flush()
        entry, sold = _fills(h)
        assert (entry.decision_id, entry.side) == ("b1", OrderSide.BUY)
        assert (sold.strategy_name, sold.decision_id, sold.side, sold.quantity) == (
            "guard",
            "b1/stop_loss",
            OrderSide.SELL,
            10,
        )
        completed = {
            o["order_ref"]: o["status"] for o in h.gateway.truth()["exchange"]["completed_orders"]
        }
        assert completed["guard:b1/take_profit"] == "Cancelled"
        audited = {e.record.get("order_ref") for e in await h.store.read_audit("orders")}
        assert {"guard:b1", "guard:b1/take_profit", "guard:b1/stop_loss"} <= audited


async def test_a_restart_adopts_the_children_and_books_a_fill_made_while_down_once(
    tmp_path: Path,
) -> None:
    """ibbot stops while long; the stop fills at IB meanwhile; the next run adopts the bracket's
    orders by orderRef, publishes the stop's fill once, and a further reconnect adds nothing."""
    async with harness(tmp_path, client_id=6) as h:
        h.gateway.set_price("AAPL", 100.0)
        first = OrderExecutor(h.connection, h.requests, h.store, h.bus, config=ExecutorConfig())
        async with background(first.run()):
            result = await first.submit_bracket(
                _bracket(Protection(trailing_amount=2.0, take_profit_pct=0.2)), timeout=5.0
            )
            assert result.status is OrderStatus.FILLED
            await h.recorder.wait_for(lambda: len(_open_at_ib(h)) == 2)
            await first.flush()
        await h.connection.close()
        await h.gateway.wait_for_clients(lambda ids: 6 not in ids)
        h.gateway.set_price("AAPL", 104.0)  # the trail rises to 102
        h.gateway.set_price("AAPL", 101.0)  # and sells while nobody is connected
        assert not _open_at_ib(h)
        before = len(_fills(h))
        async with _restarted(h, 6) as second:
            await h.recorder.wait_for(lambda: len(_fills(h)) == before + 1)
            await second.reconcile()  # a reconnect's reconcile: the same execution again
            await second.flush()
        recovered = _fills(h)[before:]
        assert [(f.decision_id, f.side, f.quantity) for f in recovered] == [
            ("b1/trailing_stop", OrderSide.SELL, 10)
        ]
        fills = [e.record["decision_id"] for e in await h.store.read_audit("fills")]
        assert fills.count("b1/trailing_stop") == 1
