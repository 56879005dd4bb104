"""A Reg T paper account as IB reports it: every summary tag and account key, and the P&L streams.

The tag tests run on a weekend, when marks stand still, and fill through the control port, so every
value is fixed and the summary, the account updates and the identities between them can be compared
exactly (to the cent of IB's two-decimal text).
"""

from __future__ import annotations

import math

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock
from ibapi.account_summary_tags import AccountSummaryTags

from tests.integration.sim_support import WEEKEND_START, connected, control, running_gateway, until

ACCOUNT = "DU1234567"
AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
CENT = 0.0051  # two-decimal text: a value and a sum of rounded values differ by at most a cent
UNSET = 1.7976931348623157e308
# IB's AccountSummaryTags misspell Reg T as "ReqT"; IB answers (and ib_async asks for) "RegT".
SUMMARY_TAGS = {t.replace("ReqT", "RegT") for t in AccountSummaryTags.AllTags.split(",")} | {
    f"DayTradesRemainingT+{n}" for n in range(1, 5)
}
LEDGER_KEYS = {
    "CashBalance",
    "TotalCashBalance",
    "NetLiquidationByCurrency",
    "StockMarketValue",
    "UnrealizedPnL",
    "RealizedPnL",
    "ExchangeRate",
    "AccruedCash",
    "FuturesPNL",
    "OptionMarketValue",
}
SEGMENT_KEYS = {
    "NetLiquidation",
    "TotalCashValue",
    "EquityWithLoanValue",
    "AvailableFunds",
    "ExcessLiquidity",
    "InitMarginReq",
    "MaintMarginReq",
    "FullInitMarginReq",
    "FullMaintMarginReq",
    "FullAvailableFunds",
    "FullExcessLiquidity",
    "LookAheadInitMarginReq",
    "LookAheadMaintMarginReq",
    "LookAheadAvailableFunds",
    "LookAheadExcessLiquidity",
    "GrossPositionValue",
    "RegTEquity",
    "RegTMargin",
    "SMA",
    "PreviousDayEquityWithLoanValue",
}


async def _summary(ib: IB) -> dict[tuple[str, str], str]:
    await ib.reqAccountSummaryAsync()
    return {(v.tag, v.currency): v.value for v in await ib.accountSummaryAsync()}


async def _updates(ib: IB) -> dict[tuple[str, str], str]:
    await ib.reqAccountUpdatesAsync(ACCOUNT)
    return {(v.tag, v.currency): v.value for v in ib.accountValues()}


def _numbers(rows: dict[tuple[str, str], str]) -> dict[str, float]:
    """Plain tags by name: base-currency money, unitless ratios and counts, the BASE ledger."""
    out: dict[str, float] = {}
    for (tag, currency), value in rows.items():
        if currency in ("USD", "", "BASE") and value.lstrip("-").replace(".", "").isdigit():
            out.setdefault(tag, float(value))
    return out


def _check_identities(v: dict[str, float]) -> None:
    gross = v["GrossPositionValue"]
    assert v["NetLiquidation"] == pytest.approx(
        v["TotalCashValue"] + v["StockMarketValue"], abs=CENT
    )
    assert v["EquityWithLoanValue"] == v["NetLiquidation"] == v["RegTEquity"]
    assert v["InitMarginReq"] == pytest.approx(0.25 * gross, abs=CENT)
    assert v["MaintMarginReq"] == pytest.approx(0.25 * gross, abs=CENT)
    assert v["RegTMargin"] == pytest.approx(0.50 * gross, abs=CENT)
    assert v["AvailableFunds"] == pytest.approx(
        v["EquityWithLoanValue"] - v["InitMarginReq"], abs=CENT
    )
    assert v["ExcessLiquidity"] == pytest.approx(
        v["EquityWithLoanValue"] - v["MaintMarginReq"], abs=CENT
    )
    assert v["BuyingPower"] == pytest.approx(4 * v["AvailableFunds"], abs=CENT)
    assert v["Cushion"] == pytest.approx(v["ExcessLiquidity"] / v["NetLiquidation"], abs=1e-6)
    assert v["Leverage"] == pytest.approx(gross / v["NetLiquidation"], abs=1e-6)
    for name in ("InitMarginReq", "MaintMarginReq", "AvailableFunds", "ExcessLiquidity"):
        assert v[f"Full{name}"] == v[f"LookAhead{name}"] == v[name]
    assert v["LookAheadNextChange"] == 0
    assert v["HighestSeverity"] == 0
    assert [v["DayTradesRemaining"], *(v[f"DayTradesRemainingT+{n}"] for n in range(1, 5))] == [
        -1
    ] * 5  # a million dollars is far above the 25,000 pattern-day-trader minimum
    assert v["TotalCashBalance"] == v["CashBalance"] == v["TotalCashValue"]
    assert v["NetLiquidationByCurrency"] == v["NetLiquidation"]


