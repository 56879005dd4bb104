"""Position arithmetic and the position book: fills, PnL by US/Eastern day, reconciliation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ibbot.models import Fill, OrderSide, Position
from ibbot.trading import (
    UNATTRIBUTED,
    PositionBook,
    ReconciliationOutcome,
    ReconciliationPolicy,
    compare_positions,
)
from tests.unit.strategy_events import T0


def test_position_opens_and_averages_up() -> None:
    """Buying from flat sets the average; buying more moves it to the weighted mean."""
    flat = Position("JPM", 0.0, 0.0)
    opened, realized = flat.apply_fill(100, 10.0)
    assert (opened.quantity, opened.avg_cost, realized) == (100, 10.0, 0.0)
    added, realized = opened.apply_fill(50, 13.0)
    assert (added.quantity, added.avg_cost, realized) == (150, pytest.approx(11.0), 0.0)


def test_partial_and_full_close_realize_pnl_at_unchanged_average() -> None:
    """Selling part realizes (price - avg) per share and keeps the average; all of it goes flat."""
    held = Position("JPM", 100, 10.0, strategy_name="vm")
    part, realized = held.apply_fill(-40, 12.5)
    assert (part.quantity, part.avg_cost, realized, part.realized_pnl) == (60, 10.0, 100.0, 100.0)
    assert part.strategy_name == "vm"
    closed, realized = part.apply_fill(-60, 9.0)
    assert (closed.quantity, closed.avg_cost, realized) == (0.0, 0.0, -60.0)
    assert closed.is_flat
    assert closed.realized_pnl == 40.0


def test_flip_through_zero_opens_the_rest_at_the_fill_price() -> None:
    """Selling more than held closes the long (realizing) and opens a short at the price."""
    held = Position("JPM", 100, 10.0)
    flipped, realized = held.apply_fill(-150, 11.0)
    assert (flipped.quantity, flipped.avg_cost, realized) == (-50, 11.0, 100.0)
    back, realized = flipped.apply_fill(80, 9.0)
    assert (back.quantity, back.avg_cost, realized) == (30, 9.0, 100.0)


def test_short_positions_realize_when_covered() -> None:
    """A short averages down on more sells and realizes (avg - price) when bought back."""
    short, _ = Position("JPM", 0.0, 0.0).apply_fill(-10, 20.0)
    deeper, _ = short.apply_fill(-10, 22.0)
    assert (deeper.quantity, deeper.avg_cost) == (-20, pytest.approx(21.0))
    covered, realized = deeper.apply_fill(5, 19.0)
    assert (covered.quantity, covered.avg_cost, realized) == (-15, pytest.approx(21.0), 10.0)


def test_commission_is_charged_to_realized_pnl() -> None:
    """The commission of a fill is taken from realized PnL, opening fills included."""
    opened, realized = Position("JPM", 0.0, 0.0).apply_fill(100, 10.0, commission=1.0)
    assert (opened.avg_cost, realized, opened.realized_pnl) == (10.0, -1.0, -1.0)
    assert opened.market_value(11.0) == 1_100.0
    assert opened.unrealized_pnl(11.0) == 100.0


def fill(
    exec_id: str,
    side: OrderSide,
    quantity: float,
    price: float,
    ts: datetime = T0,
    *,
    strategy: str = "vm",
    symbol: str = "JPM",
    commission: float | None = None,
) -> Fill:
    return Fill(
        exec_id,
        1,
        1,
        symbol,
        side,
        quantity,
        price,
        ts,
        commission=commission,
        strategy_name=strategy,
    )


def test_book_attributes_fills_by_order_ref_then_strategy_name() -> None:
    """orderRef names the strategy; without one the fill's strategy; with neither: unattributed."""
    book = PositionBook()
    book.apply_fill(fill("e1", OrderSide.BUY, 10, 5.0, strategy=""), order_ref="sma:sma-JPM-1")
    book.apply_fill(fill("e2", OrderSide.BUY, 20, 5.0))
    book.apply_fill(fill("e3", OrderSide.BUY, 30, 5.0, strategy=""))
    assert book.quantity("sma", "JPM") == 10
    assert book.quantity("vm", "JPM") == 20
    assert book.quantity(UNATTRIBUTED, "JPM") == 30
    assert book.quantity("vm", "XOM") == 0.0
    assert book.strategies() == ["sma", "vm", UNATTRIBUTED]
    assert PositionBook.attribute(fill("e4", OrderSide.BUY, 1, 1.0), order_ref="other:x") == "other"


