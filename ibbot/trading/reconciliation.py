"""Comparing what the position book believes with what the broker holds, and the policy for gaps.

A gap means a fill was missed, an order was placed by hand, or state was lost: the bot no longer
knows its exposure in that symbol. The configured policy decides what happens next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "ADOPT_COMMAND",
    "Mismatch",
    "ReconciliationOutcome",
    "ReconciliationPolicy",
    "compare_positions",
]

# Broker quantities are floats converted from IB's Decimals; gaps smaller than this are rounding.
QUANTITY_TOLERANCE = 1e-6


class ReconciliationPolicy(StrEnum):
    """What to do about a symbol whose book and broker quantities differ."""

    HALT_SYMBOL = "halt_symbol"
    """Refuse new orders in the symbol until a later reconciliation finds it consistent."""
    ADOPT_BROKER = "adopt_broker"
    """Trust the broker: book the difference as an unattributed holding."""
    IGNORE = "ignore"
    """Report the mismatch and carry on."""


class ReconciliationOutcome(StrEnum):
    """What was done about one mismatch."""

    HALTED = "halted"
    ADOPTED = "adopted"
    IGNORED = "ignored"


_OUTCOMES = {
    ReconciliationPolicy.HALT_SYMBOL: ReconciliationOutcome.HALTED,
    ReconciliationPolicy.ADOPT_BROKER: ReconciliationOutcome.ADOPTED,
    ReconciliationPolicy.IGNORE: ReconciliationOutcome.IGNORED,
}

ADOPT_COMMAND = "ibbot reconcile --adopt"
"""How a person resolves a halted symbol: take the broker's quantity into the book (audited)."""

_CONSEQUENCES = {
    ReconciliationOutcome.HALTED: (
        "new orders in it are halted until it reconciles (or `" + ADOPT_COMMAND + " {symbol}` "
        "takes the broker's quantity)"
    ),
    ReconciliationOutcome.ADOPTED: "the broker's quantity is adopted; the gap is booked unattributed",
    ReconciliationOutcome.IGNORED: "ignored by configuration",
}


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One symbol whose summed book quantity differs from the broker's."""

    symbol: str
    book_quantity: float
    broker_quantity: float
    outcome: ReconciliationOutcome
    by_strategy: Mapping[str, float] = field(default_factory=dict)

    @property
    def difference(self) -> float:
        """Broker minus book: what the book is missing."""
        return self.broker_quantity - self.book_quantity

    @property
    def message(self) -> str:
        """One sentence with the numbers, for the log and the audit trail."""
        held = ", ".join(f"{name} {qty:g}" for name, qty in self.by_strategy.items()) or "nothing"
        return (
            f"{self.symbol}: book {self.book_quantity:g} ({held}) != broker "
            f"{self.broker_quantity:g} (difference {self.difference:+g}); "
            + _CONSEQUENCES[self.outcome].format(symbol=self.symbol)
        )


def compare_positions(
    book: Mapping[str, Mapping[str, float]],
    broker: Mapping[str, float],
    policy: ReconciliationPolicy,
) -> list[Mismatch]:
    """Mismatches between ``book`` (strategy -> symbol -> quantity) and ``broker`` (symbol -> quantity).

    A symbol missing on one side counts as zero there. Results are sorted by symbol, each carrying
    the outcome ``policy`` prescribes; applying it is the caller's job.
    """
    totals: dict[str, float] = {}
    holders: dict[str, dict[str, float]] = {}
    for strategy, positions in book.items():
        for symbol, quantity in positions.items():
            if abs(quantity) < QUANTITY_TOLERANCE:
                continue
            totals[symbol] = totals.get(symbol, 0.0) + quantity
            holders.setdefault(symbol, {})[strategy] = quantity
    outcome = _OUTCOMES[policy]
    mismatches = []
    for symbol in sorted(set(totals) | set(broker)):
        mine = totals.get(symbol, 0.0)
        theirs = broker.get(symbol, 0.0)
        if abs(theirs - mine) > QUANTITY_TOLERANCE:
            mismatches.append(Mismatch(symbol, mine, theirs, outcome, holders.get(symbol, {})))
    return mismatches
