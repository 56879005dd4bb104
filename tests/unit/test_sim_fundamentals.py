"""Generated fundamentals XML: IB's structure, and arithmetic consistent with the security and price."""

from __future__ import annotations

import dataclasses
import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from ibbot.sim.fundamentals import REPORT_TYPES, report_xml
from ibbot.sim.universe import DEFAULT_UNIVERSE, SimSecurity

AS_OF = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
KO = DEFAULT_UNIVERSE["KO"]


def parse(
    report_type: str, security: SimSecurity = KO, price: float = 63.0, as_of: datetime = AS_OF
) -> ET.Element:
    return ET.fromstring(report_xml(report_type, security, price=price, as_of=as_of))


def ratio(root: ET.Element, name: str) -> float:
    node = root.find(f"Ratios/Group/Ratio[@FieldName='{name}']")
    assert node is not None, name
    return float(node.text or "nan")


def items(statement: ET.Element) -> dict[str, float]:
    return {li.attrib["coaCode"]: float(li.text or "nan") for li in statement.iter("lineItem")}


def periods(root: ET.Element, kind: str) -> list[ET.Element]:
    return root.findall(f"FinancialStatements/{kind}Periods/FiscalPeriod")


def statement(period: ET.Element, kind: str) -> dict[str, float]:
    node = period.find(f"Statement[@Type='{kind}']")
    assert node is not None
    return items(node)


def test_unknown_report_types_and_bad_inputs() -> None:
    """Unknown report types raise KeyError (the gateway's 430); bad prices and naive dates ValueError."""
    assert REPORT_TYPES == ("ReportSnapshot", "ReportsFinStatements", "ReportsFinSummary")
    with pytest.raises(KeyError, match="RESC"):
        report_xml("RESC", KO, price=63.0, as_of=AS_OF)
    with pytest.raises(ValueError, match="positive"):
        report_xml("ReportSnapshot", KO, price=0.0, as_of=AS_OF)
    with pytest.raises(ValueError, match="positive"):
        report_xml("ReportSnapshot", KO, price=float("nan"), as_of=AS_OF)
    with pytest.raises(ValueError, match="timezone-aware"):
        report_xml("ReportSnapshot", KO, price=63.0, as_of=datetime(2026, 3, 10))


def test_snapshot_structure() -> None:
    """ReportSnapshot has IB's sections in IB's order, ids, shares and float, ratio groups, forecasts."""
    root = parse("ReportSnapshot")
    assert root.tag == "ReportSnapshot"
    assert root.attrib == {"Major": "1", "Minor": "0", "Revision": "1"}
    assert [child.tag for child in root] == [
        "CoIDs",
        "Issues",
        "CoGeneralInfo",
        "TextInfo",
        "peerInfo",
        "Ratios",
        "ForecastData",
    ]
    ids = {c.attrib["Type"]: c.text for c in root.iter("CoID")}
    assert set(ids) == {"RepNo", "CompanyName", "IRSNo", "CIKNo"}
    assert ids["CIKNo"] == KO.cik
    assert ids["CompanyName"] == KO.long_name
    issue_ids = {c.attrib["Type"]: c.text for c in root.iter("IssueID")}
    assert issue_ids["Ticker"] == "KO"
    assert issue_ids["RIC"] == "KO.N"
    # where IB sends the CUSIP: in the Reuters issue identifiers, next to the ISIN
    assert (issue_ids["CUSIP"], issue_ids["ISIN"]) == ("191216100", "US1912161007")
    shares = root.find("CoGeneralInfo/SharesOut")
    assert shares is not None
    assert float(shares.text or "0") == KO.shares_outstanding
    assert float(shares.attrib["TotalFloat"]) == KO.float_shares
    assert root.findtext("CoGeneralInfo/Employees") == str(KO.employees)
    assert [g.attrib["ID"] for g in root.iter("Group")] == [
        "Price and Volume",
        "Income Statement",
        "Per share data",
        "Other Ratios",
    ]
    assert root.findtext("peerInfo/Indexconstituet") == "S&P 500"
    forecast = root.find("ForecastData")
    assert forecast is not None
    assert forecast.attrib["CurFiscalYear"] == "2026"
    assert forecast.find("Ratio[@FieldName='TargetPrice']/Value[@PeriodType='CURR']") is not None


