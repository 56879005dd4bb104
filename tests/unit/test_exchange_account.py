"""The margin account over time: SMA, T+1 settlement, day trades, daily P&L and the tag identities."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ibbot.exchange.account import AccountFigures, account_tags
from ibbot.exchange.ledger import Ledger, _add_business_days, trading_day
from ibbot.sim.account_keys import summary_rows, update_rows

# 2 March 2026 is a Monday; 15:00 UTC is 10:00 in New York.
MON = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TUE = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
WED = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
FRI = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
SAT = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
NEXT_MON = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


def test_the_trading_day_is_the_new_york_date() -> None:
    """An instant after midnight UTC but before midnight in New York belongs to the earlier day."""
    assert str(trading_day(datetime(2026, 3, 3, 3, 0, tzinfo=UTC))) == "2026-03-02"


def test_sma_follows_reg_t_debits_credits_and_the_daily_raise() -> None:
    """Buys debit 50% plus commission, sales credit 50%; a new day raises it to the close's excess."""
    books = Ledger("DU1", 100_000.0, "USD")
    books.book("AAPL", 100, 200.0, 1.0, MON)
    assert books.account_values({"AAPL": 200.0}, MON, {})["SMA"] == 100_000 - 10_000 - 1
    # Tuesday: Monday closed at 220, excess equity = 79,999 + 22,000 - 50% x 22,000 = 90,999
    assert books.account_values({"AAPL": 221.0}, TUE, {"AAPL": 220.0})["SMA"] == 90_999
    # Wednesday: a loss (close 180) never lowers it
    assert books.account_values({"AAPL": 181.0}, WED, {"AAPL": 180.0})["SMA"] == 90_999
    books.book("AAPL", -100, 180.0, 1.0, WED)
    values = books.account_values({"AAPL": 180.0}, WED, {"AAPL": 180.0})
    assert values["SMA"] == 90_999 + 9_000 - 1
    assert values["RegTMargin"] == 0.0


def test_settled_cash_waits_one_business_day() -> None:
    """A Friday purchase settles on Monday (T+1 over the weekend); until then SettledCash excludes it."""
    books = Ledger("DU1", 100_000.0, "USD")
    books.book("AAPL", 100, 50.0, 1.0, FRI)
    friday = books.account_values({}, FRI, {})
    assert (friday["TotalCashValue"], friday["SettledCash"]) == (94_999.0, 100_000.0)
    assert books.account_values({}, SAT, {})["SettledCash"] == 100_000.0
    assert books.account_values({}, NEXT_MON, {})["SettledCash"] == 94_999.0


def test_day_trades_count_three_in_five_business_days_below_25k() -> None:
    """A same-day round trip uses one of three day trades for five business days; 25k+ is unlimited."""
    books = Ledger("DU1", 10_000.0, "USD")
    books.book("AAPL", 10, 10.0, 1.0, MON)
    books.book("AAPL", -10, 11.0, 1.0, MON)  # closes shares bought today: a day trade
    books.book("MSFT", 10, 10.0, 1.0, MON)
    books.book("MSFT", -5, 11.0, 1.0, TUE)  # bought yesterday: not a day trade
    keys = ["DayTradesRemaining", *(f"DayTradesRemainingT+{n}" for n in range(1, 5))]
    tuesday = books.account_values({}, TUE, {})
    assert [tuesday[k] for k in keys] == [2, 2, 2, 2, 3]  # Monday's trade leaves on next Monday
    friday = books.account_values({}, FRI, {})
    assert [friday[k] for k in keys] == [2, 3, 3, 3, 3]
    rich = Ledger("DU2", 25_000.0, "USD")
    rich.book("AAPL", 10, 10.0, 1.0, MON)
    rich.book("AAPL", -10, 11.0, 1.0, MON)
    assert rich.account_values({}, MON, {})["DayTradesRemaining"] == -1


def test_daily_pnl_restarts_each_day_from_the_previous_close() -> None:
    """Held overnight: P&L from the close; traded today: from the trades; the sum is NLV - previous ELV."""
    books = Ledger("DU1", 100_000.0, "USD")
    books.book("AAPL", 100, 100.0, 1.0, MON)
    (monday,) = books.pnl({"AAPL": 102.0}, {}, MON)
    assert (monday.daily, monday.unrealized, monday.realized) == pytest.approx((199, 199, 0))
    (tuesday,) = books.pnl({"AAPL": 105.0}, {"AAPL": 103.0}, TUE)
    assert tuesday.daily == pytest.approx(200.0)  # 100 x (105 - 103), the buy was yesterday's
    assert tuesday.unrealized == pytest.approx(499.0)
    assert tuesday.realized is None  # not traded today: IB's "unset"
    realized = books.book("AAPL", -40, 106.0, 1.0, TUE)
    assert realized == pytest.approx(40 * (106 - 100.01) - 1)
    (line,) = books.pnl({"AAPL": 107.0}, {"AAPL": 103.0}, TUE)
    assert (line.position, line.value, line.realized) == (60, 6_420.0, pytest.approx(realized))
    values = books.account_values({"AAPL": 107.0}, TUE, {"AAPL": 103.0})
    assert line.daily == pytest.approx(
        values["NetLiquidation"] - values["PreviousDayEquityWithLoanValue"]
    )
    assert values["RealizedPnL"] == round(realized, 2)
    assert values["UnrealizedPnL"] == round(line.unrealized, 2)
    (untraded,) = [books.position_pnl("KO", {}, {})]
    assert (untraded.position, untraded.daily, untraded.realized) == (0.0, 0.0, None)


