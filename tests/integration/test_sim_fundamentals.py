"""reqFundamentalData: IB-shaped XML reports over the wire, and error 430 when unavailable."""

from __future__ import annotations

import defusedxml.ElementTree as DefusedET
import pytest
from ib_async import Stock
from ib_async.wrapper import RequestError

from tests.integration.sim_support import connected, running_gateway

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)


async def test_snapshot_and_statements_parse_as_xml() -> None:
    """ReportSnapshot and ReportsFinStatements arrive whole and parse; figures match the company."""
    async with running_gateway() as gw, connected(gw) as ib:
        snapshot = DefusedET.fromstring(await ib.reqFundamentalDataAsync(AAPL, "ReportSnapshot"))
        assert snapshot.tag == "ReportSnapshot"
        ids = {e.get("Type"): e.text for e in snapshot.iter("CoID")}
        assert (ids["CompanyName"], ids["CIKNo"]) == ("APPLE INC", "0000320193")
        ratios = {e.get("FieldName"): e.text for e in snapshot.iter("Ratio")}
        price = float(ratios["NPRICE"] or 0)
        market_cap = float(ratios["MKTCAP"] or 0)
        assert market_cap == pytest.approx(15_000_000_000 * price / 1e6, rel=0.01)
        statements = DefusedET.fromstring(
            await ib.reqFundamentalDataAsync(AAPL, "ReportsFinStatements")
        )
        assert statements.tag == "ReportFinancialStatements"
        assert statements.find(".//COAMap") is not None
        assert statements.findall(".//FiscalPeriod")
        summary = await ib.reqFundamentalDataAsync(AAPL, "ReportsFinSummary")
        assert DefusedET.fromstring(summary).tag == "FinancialSummary"


async def test_unavailable_fundamentals_answer_430() -> None:
    """Configured-unavailable symbols/report types and unknown report types get error 430."""
    async with (
        running_gateway(unavailable_fundamentals=("TSLA", "AAPL:ReportsFinStatements")) as gw,
        connected(gw) as ib,
    ):
        for contract, report in (
            (Stock("TSLA", "SMART", "USD"), "ReportSnapshot"),
            (AAPL, "ReportsFinStatements"),
            (AAPL, "CalendarReport"),
        ):
            with pytest.raises(RequestError) as info:
                await ib.reqFundamentalDataAsync(contract, report)
            assert info.value.code == 430
            assert (
                "fundamentals data for the security specified is not available"
                in info.value.message
            )
        assert await ib.reqFundamentalDataAsync(AAPL, "ReportSnapshot")
        with pytest.raises(RequestError) as info:
            await ib.reqFundamentalDataAsync(Stock("NOPE", "SMART", "USD"), "ReportSnapshot")
        assert info.value.code == 200