@pytest.mark.parametrize("symbol", sorted(DEFAULT_UNIVERSE))
def test_snapshot_ratios_are_consistent_with_security_and_price(symbol: str) -> None:
    """MKTCAP = shares x price / 1e6, P/E = price / EPS, P/B = price / BVPS, TTM in millions."""
    sec = DEFAULT_UNIVERSE[symbol]
    price = sec.base_price * 1.07
    root = parse("ReportSnapshot", sec, price)
    assert ratio(root, "NPRICE") == pytest.approx(price, abs=1e-5)
    assert ratio(root, "MKTCAP") == pytest.approx(sec.shares_outstanding * price / 1e6, rel=1e-9)
    assert ratio(root, "TTMREV") == pytest.approx(sec.revenue_ttm / 1e6)
    assert ratio(root, "TTMNIAC") == pytest.approx(sec.net_income_ttm / 1e6)
    assert ratio(root, "TTMEPSXCLX") == pytest.approx(sec.eps_ttm, abs=1e-5)
    assert ratio(root, "PEEXCLXOR") == pytest.approx(price / sec.eps_ttm, abs=1e-5)
    assert ratio(root, "PRICE2BK") == pytest.approx(price / sec.book_value_per_share, abs=1e-5)
    assert ratio(root, "QBVPS") == pytest.approx(sec.book_value_per_share)
    assert ratio(root, "TTMDIVSHR") == pytest.approx(sec.dividend_per_share)
    assert ratio(root, "TTMPR2REV") == pytest.approx(
        ratio(root, "MKTCAP") / ratio(root, "TTMREV"), abs=1e-5
    )
    assert ratio(root, "VOL10DAVG") == pytest.approx(sec.avg_daily_volume / 1e6)
    assert ratio(root, "NLOW") < price < ratio(root, "NHIG")
    statements = parse("ReportsFinStatements", sec, price)
    latest = statement(periods(statements, "Interim")[0], "BAL")
    assert ratio(root, "EV") == pytest.approx(
        ratio(root, "MKTCAP") + latest["STLD"] - latest["SCSI"], rel=1e-6
    )
    assert ratio(root, "QCSHPS") == pytest.approx(
        latest["SCSI"] * 1e6 / sec.shares_outstanding, rel=1e-5
    )
    pe = root.find("ForecastData/Ratio[@FieldName='ProjPE']/Value")
    eps = root.find("ForecastData/Ratio[@FieldName='ProjEPS']/Value")
    assert pe is not None
    assert eps is not None
    assert float(pe.text or "0") == pytest.approx(price / float(eps.text or "1"), rel=1e-5)


def test_statements_structure_and_filing_dates() -> None:
    """Five annual and five interim periods, latest first, filed 35-60 days after they end, by as_of."""
    root = parse("ReportsFinStatements")
    assert root.tag == "ReportFinancialStatements"
    assert [c.tag for c in root] == [
        "CoIDs",
        "Issues",
        "CoGeneralInfo",
        "StatementInfo",
        "Notes",
        "FinancialStatements",
    ]
    assert root.find("CoGeneralInfo/SharesOut") is None
    mapped = {m.attrib["coaItem"]: m for m in root.iter("mapItem")}
    assert mapped["SREV"].attrib == {
        "coaItem": "SREV",
        "statementType": "INC",
        "lineID": "100",
        "precision": "1",
    }
    assert mapped["SDBF"].attrib["precision"] == "3"
    annual = periods(root, "Annual")
    interim = periods(root, "Interim")
    assert [p.attrib["FiscalYear"] for p in annual] == ["2025", "2024", "2023", "2022", "2021"]
    assert [(p.attrib["FiscalYear"], p.attrib["FiscalPeriodNumber"]) for p in interim] == [
        ("2025", "4"),
        ("2025", "3"),
        ("2025", "2"),
        ("2025", "1"),
        ("2024", "4"),
    ]
    for period in annual + interim:
        end = date.fromisoformat(period.attrib["EndDate"])
        for st in period.findall("Statement"):
            assert [s.attrib["Type"] for s in period.findall("Statement")] == ["INC", "BAL", "CAS"]
            source = st.find("FPHeader/Source")
            assert source is not None
            filed = date.fromisoformat(source.attrib["Date"])
            assert 35 <= (filed - end).days <= 60
            assert filed <= AS_OF.date()
            assert source.text == ("10-K" if end.month == 12 else "10-Q")
            for line in st.iter("lineItem"):
                assert line.attrib["coaCode"] in mapped
                assert mapped[line.attrib["coaCode"]].attrib["statementType"] == st.attrib["Type"]
    q3 = interim[1]  # the income statement covers the quarter, the cash flow the year to date
    assert q3.findtext("Statement[@Type='INC']/FPHeader/PeriodLength") == "3"
    assert q3.findtext("Statement[@Type='CAS']/FPHeader/PeriodLength") == "9"