def test_tag_identities_hold_to_the_cent_for_shorts_and_deficits() -> None:
    """Identities hold exactly in cents; a non-positive net liquidation gives cushion and leverage 0."""
    books = Ledger("DU1", 100_000.0, "USD")
    books.book("AAPL", -333, 33.337, 1.67, MON)
    v = books.account_values({"AAPL": 35.123}, MON, {})
    assert v["StockMarketValue"] == round(-333 * 35.123, 2)
    assert v["NetLiquidation"] == round(v["TotalCashValue"] + v["StockMarketValue"], 2)
    assert v["AvailableFunds"] == round(v["EquityWithLoanValue"] - v["InitMarginReq"], 2)
    assert v["ExcessLiquidity"] == round(v["EquityWithLoanValue"] - v["MaintMarginReq"], 2)
    assert v["BuyingPower"] == round(4 * v["AvailableFunds"], 2)
    assert v["Cushion"] == v["ExcessLiquidity"] / v["NetLiquidation"]
    for name in ("InitMarginReq", "MaintMarginReq", "AvailableFunds", "ExcessLiquidity"):
        assert v[f"Full{name}"] == v[f"LookAhead{name}"] == v[name]
    broke = account_tags(
        AccountFigures(-3_002.0, -3_002.0, 800.0, 800.0, -3_200.0, 0.0, 1_000.0, 0.0, (3,) * 5)
    )
    assert (broke["NetLiquidation"], broke["Cushion"], broke["Leverage"]) == (-2_202.0, 0.0, 0.0)
    assert broke["HighestSeverity"] == 1.0
    assert broke["DayTradesRemaining"] == 3  # previous day's equity below 25,000


def test_update_rows_lay_keys_out_as_ib_does() -> None:
    """Segment keys twice (plain and -S), the cash ledger for BASE and USD, ratios without currency."""
    books = Ledger("DU1", 100_000.0, "USD")
    rows = update_rows(books.account_values({}, MON, {}), "DU1", "USD")
    keys = {(r.key, r.currency): r.value for r in rows}
    assert len(keys) == len(rows)
    assert [(r.key, r.currency) for r in rows] == sorted(keys)
    assert keys["SMA", "USD"] == keys["SMA-S", "USD"] == "100000.00"
    assert keys["FullAvailableFunds-S", "USD"] == "100000.00"
    assert keys["CashBalance", "BASE"] == keys["CashBalance", "USD"] == "100000.00"
    assert keys["Currency", "BASE"] == "BASE"
    assert keys["Cushion", ""] == "1.0"
    assert keys["DayTradesRemainingT+4", ""] == "-1"
    assert ("SettledCash", "USD") not in keys  # a summary tag only


def test_summary_rows_answer_known_tags_and_ledger_groups() -> None:
    """$LEDGER is BASE, $LEDGER:ALL BASE and USD, $LEDGER:USD USD; unknown tags get no row."""
    tags = Ledger("DU1", 100_000.0, "USD").account_values({}, MON, {})

    def currencies(*requested: str) -> set[str]:
        return {r.currency for r in summary_rows(requested, tags, "DU1", "USD")}

    assert currencies("$LEDGER") == {"BASE"}
    assert currencies("$LEDGER:ALL") == {"BASE", "USD"}
    assert currencies("$LEDGER:USD") == {"USD"}
    assert currencies("$LEDGER:EUR", "ReqTEquity", "Bogus") == set()
    rows = summary_rows(("TotalCashValue", "Cushion", "AccountType"), tags, "DU1", "USD")
    assert [(r.key, r.value, r.currency) for r in rows] == [
        ("AccountType", "INDIVIDUAL", ""),
        ("Cushion", "1.0", ""),
        ("TotalCashValue", "100000.00", "USD"),
    ]


def test_business_days_in_closed_form_are_the_day_by_day_count() -> None:
    """The ledger's closed-form weekday arithmetic against stepping one day at a time, from every
    weekday and weekend day, forward and back, across weeks."""

    def stepped(day: date, count: int) -> date:
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        step = timedelta(days=1 if count >= 0 else -1)
        for _ in range(abs(count)):
            day += step
            while day.weekday() >= 5:
                day += step
        return day

    start = date(2023, 12, 1)
    for offset in range(21):
        day = start + timedelta(days=offset)
        for count in range(-23, 24):
            assert _add_business_days(day, count) == stepped(day, count), (day, count)