def test_repeated_exec_ids_are_booked_once() -> None:
    """IB re-sends executions after a reconnect: the same exec id never moves a position twice."""
    book = PositionBook()
    assert book.apply_fill(fill("e1", OrderSide.BUY, 10, 5.0)) is not None
    assert book.apply_fill(fill("e1", OrderSide.BUY, 10, 5.0)) is None
    assert book.quantity("vm", "JPM") == 10


def test_book_realized_pnl_partial_close_and_positions() -> None:
    """Realized PnL accumulates per strategy; positions() lists open ones only."""
    book = PositionBook()
    book.apply_fill(fill("e1", OrderSide.BUY, 100, 10.0))
    book.apply_fill(fill("e2", OrderSide.SELL, 40, 12.0))
    book.apply_fill(fill("e3", OrderSide.BUY, 5, 50.0, symbol="XOM"))
    book.apply_fill(fill("e4", OrderSide.SELL, 5, 40.0, symbol="XOM"))
    assert book.realized_pnl("vm") == 80.0 - 50.0
    assert list(book.positions("vm")) == ["JPM"]
    position = book.position("vm", "JPM")
    assert position is not None
    assert (position.quantity, position.avg_cost) == (60, 10.0)
    assert book.quantities() == {"vm": {"JPM": 60}}
    assert book.realized_pnl("nobody") == 0.0
    assert book.unrealized_pnl("vm", {"JPM": 11.0}) == 60.0
    assert book.unrealized_pnl("vm", {}) == 0.0


def test_commission_reported_later_is_charged_once() -> None:
    """A commission report after the fill reduces realized PnL once; repeats and unknowns are refused."""
    book = PositionBook()
    book.apply_fill(fill("e1", OrderSide.BUY, 100, 10.0))
    book.apply_fill(fill("e2", OrderSide.SELL, 100, 10.0, commission=1.0))
    assert book.apply_commission("e1", 1.25)
    assert not book.apply_commission("e1", 1.25)
    assert not book.apply_commission("e2", 1.0)
    assert not book.apply_commission("nope", 1.0)
    assert book.realized_pnl("vm") == -2.25
    assert book.daily_realized_pnl("vm", T0) == -2.25
    position = book.position("vm", "JPM")
    assert position is not None
    assert position.realized_pnl == -2.25


# 2026-01-05 23:59 and 2026-01-06 00:01 in New York (EST, UTC-5)
BEFORE_MIDNIGHT = datetime(2026, 1, 6, 4, 59, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 1, 6, 5, 1, tzinfo=UTC)


def test_daily_pnl_resets_at_the_us_eastern_day_boundary() -> None:
    """Losses count for the New York calendar day; a query on the next day starts at zero."""
    book = PositionBook()
    book.apply_fill(fill("e1", OrderSide.BUY, 100, 10.0, BEFORE_MIDNIGHT - timedelta(hours=5)))
    book.apply_fill(fill("e2", OrderSide.SELL, 100, 7.0, BEFORE_MIDNIGHT))
    assert book.daily_realized_pnl("vm", BEFORE_MIDNIGHT) == -300.0
    assert book.daily_realized_pnl("vm", AFTER_MIDNIGHT) == 0.0
    book.apply_fill(fill("e3", OrderSide.BUY, 10, 10.0, AFTER_MIDNIGHT))
    book.apply_fill(fill("e4", OrderSide.SELL, 10, 9.0, AFTER_MIDNIGHT + timedelta(hours=1)))
    assert book.daily_realized_pnl("vm", AFTER_MIDNIGHT) == -10.0
    # a late report of yesterday's fill changes the total, not today's figure
    book.apply_fill(
        fill("e5", OrderSide.BUY, 1, 5.0, BEFORE_MIDNIGHT, symbol="XOM", commission=2.0)
    )
    assert book.daily_realized_pnl("vm", AFTER_MIDNIGHT) == -10.0
    assert book.realized_pnl("vm") == -312.0
    assert book.daily_realized_pnl("nobody", AFTER_MIDNIGHT) == 0.0


