"""The execution record: every fill with its commission report, and the ids IB gives them.

Ids are seeded from the account and the session, so the same inputs give the same permIds and
execIds in every process, in the shapes IB uses (a permId is a large integer, an execId
``prefix.serial.01.01``). IB never gives an id twice: a gateway that starts a new session (the
embedded simulator on every run of ibbot, a standalone one on every start) passes a ``session`` of
its own, so its ids differ from every earlier session's for the same account.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ibbot.clock import ensure_utc
from ibbot.seeds import seed_for

if TYPE_CHECKING:
    from datetime import datetime

    from ibbot.exchange.events import CommissionReport, Execution

__all__ = ["ExecutionLog"]


class ExecutionLog:
    """Executions and commission reports in the order they happened, and the next ids to give."""

    def __init__(self, account: str, session: str = "") -> None:
        seed = seed_for("exchange", account, session) if session else seed_for("exchange", account)
        self._perm = 1_000_000_000 + seed % 900_000_000
        self._exec_prefix = f"{(seed >> 64) % 0x20000:08x}"
        self._exec_base = (seed >> 32) % 0xF0000000
        self._count = 0
        self._executions: list[Execution] = []
        self._commissions: dict[str, CommissionReport] = {}

    def next_perm_id(self) -> int:
        """A new permId for an accepted order."""
        self._perm += 1
        return self._perm

    def next_exec_id(self) -> str:
        """A new execId for a fill."""
        self._count += 1
        serial = (self._exec_base + self._count) & 0xFFFFFFFF
        return f"{self._exec_prefix}.{serial:08x}.01.01"

    def record(self, execution: Execution, report: CommissionReport) -> None:
        """Keep a fill and its commission report."""
        self._executions.append(execution)
        self._commissions[execution.exec_id] = report

    def executions(
        self, *, client_id: int | None = None, since: datetime | None = None
    ) -> list[Execution]:
        """Every execution, optionally of one client's orders and at or after ``since``."""
        if since is not None:
            since = ensure_utc(since, field="since")
        return [
            e
            for e in self._executions
            if (client_id is None or e.state.request.client_id == client_id)
            and (since is None or e.time >= since)
        ]

    def commission_report(self, exec_id: str) -> CommissionReport | None:
        """The commission report of an execution, or None for an unknown id."""
        return self._commissions.get(exec_id)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every execution with its commission, as JSON-ready data."""
        out: list[dict[str, Any]] = []
        for e in self._executions:
            report = self._commissions[e.exec_id]
            request = e.state.request
            out.append(
                {
                    "exec_id": e.exec_id,
                    "time": e.time.isoformat(),
                    "client_id": request.client_id,
                    "order_id": request.order_id,
                    "perm_id": e.state.perm_id,
                    "symbol": request.symbol,
                    "side": e.side.value,
                    "quantity": e.quantity,
                    "price": e.price,
                    "cum_qty": e.cum_qty,
                    "avg_price": e.avg_price,
                    "commission": report.commission,
                    "realized_pnl": report.realized_pnl,
                    "order_ref": request.order_ref,
                }
            )
        return out
