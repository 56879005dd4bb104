"""Commission schedules a backtest can charge, as the callables the matching engine takes.

``ib``: IB's fixed US-stock schedule (USD 0.005 a share, at least USD 1.00 and at most 1% of the
trade value per order; :func:`ibbot.exchange.ib_fixed_commission`). ``zero``: nothing.
``per-share=X``: X per share, no minimum or cap. The engine charges per order: it asks for the
commission of everything filled so far and books the difference, so any schedule here is per order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from ibbot.backtest.errors import BacktestInputError
from ibbot.exchange import ib_fixed_commission

__all__ = ["CommissionKind", "CommissionModel"]


class CommissionKind(StrEnum):
    """The schedules, named as ``--commission`` spells them."""

    IB = "ib"
    ZERO = "zero"
    PER_SHARE = "per-share"


@dataclass(frozen=True, slots=True)
class CommissionModel:
    """A schedule; call it with ``(quantity, price)`` of an order's fills so far."""

    kind: CommissionKind = CommissionKind.IB
    per_share: float = 0.0

    def __call__(self, quantity: float, price: float) -> float:
        if self.kind is CommissionKind.IB:
            return ib_fixed_commission(quantity, price)
        if self.kind is CommissionKind.ZERO:
            return 0.0
        return self.per_share * abs(quantity)

    def __str__(self) -> str:
        if self.kind is CommissionKind.PER_SHARE:
            return f"{self.kind.value}={self.per_share:g}"
        return self.kind.value

    @classmethod
    def parse(cls, text: str) -> CommissionModel:
        """``ib``, ``zero`` or ``per-share=X`` (X >= 0, in the account currency per share)."""
        name, sep, value = text.strip().lower().partition("=")
        if not sep and name in (CommissionKind.IB, CommissionKind.ZERO):
            return cls(CommissionKind(name))
        if sep and name == CommissionKind.PER_SHARE:
            try:
                rate = float(value)
            except ValueError:
                rate = math.nan
            if math.isfinite(rate) and rate >= 0:
                return cls(CommissionKind.PER_SHARE, rate)
        raise BacktestInputError(
            f"invalid commission {text!r}: expected ib, zero or per-share=X with X >= 0 "
            "(e.g. per-share=0.005)"
        )