def _check_updates_match_summary(
    summary: dict[tuple[str, str], str], updates: dict[tuple[str, str], str]
) -> None:
    assert {tag for tag, _ in summary} >= SUMMARY_TAGS
    common = summary.keys() & updates.keys()
    assert len(common) >= 50
    assert {k: summary[k] for k in common} == {k: updates[k] for k in common}
    for key in SEGMENT_KEYS:
        assert updates[key, "USD"] == updates[f"{key}-S", "USD"] == summary[key, "USD"]
    for key in LEDGER_KEYS:
        assert updates[key, "BASE"] == updates[key, "USD"] == summary[key, "BASE"]
    assert updates["Leverage-S", ""] == f"{float(summary['Leverage', '']):.2f}"


async def test_account_tags_are_complete_and_consistent_before_and_after_a_trade() -> None:
    """Every summary tag and account key is sent; identities hold and both requests agree, twice."""
    async with running_gateway(start=WEEKEND_START) as gw, connected(gw) as ib:
        summary, updates = await _summary(ib), await _updates(ib)
        _check_updates_match_summary(summary, updates)
        before = _numbers(summary)
        _check_identities(before)
        assert before["NetLiquidation"] == before["SettledCash"] == before["SMA"] == 1_000_000
        assert before["PreviousDayEquityWithLoanValue"] == 1_000_000

        trade = ib.placeOrder(AAPL, LimitOrder("BUY", 100, 150.0))
        await until(lambda: trade.orderStatus.status == "PreSubmitted", trade.statusEvent)
        status, body = await control(
            gw, "POST", "/fill", {"client_id": 1, "order_id": trade.order.orderId, "price": 150.0}
        )
        assert (status, body["executions"][0]["price"]) == (200, 150.0)
        await until(
            lambda: bool(trade.fills) and trade.fills[0].commissionReport.execId != "",
            ib.commissionReportEvent,
        )
        commission = trade.fills[0].commissionReport.commission
        summary, updates = await _summary(ib), await _updates(ib)
        _check_updates_match_summary(summary, updates)
        after = _numbers(summary)
        _check_identities(after)
        (item,) = ib.portfolio()
        mark = item.marketPrice
        assert mark != 150.0  # the weekend's last trade, not the forced fill price
        assert after["TotalCashValue"] == pytest.approx(1_000_000 - 15_000 - commission, abs=CENT)
        assert after["GrossPositionValue"] == pytest.approx(100 * mark, abs=CENT)
        assert after["UnrealizedPnL"] == pytest.approx(100 * (mark - 150.0) - commission, abs=CENT)
        # bought on Saturday: settles on Monday (T+1); Reg T debits half the purchase and the fee
        assert after["SettledCash"] == 1_000_000
        assert after["SMA"] == pytest.approx(1_000_000 - 7_500 - commission, abs=CENT)
        assert after["PreviousDayEquityWithLoanValue"] == 1_000_000