def test_day_boundary_follows_daylight_saving_time() -> None:
    """In summer the New York day starts at 04:00 UTC, not 05:00."""
    book = PositionBook()
    summer_late = datetime(2026, 7, 7, 3, 59, tzinfo=UTC)  # 23:59 EDT on July 6
    book.apply_fill(fill("e1", OrderSide.SELL, 1, 10.0, summer_late, commission=1.0))
    assert book.daily_realized_pnl("vm", datetime(2026, 7, 6, 14, 0, tzinfo=UTC)) == -1.0
    assert book.daily_realized_pnl("vm", datetime(2026, 7, 7, 4, 0, tzinfo=UTC)) == 0.0


def test_old_exec_ids_are_forgotten_after_a_week() -> None:
    """Exec ids older than IB could re-send are pruned, so the book stays small."""
    book = PositionBook()
    book.apply_fill(fill("old", OrderSide.BUY, 1, 1.0, T0))
    book.apply_fill(fill("new", OrderSide.BUY, 1, 1.0, T0 + timedelta(days=9)))
    assert list(book.dump()["execs"]) == ["new"]


def _book() -> PositionBook:
    book = PositionBook()
    book.apply_fill(fill("e1", OrderSide.BUY, 100, 200.0))
    book.apply_fill(fill("e2", OrderSide.BUY, 50, 200.0, strategy="sma"))
    book.apply_fill(fill("e3", OrderSide.BUY, 5, 60.0, symbol="KO"))
    return book


BROKER = [
    Position("JPM", 120, 201.0, account="DU1"),
    Position("XOM", 10, 110.0, account="DU1"),
]


def test_reconcile_halt_policy_reports_every_gap_and_leaves_the_book() -> None:
    """Each symbol whose total differs (either side missing counts as 0) is a halted mismatch."""
    book = _book()
    mismatches = book.reconcile(BROKER, ReconciliationPolicy.HALT_SYMBOL)
    assert [(m.symbol, m.book_quantity, m.broker_quantity) for m in mismatches] == [
        ("JPM", 150, 120),
        ("KO", 5, 0),
        ("XOM", 0, 10),
    ]
    assert {m.outcome for m in mismatches} == {ReconciliationOutcome.HALTED}
    assert mismatches[0].message == (
        "JPM: book 150 (vm 100, sma 50) != broker 120 (difference -30); "
        "new orders in it are halted until it reconciles "
        "(or `ibbot reconcile --adopt JPM` takes the broker's quantity)"
    )
    assert mismatches[2].message.startswith("XOM: book 0 (nothing) != broker 10 (difference +10)")
    assert book.quantities() == _book().quantities()


def test_reconcile_adopt_policy_books_the_gap_as_unattributed() -> None:
    """Adopting makes the book sum to the broker's quantities; a second pass finds nothing."""
    book = _book()
    mismatches = book.reconcile(BROKER, ReconciliationPolicy.ADOPT_BROKER)
    assert {m.outcome for m in mismatches} == {ReconciliationOutcome.ADOPTED}
    assert book.positions(UNATTRIBUTED) == {
        "JPM": Position("JPM", -30, 201.0, strategy_name=UNATTRIBUTED),
        "KO": Position("KO", -5, 0.0, strategy_name=UNATTRIBUTED),
        "XOM": Position("XOM", 10, 110.0, strategy_name=UNATTRIBUTED),
    }
    assert book.quantity("vm", "JPM") == 100  # strategies keep their own positions
    assert book.reconcile(BROKER, ReconciliationPolicy.ADOPT_BROKER) == []
    assert "the broker's quantity is adopted" in mismatches[0].message