@pytest.mark.parametrize("symbol", sorted(DEFAULT_UNIVERSE))
def test_statements_add_up(symbol: str) -> None:
    """Every statement's identities hold and the latest four quarters are the security's TTM."""
    sec = DEFAULT_UNIVERSE[symbol]
    root = parse("ReportsFinStatements", sec, sec.base_price)
    for period in periods(root, "Annual") + periods(root, "Interim"):
        inc, bal, cas = (statement(period, k) for k in ("INC", "BAL", "CAS"))
        assert inc["SGRP"] == pytest.approx(inc["RTLR"] - inc["SCOR"], abs=1e-5)
        assert inc["ETOE"] == pytest.approx(
            inc["SCOR"] + inc["SSGA"] + inc["ERAD"] + inc["SDPR"], abs=1e-5
        )
        assert inc["SOPI"] == pytest.approx(inc["RTLR"] - inc["ETOE"], abs=1e-5)
        assert inc["EIBT"] == pytest.approx(inc["SOPI"] + inc["SNIN"], abs=1e-5)
        assert inc["NINC"] == pytest.approx(inc["EIBT"] - inc["TTAX"], abs=1e-5)
        assert inc["SDBF"] == pytest.approx(inc["NINC"] / inc["SDWS"], abs=1e-5)
        assert min(inc["SCOR"], inc["SSGA"], inc["SDPR"], inc["TTAX"]) > 0
        assert bal["SCSI"] == pytest.approx(bal["ACSH"] + bal["ASTI"], abs=1e-5)
        assert bal["ATCA"] == pytest.approx(
            bal["SCSI"] + bal["ATRC"] + bal["AITL"] + bal["SOCA"], abs=1e-5
        )
        assert bal["ATOT"] == pytest.approx(
            bal["ATCA"] + bal["APPN"] + bal["AGWI"] + bal["SOLA"], abs=1e-5
        )
        assert bal["LTCL"] == pytest.approx(bal["LAPB"] + bal["LSTD"] + bal["SOCL"], abs=1e-5)
        assert bal["LTLL"] == pytest.approx(bal["LTCL"] + bal["LTTD"] + bal["SLTL"], abs=1e-5)
        assert bal["QTEL"] == pytest.approx(bal["LTLL"] + bal["QTLE"], abs=1e-5)
        assert bal["QTEL"] == pytest.approx(bal["ATOT"], abs=1e-5)
        assert min(bal.values()) >= 0
        assert cas["OTLO"] == pytest.approx(
            cas["ONET"] + cas["SDED"] + cas["SNCI"] + cas["SOCF"], abs=1e-5
        )
        assert cas["ITLI"] == pytest.approx(cas["SCEX"] + cas["SICF"], abs=1e-5)
        assert cas["FTLF"] == pytest.approx(cas["FCDP"] + cas["FPSS"] + cas["FPRD"], abs=1e-5)
        assert cas["SNCC"] == pytest.approx(cas["OTLO"] + cas["ITLI"] + cas["FTLF"], abs=1e-5)
    quarters = [statement(p, "INC") for p in periods(root, "Interim")[:4]]
    assert sum(q["SREV"] for q in quarters) == pytest.approx(sec.revenue_ttm / 1e6, rel=1e-8)
    assert sum(q["NINC"] for q in quarters) == pytest.approx(sec.net_income_ttm / 1e6, rel=1e-8)
    assert sum(q["SDBF"] for q in quarters) == pytest.approx(sec.eps_ttm, abs=1e-5)
    assert sum(q["DDPS1"] for q in quarters) == pytest.approx(sec.dividend_per_share, abs=1e-5)
    latest = statement(periods(root, "Interim")[0], "BAL")
    assert latest["QTLE"] / latest["QTCO"] == pytest.approx(sec.book_value_per_share, rel=1e-6)
    assert latest["QTCO"] == pytest.approx(sec.shares_outstanding / 1e6)


def test_annual_figures_grow_and_match_their_quarters() -> None:
    """Annual revenue grows plausibly year to year; a year is its quarters; Q4 CAS is the year's."""
    root = parse("ReportsFinStatements", DEFAULT_UNIVERSE["MSFT"], 420.0)
    annual = periods(root, "Annual")
    revenues = [statement(p, "INC")["SREV"] for p in annual]
    for newer, older in itertools.pairwise(revenues):
        assert 1.0 < newer / older < 1.3
    year = [statement(p, "INC") for p in periods(root, "Interim")[:4]]
    assert statement(annual[0], "INC")["SREV"] == pytest.approx(sum(q["SREV"] for q in year))
    assert statement(annual[0], "INC")["SDBF"] == pytest.approx(
        sum(q["SDBF"] for q in year), abs=1e-5
    )
    assert statement(annual[0], "CAS") == pytest.approx(
        statement(periods(root, "Interim")[0], "CAS")
    )
    assert statement(annual[0], "BAL") == pytest.approx(
        statement(periods(root, "Interim")[0], "BAL")
    )


