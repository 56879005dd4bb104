"""The ledger's margin check keeps its sums over the holdings between orders: proven equal, result
for result, to summing afresh, over seeded random fills, marks and orders."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ibbot.exchange import OrderRequest
from ibbot.exchange.ledger import Ledger
from ibbot.models import OrderSide, OrderType, TimeInForce

SYMBOLS = [f"S{k}" for k in range(12)]


def request(symbol: str, side: OrderSide, quantity: float) -> OrderRequest:
    return OrderRequest(
        1, 1, symbol, side, quantity, OrderType.MARKET, None, None, TimeInForce.DAY, "s:d", "DU1"
    )


def fresh(ledger: Ledger, order: OrderRequest, price: float | None) -> str | None:
    """The check with nothing kept from before (the sums taken over every holding again)."""
    ledger._held_values = None
    return ledger.margin_problem(order, price)


def test_kept_sums_give_the_same_verdict_and_text_as_fresh_ones() -> None:
    rng = random.Random(16)
    ledger = Ledger("DU1", 100_000.0, "USD")
    twin = Ledger("DU1", 100_000.0, "USD")  # the same books, every check summed afresh
    now = datetime(2024, 1, 2, 15, tzinfo=UTC)
    checked = rejected = reused = 0
    quantities: dict[str, int] = {}
    for step in range(4_000):
        now += timedelta(minutes=rng.choice([0, 0, 0, 30, 600, 1_440]))
        symbol = rng.choice(SYMBOLS)
        price = round(rng.uniform(5, 300), rng.choice([0, 2, 4]))
        roll = rng.random()
        if roll < 0.15:
            signed = rng.choice([-1, 1]) * rng.randint(1, 400)
            if quantities.get(symbol) and rng.random() < 0.3:  # closed: held before, flat now
                signed = -quantities[symbol]
            quantities[symbol] = quantities.get(symbol, 0) + signed
            for books in (ledger, twin):
                books.book(symbol, signed, price, 1.0, now)
        elif roll < 0.35:
            if rng.random() < 0.5:
                for books in (ledger, twin):
                    books.set_mark(symbol, price)
            else:  # several at once, as a backtest brings its holdings' marks up to date
                pairs = [(s, round(rng.uniform(5, 300), 2)) for s in rng.sample(SYMBOLS, 4)]
                ledger.set_marks(pairs)
                for s, p in pairs:
                    twin.set_mark(s, p)
        else:
            # mostly at the mark (a market order), sometimes elsewhere (a limit price)
            mark = ledger.last_mark(symbol)
            at = mark if mark is not None and rng.random() < 0.7 else price
            order = request(symbol, rng.choice(list(OrderSide)), float(rng.randint(1, 2_000)))
            reused += ledger._held_values is not None
            got = ledger.margin_problem(order, at)
            assert got == fresh(twin, order, at), step
            checked += 1
            rejected += got is not None
    # the run exercised both verdicts and the kept sums
    assert checked > 2_000
    assert 100 < rejected < checked - 100
    assert reused > 500
    assert sum(not q for q in quantities.values()) >= 1  # some symbols ended flat