def test_reconcile_ignore_policy_only_reports() -> None:
    """Ignoring reports the mismatches and changes nothing."""
    book = _book()
    mismatches = book.reconcile(BROKER, ReconciliationPolicy.IGNORE)
    assert [m.outcome for m in mismatches] == [ReconciliationOutcome.IGNORED] * 3
    assert mismatches[1].message.endswith("ignored by configuration")
    assert book.positions(UNATTRIBUTED) == {}


def test_reconcile_consistent_book_and_accounts_split_over_lines() -> None:
    """Broker lines of one symbol are summed; consistent quantities give no mismatch."""
    book = _book()
    broker = [
        Position("JPM", 100, 200.0, account="DU1"),
        Position("JPM", 50, 200.0, account="DU2"),
        Position("KO", 5, 60.0),
    ]
    assert book.reconcile(broker, ReconciliationPolicy.HALT_SYMBOL) == []
    assert compare_positions({}, {}, ReconciliationPolicy.IGNORE) == []


def test_seed_and_json_round_trip() -> None:
    """A book seeded from strategy state and dumped through JSON comes back equal."""
    book = _book()
    book.seed("restored", [Position("MSFT", 3, 400.0, strategy_name="restored")])
    book.apply_fill(fill("e9", OrderSide.SELL, 10, 210.0, commission=1.0))
    again = PositionBook.load(json.loads(json.dumps(book.dump())))
    assert again.dump() == book.dump()
    assert again.quantity("restored", "MSFT") == 3
    assert again.daily_realized_pnl("vm", T0) == book.daily_realized_pnl("vm", T0) == 99.0
    assert again.apply_fill(fill("e9", OrderSide.SELL, 10, 210.0)) is None


def test_compare_positions_skips_flat_entries() -> None:
    """A strategy entry of zero shares is not a holding."""
    book = {"vm": {"JPM": 0.0, "XOM": 5.0}}
    [mismatch] = compare_positions(book, {"XOM": 4.0}, ReconciliationPolicy.IGNORE)
    assert (mismatch.symbol, mismatch.difference, dict(mismatch.by_strategy)) == (
        "XOM",
        -1.0,
        {"vm": 5.0},
    )


def _holding(quantities: dict[str, float]) -> PositionBook:
    """A book whose strategies hold AAPL (at 100)."""
    book = PositionBook()
    for strategy, quantity in quantities.items():
        book.seed(strategy, [Position("AAPL", quantity, 100.0, strategy_name=strategy)])
    return book


def test_adopting_a_covering_broker_position_books_the_excess_unattributed() -> None:
    """The broker holds what the strategies hold and more: they keep theirs, the rest is unattributed."""
    book = _holding({"sma": 10.0, "vm": 5.0})
    assert book.adopt("AAPL", 20.0, 99.0) == {"sma": 10.0, "vm": 5.0, UNATTRIBUTED: 5.0}
    unattributed = book.position(UNATTRIBUTED, "AAPL")
    assert unattributed is not None
    assert unattributed.avg_cost == 99.0
    assert not compare_positions(book.quantities(), {"AAPL": 20.0}, ReconciliationPolicy.IGNORE)


def test_adopting_a_smaller_broker_position_never_leaves_shares_to_sell_twice() -> None:
    """Fewer shares at the broker: a single holder is set to the broker's quantity (none: flat);
    several holders are all closed and the broker's shares booked unattributed."""
    single = _holding({"sma": 10.0})
    assert single.adopt("AAPL", 0.0, 0.0) == {}
    assert single.quantities()["sma"] == {}
    single = _holding({"sma": 10.0})
    assert single.adopt("AAPL", 4.0, 101.0) == {"sma": 4.0}
    kept = single.position("sma", "AAPL")
    assert kept is not None
    assert kept.avg_cost == 100.0
    several = _holding({"sma": 10.0, "vm": 5.0})
    assert several.adopt("AAPL", 12.0, 101.0) == {UNATTRIBUTED: 12.0}
    short = _holding({"sma": 10.0})
    assert short.adopt("AAPL", -3.0, 101.0) == {UNATTRIBUTED: -3.0}
    for book, broker in ((single, 4.0), (several, 12.0), (short, -3.0)):
        assert not compare_positions(
            book.quantities(), {"AAPL": broker}, ReconciliationPolicy.IGNORE
        )