def test_reports_show_only_what_was_filed_by_as_of() -> None:
    """A day before the 10-K is filed the report ends with Q3; from the filing day on it has Q4."""
    later = parse("ReportsFinStatements")
    source = periods(later, "Interim")[0].find("Statement/FPHeader/Source")
    assert source is not None
    filed = datetime.fromisoformat(source.attrib["Date"]).replace(tzinfo=UTC)
    before = parse("ReportsFinStatements", as_of=filed - timedelta(days=1))
    assert periods(before, "Interim")[0].attrib["EndDate"] == "2025-09-30"
    assert periods(before, "Annual")[0].attrib["FiscalYear"] == "2024"
    on_day = parse("ReportsFinStatements", as_of=filed)
    assert periods(on_day, "Interim")[0].attrib["EndDate"] == "2025-12-31"
    snapshot = parse("ReportSnapshot", as_of=filed - timedelta(days=1))
    assert snapshot.findtext("CoGeneralInfo/LatestAvailableInterim") == "2025-09-30"
    assert snapshot.findtext("CoGeneralInfo/LatestAvailableAnnual") == "2024-12-31"


def test_summary_series() -> None:
    """ReportsFinSummary: EPS, DPS and revenue (in units) series with TTM rows matching the security."""
    root = parse("ReportsFinSummary")
    assert root.tag == "FinancialSummary"
    assert [c.tag for c in root] == ["EPSs", "DividendPerShares", "TotalRevenues", "Dividends"]
    for group in root:
        assert group.attrib == {"currency": "USD"}

    def latest_ttm(tag: str) -> float:
        rows = [r for r in root.iter(tag) if r.attrib["reportType"] == "TTM"]
        assert rows[0].attrib == {"asofDate": "2025-12-31", "reportType": "TTM", "period": "12M"}
        return float(rows[0].text or "nan")

    assert latest_ttm("EPS") == pytest.approx(KO.eps_ttm, abs=1e-5)
    assert latest_ttm("TotalRevenue") == pytest.approx(KO.revenue_ttm, rel=1e-9)
    assert latest_ttm("DividendPerShare") == pytest.approx(KO.dividend_per_share, abs=1e-5)
    quarterly = [r for r in root.iter("TotalRevenue") if r.attrib["period"] == "3M"]
    assert len(quarterly) == 12
    assert sum(float(r.text or "0") for r in quarterly[:4]) == pytest.approx(
        KO.revenue_ttm, rel=1e-9
    )
    dividends = root.findall("Dividends/Dividend")
    assert len(dividends) == 8
    first = dividends[0].attrib
    assert first["type"] == "CD"
    assert first["declarationDate"] < first["exDate"] < first["recordDate"] < first["payDate"]
    no_dividend = parse("ReportsFinSummary", DEFAULT_UNIVERSE["AMZN"], 190.0)
    assert no_dividend.findall("Dividends/Dividend") == []


def test_documents_are_deterministic_and_escaped() -> None:
    """The same inputs give the same text; names with XML metacharacters round-trip."""
    for report in REPORT_TYPES:
        assert report_xml(report, KO, price=63.0, as_of=AS_OF) == report_xml(
            report, KO, price=63.0, as_of=AS_OF
        )
    odd = dataclasses.replace(KO, long_name='AT&T <"NEW"> INC', subcategory="Telecom & <Cable>")
    root = parse("ReportSnapshot", odd)
    assert root.findtext("CoIDs/CoID[@Type='CompanyName']") == 'AT&T <"NEW"> INC'
    assert root.findtext("peerInfo/IndustryInfo/Industry") == "Telecom & <Cable>"
    assert report_xml("ReportSnapshot", KO, price=63.0, as_of=AS_OF).startswith("<?xml version=")


def test_trailing_figures_follow_the_as_of_date() -> None:
    """Reports as of other dates keep their own trailing figures equal to the security's."""
    for as_of in (datetime(2019, 8, 1, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)):
        root = parse("ReportsFinStatements", as_of=as_of)
        quarters = [statement(p, "INC") for p in periods(root, "Interim")[:4]]
        assert sum(q["SREV"] for q in quarters) == pytest.approx(KO.revenue_ttm / 1e6, rel=1e-8)
        end = date.fromisoformat(periods(root, "Interim")[0].attrib["EndDate"])
        assert 35 <= (as_of.date() - end).days <= 150