async def test_pnl_streams_follow_a_buy_the_market_and_a_sell() -> None:
    """reqPnL / reqPnLSingle: zero, then the open position's move, then the realized round trip."""
    async with running_gateway() as gw, connected(gw) as ib:
        account_pnl = ib.reqPnL(ACCOUNT)
        single = ib.reqPnLSingle(ACCOUNT, "", AAPL.conId)
        await until(lambda: not math.isnan(single.dailyPnL), ib.pnlSingleEvent)
        assert (single.position, single.dailyPnL, single.unrealizedPnL, single.value) == (
            0,
            0,
            0,
            0,
        )
        assert single.realizedPnL == UNSET  # never traded today: IB's unset double
        await until(lambda: not math.isnan(account_pnl.dailyPnL), ib.pnlEvent)
        assert (account_pnl.dailyPnL, account_pnl.unrealizedPnL, account_pnl.realizedPnL) == (
            0,
            0,
            0,
        )

        buy = ib.placeOrder(AAPL, MarketOrder("BUY", 100))
        await until(lambda: buy.isDone() and bool(buy.fills), buy.statusEvent)
        await until(lambda: buy.fills[0].commissionReport.execId != "", ib.commissionReportEvent)
        cost = 100 * buy.fills[0].execution.price + buy.fills[0].commissionReport.commission
        # the market moves on: wait for a mark away from the fill price
        await until(
            lambda: (
                single.position == 100
                and not math.isclose(single.value, 100 * buy.fills[0].execution.price)
            ),
            ib.pnlSingleEvent,
        )
        assert single.unrealizedPnL == pytest.approx(single.value - cost, abs=1e-6)
        assert single.dailyPnL == pytest.approx(single.unrealizedPnL, abs=1e-6)  # opened today
        assert single.realizedPnL == 0
        await until(lambda: account_pnl.unrealizedPnL != 0, ib.pnlEvent)
        assert account_pnl.dailyPnL == pytest.approx(account_pnl.unrealizedPnL, abs=1e-6)
        assert account_pnl.realizedPnL == 0

        sell = ib.placeOrder(AAPL, MarketOrder("SELL", 100))
        await until(lambda: sell.isDone() and bool(sell.fills), sell.statusEvent)
        await until(lambda: sell.fills[0].commissionReport.execId != "", ib.commissionReportEvent)
        report = sell.fills[0].commissionReport
        proceeds = 100 * sell.fills[0].execution.price - report.commission
        assert report.realizedPNL == pytest.approx(proceeds - cost, abs=1e-6)
        await until(lambda: single.position == 0, ib.pnlSingleEvent)
        assert single.realizedPnL == pytest.approx(report.realizedPNL, abs=1e-6)
        assert (single.unrealizedPnL, single.value) == (0, 0)
        assert single.dailyPnL == pytest.approx(report.realizedPNL, abs=1e-6)
        await until(lambda: account_pnl.unrealizedPnL == 0, ib.pnlEvent)
        assert account_pnl.realizedPnL == pytest.approx(report.realizedPNL, abs=1e-6)
        assert account_pnl.dailyPnL == pytest.approx(report.realizedPNL, abs=1e-6)

        session = gw.hub.session_for(1)
        assert session is not None
        pnl_streams = {"pnl", "pnl_single"}
        assert pnl_streams == {k[0] for k in session.stream_keys() if k[0] in pnl_streams}
        ib.cancelPnL(ACCOUNT)
        ib.cancelPnLSingle(ACCOUNT, "", AAPL.conId)
        await ib.reqCurrentTimeAsync()
        assert not [k for k in session.stream_keys() if k[0] in pnl_streams]


async def test_pnl_requests_for_a_foreign_account_or_unknown_contract_get_ib_errors() -> None:
    """reqPnL("All") on a non-FA account: 321 Invalid account code; an unknown conId: 200."""
    async with running_gateway() as gw, connected(gw) as ib:
        errors: list[tuple[int, int, str]] = []
        ib.errorEvent += lambda req_id, code, text, _contract: errors.append((req_id, code, text))
        ib.reqPnL("All")
        ib.reqPnLSingle(ACCOUNT, "", 999_999_999)
        await until(lambda: len(errors) >= 2, ib.errorEvent)
        (pnl_error,) = [e for e in errors if e[1] == 321]
        assert pnl_error[2] == "Error validating request.-'cq' : cause - Invalid account code"
        assert any(code == 200 for _, code, _ in errors)
