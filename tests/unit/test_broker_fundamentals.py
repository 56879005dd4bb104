"""Fundamentals parsers: synthetic IB-shaped XML, missing groups, hostile and broken documents."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pytest

from ibbot.broker.fundamentals import (
    parse_financial_statements,
    parse_financial_summary,
    parse_report_snapshot,
)
from ibbot.errors import BrokerError, FundamentalsParseError
from ibbot.models import ContractInfo, FundamentalData, from_json, to_json

T0 = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


def _ratio(name: str, value: str, kind: str = "N") -> str:
    return f'<Ratio FieldName="{name}" Type="{kind}">{value}</Ratio>'


def snapshot_xml(
    *,
    cik: bool = True,
    groups: tuple[str, ...] = ("ids", "issues", "general", "peers", "ratios", "forecast"),
    ratios: dict[str, str] | None = None,
    company: str = "Northwind Gadgets Inc.",
) -> str:
    """A ReportSnapshot with IB's structure and invented figures; ``groups`` picks what is present."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<ReportSnapshot Major="1" Minor="0">']
    if "ids" in groups:
        parts.append("<CoIDs>")
        parts.append('<CoID Type="RepNo">A1B2C</CoID>')
        parts.append(f'<CoID Type="CompanyName">{escape(company)}</CoID>')
        if cik:
            parts.append('<CoID Type="IRSNo">123456789</CoID>')
            parts.append('<CoID Type="CIKNo">0000999001</CoID>')
        parts.append("</CoIDs>")
    if "issues" in groups:
        parts.append(
            '<Issues><Issue ID="2" Type="P" Desc="Preferred Stock" Order="1">'
            '<IssueID Type="Name">Preference Shares</IssueID>'
            '<Exchange Code="NA" Country="">Not Available</Exchange></Issue>'
            '<Issue ID="1" Type="C" Desc="Common Stock" Order="1">'
            '<IssueID Type="Ticker">NWG</IssueID><IssueID Type="ISIN">XX0000000001</IssueID>'
            '<Exchange Code="NYSE" Country="USA">New York Stock Exchange</Exchange></Issue></Issues>'
        )
    if "general" in groups:
        parts.append(
            "<CoGeneralInfo><CoStatus Code='1'>Active</CoStatus>"
            "<LastModified>2026-02-20</LastModified>"
            "<LatestAvailableAnnual>2025-12-31</LatestAvailableAnnual>"
            "<Employees LastUpdated='2025-12-31'>48200</Employees>"
            "<SharesOut Date='2026-02-01' TotalFloat='395000000.0'>400000000.0</SharesOut>"
            "<ReportingCurrency Code='USD'>U.S. Dollars</ReportingCurrency></CoGeneralInfo>"
        )
    if "peers" in groups:
        parts.append(
            "<peerInfo><IndustryInfo>"
            '<Industry type="NAICS" order="1" reported="0" code="334111">Computer Makers</Industry>'
            '<Industry type="SIC" order="2" reported="0" code="3572">Storage Devices</Industry>'
            '<Industry type="SIC" order="0" reported="1" code="3571">Electronic Computers</Industry>'
            '<Industry type="TRBC" order="1" reported="0" code="5710">Computer Hardware</Industry>'
            "</IndustryInfo><Indexconstituet>S&amp;P 500</Indexconstituet></peerInfo>"
        )
    if "ratios" in groups:
        values = {
            "NPRICE": "50.00000",
            "PDATE": "2026-02-27T00:00:00",
            "MKTCAP": "20000.00000",
            "TTMREV": "8000.00000",
            "TTMEPSXCLX": "2.50000",
            "QBVPS": "12.50000",
            "TTMDIVSHR": "1.10000",
            "TTMROEPCT": "-99999.99000",
            "PEEXCLXOR": "20.00000",
            "PRICE2BK": "4.00000",
        }
        values.update(ratios or {})
        kinds = {"PDATE": "D"}
        # IB groups the ratios; the parser must not care which group holds which.
        names = list(values)
        half = len(names) // 2
        parts.append(
            '<Ratios PriceCurrency="USD" ReportingCurrency="USD" LatestAvailableDate="2025-12-31">'
        )
        for group, chunk in (("Price and Volume", names[:half]), ("Other Ratios", names[half:])):
            parts.append(f'<Group ID="{group}">')
            parts.extend(_ratio(n, values[n], kinds.get(n, "N")) for n in chunk)
            parts.append("</Group>")
        parts.append("</Ratios>")
    if "forecast" in groups:
        parts.append(
            '<ForecastData ConsensusType="Mean" CurFiscalYear="2026">'
            '<Ratio FieldName="TargetPrice" Type="N"><Value PeriodType="CURR">61.5</Value></Ratio>'
            '<Ratio FieldName="ProjEPS" Type="N"><Value PeriodType="CURR">2.9</Value></Ratio>'
            "</ForecastData>"
        )
    parts.append("</ReportSnapshot>")
    return "\n".join(parts)


def statements_xml(*, with_map: bool = True, with_interim: bool = True) -> str:
    """A ReportsFinStatements document with one annual and one interim period, invented figures."""
    coa_map = (
        "<COAMap>"
        '<mapItem coaItem="SREV" statementType="INC" lineID="100" precision="1">Revenue</mapItem>'
        '<mapItem coaItem="NINC" statementType="INC" lineID="1400" precision="1">Net Income</mapItem>'
        '<mapItem coaItem="SDBF" statementType="INC" lineID="1550" precision="3">Diluted EPS</mapItem>'
        '<mapItem coaItem="ATOT" statementType="BAL" lineID="880" precision="1">Total Assets</mapItem>'
        "</COAMap>"
        if with_map
        else ""
    )

    def header(length: int | None, source: str, source_date: str, stmt_date: str) -> str:
        length_xml = (
            f"<PeriodLength>{length}</PeriodLength><periodType Code='W'>Weeks</periodType>"
            if length
            else ""
        )
        return (
            f"<FPHeader>{length_xml}<UpdateType Code='UPD'>Updated Normal</UpdateType>"
            f"<StatementDate>{stmt_date}</StatementDate>"
            f"<Source Date='{source_date}'>{source}</Source></FPHeader>"
        )

    interim = (
        "<InterimPeriods>"
        '<FiscalPeriod Type="Interim" EndDate="2026-03-28" FiscalYear="2026" FiscalPeriodNumber="1">'
        f'<Statement Type="INC">{header(13, "10-Q", "2026-05-01", "2026-03-28")}'
        '<lineItem coaCode="SREV">2100.5</lineItem><lineItem coaCode="SDBF">0.66</lineItem>'
        "</Statement></FiscalPeriod></InterimPeriods>"
        if with_interim
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ReportFinancialStatements Major="1" Minor="0" Revision="1">'
        '<CoIDs><CoID Type="RepNo">A1B2C</CoID><CoID Type="CompanyName">Northwind Gadgets Inc.</CoID>'
        "</CoIDs>"
        "<CoGeneralInfo><ReportingCurrency Code='USD'>U.S. Dollars</ReportingCurrency></CoGeneralInfo>"
        '<StatementInfo><COAType Code="IND">Industry</COAType></StatementInfo>'
        f"<FinancialStatements>{coa_map}<AnnualPeriods>"
        '<FiscalPeriod Type="Annual" EndDate="2025-12-31" FiscalYear="2025">'
        f'<Statement Type="INC">{header(52, "10-K", "2026-02-14", "2025-12-31")}'
        '<lineItem coaCode="SREV">8000.000000</lineItem>'
        '<lineItem coaCode="NINC">1000.000000</lineItem>'
        '<lineItem coaCode="SDBF">2.500000</lineItem></Statement>'
        f'<Statement Type="BAL">{header(None, "10-K", "2026-02-14", "2025-12-31")}'
        '<lineItem coaCode="ATOT">15000.0</lineItem><lineItem coaCode="QTLE"></lineItem>'
        "</Statement></FiscalPeriod></AnnualPeriods>"
        f"{interim}</FinancialStatements></ReportFinancialStatements>"
    )


def summary_xml() -> str:
    """A ReportsFinSummary with two series and one dividend, invented figures."""
    return (
        "<FinancialSummary>"
        '<EPSs currency="USD">'
        '<EPS asofDate="2025-12-31" reportType="A" period="12M">2.5</EPS>'
        '<EPS asofDate="2025-12-31" reportType="TTM" period="12M">2.5</EPS></EPSs>'
        '<TotalRevenues currency="USD">'
        '<TotalRevenue asofDate="2025-12-31" reportType="P" period="3M">2100000000.0</TotalRevenue>'
        "</TotalRevenues>"
        '<Dividends currency="USD"><Dividend type="CD" exDate="2026-02-10" recordDate="2026-02-11" '
        'payDate="2026-02-27" declarationDate="2026-01-29">0.275</Dividend></Dividends>'
        "</FinancialSummary>"
    )


CONTRACT = ContractInfo(
    "NWG", 4242, "NORTHWIND GADGETS", "Technology", "Computers", "Hardware", "SMART", "USD"
)


def test_snapshot_maps_identity_shares_and_ratios() -> None:
    """A full snapshot fills identity, share counts and the value ratios, in units not millions."""
    xml = snapshot_xml()
    data = parse_report_snapshot(xml, "NWG", received_at=T0)
    assert data.symbol == "NWG"
    assert data.timestamp == T0
    assert data.company_name == "Northwind Gadgets Inc."
    assert data.cik == "0000999001"
    assert data.employees == 48_200
    assert data.shares_outstanding == 400_000_000.0
    assert data.float_shares == 395_000_000.0
    assert data.currency == "USD"
    assert data.price == 50.0
    assert data.market_cap == 20_000_000_000.0
    assert data.revenue == 8_000_000_000.0
    assert data.pe_ratio == 20.0
    assert data.price_to_book == 4.0
    assert data.eps == 2.5
    assert data.dividend_per_share == 1.1
    assert data.raw_xml == xml
    assert data.report_type == "ReportSnapshot"


def test_snapshot_keeps_other_ratios_by_fieldname_and_drops_not_available() -> None:
    """Unmapped numeric ratios stay in ``values``; IB's -99999.99 marker means missing."""
    data = parse_report_snapshot(snapshot_xml(), "NWG", received_at=T0)
    assert data.values == {"QBVPS": 12.5}
    assert data.details["ratios_text"] == {"PDATE": "2026-02-27T00:00:00"}
    assert data.details["forecast"]["values"] == {"TargetPrice": 61.5, "ProjEPS": 2.9}
    assert data.details["issue_ids"] == {"Ticker": "NWG", "ISIN": "XX0000000001"}
    assert data.details["exchange"]["code"] == "NYSE"
    assert data.details["index_constituents"] == ["S&P 500"]
    assert data.details["company_ids"] == {"RepNo": "A1B2C", "IRSNo": "123456789"}


def test_snapshot_classification_from_peer_info_without_contract() -> None:
    """Without a contract: industry is the TRBC name, category the SIC the company reports."""
    data = parse_report_snapshot(snapshot_xml(), "NWG", received_at=T0)
    assert data.industry == "Computer Hardware"
    assert data.category == "Electronic Computers"
    assert data.subcategory is None
    assert {i["type"] for i in data.details["industries"]} == {"TRBC", "SIC", "NAICS"}


def test_snapshot_classification_from_contract_wins() -> None:
    """IB's contract classification is used when the caller has one."""
    data = parse_report_snapshot(snapshot_xml(), "NWG", received_at=T0, contract=CONTRACT)
    assert (data.industry, data.category, data.subcategory) == (
        "Technology",
        "Computers",
        "Hardware",
    )


def test_snapshot_non_us_issuer_without_cik() -> None:
    """A non-US issuer has no CIKNo or IRSNo: those are None, the rest still parses."""
    data = parse_report_snapshot(
        snapshot_xml(cik=False, ratios={"NPRICE": "1234.0"}), "1881", received_at=T0
    )
    assert data.cik is None
    assert data.price == 1234.0
    assert data.details["company_ids"] == {"RepNo": "A1B2C"}


def test_snapshot_missing_groups_give_none() -> None:
    """A snapshot with no ids, ratios or peers parses to Nones, with the contract as fallback."""
    data = parse_report_snapshot(
        snapshot_xml(groups=("general",)), "NWG", received_at=T0, contract=CONTRACT
    )
    assert data.company_name == "NORTHWIND GADGETS"
    assert data.cik is None
    assert data.price is None
    assert data.market_cap is None
    assert data.values == {}
    assert data.currency == "USD"
    bare = parse_report_snapshot("<ReportSnapshot/>", "NWG", received_at=T0)
    assert bare.company_name == ""
    assert bare.employees is None
    assert bare.shares_outstanding is None
    assert bare.industry is None
    assert bare.currency is None
    assert bare.details["forecast"] == {}


def test_snapshot_employees_fallback_to_ratio_and_garbage_numbers() -> None:
    """Employees comes from the Employees ratio when CoGeneralInfo lacks it; bad numbers are None."""
    xml = snapshot_xml(
        groups=("ids", "ratios"), ratios={"Employees": "310", "NPRICE": "n/a", "EV": "inf"}
    )
    data = parse_report_snapshot(xml, "NWG", received_at=T0)
    assert data.employees == 310
    assert data.price is None
    assert "EV" not in data.values


def test_snapshot_defaults_received_at_to_now_and_round_trips() -> None:
    """Without ``received_at`` the time is now (UTC); the result survives the JSON codec."""
    before = datetime.now(UTC)
    data = parse_report_snapshot(snapshot_xml(), "NWG")
    assert data.timestamp >= before
    assert from_json(FundamentalData, to_json(data)) == data


def test_statements_line_items_by_coa_code_with_period_metadata() -> None:
    """Statements come out one per period and type, with line items keyed by coaCode."""
    out = parse_financial_statements(statements_xml(), "NWG", received_at=T0)
    assert out["symbol"] == "NWG"
    assert out["received_at"] == T0.isoformat()
    assert out["company_name"] == "Northwind Gadgets Inc."
    assert out["cik"] is None
    assert out["reporting_currency"] == "USD"
    assert out["coa_type"] == "IND"
    assert out["coa_map"]["SDBF"] == {
        "name": "Diluted EPS",
        "statement_type": "INC",
        "line_id": 1550,
        "precision": 3,
    }
    by_key = {(s["period_type"], s["statement_type"]): s for s in out["statements"]}
    annual_inc = by_key[("annual", "INC")]
    assert annual_inc["end_date"] == "2025-12-31"
    assert annual_inc["fiscal_year"] == 2025
    assert annual_inc["fiscal_period"] is None
    assert annual_inc["period_length"] == 52
    assert annual_inc["period_unit"] == "W"
    assert annual_inc["source"] == "10-K"
    assert annual_inc["source_date"] == "2026-02-14"
    assert annual_inc["line_items"] == {"SREV": 8000.0, "NINC": 1000.0, "SDBF": 2.5}
    annual_bal = by_key[("annual", "BAL")]
    assert annual_bal["period_length"] is None
    assert annual_bal["line_items"] == {"ATOT": 15000.0}
    interim = by_key[("interim", "INC")]
    assert interim["fiscal_period"] == 1
    assert interim["source"] == "10-Q"
    assert interim["line_items"]["SDBF"] == 0.66
    assert out["raw"].startswith("<?xml")


def test_statements_missing_map_and_interims() -> None:
    """A document without COAMap or interim periods parses to an empty map and annuals only."""
    out = parse_financial_statements(
        statements_xml(with_map=False, with_interim=False), "NWG", received_at=T0
    )
    assert out["coa_map"] == {}
    assert {s["period_type"] for s in out["statements"]} == {"annual"}
    empty = parse_financial_statements("<ReportFinancialStatements/>", "NWG", received_at=T0)
    assert empty["statements"] == []
    assert empty["reporting_currency"] is None


def test_summary_series_and_dividends() -> None:
    """ReportsFinSummary series are keyed by element name, with currency, rows and dividends."""
    out = parse_financial_summary(summary_xml(), "NWG", received_at=T0)
    assert out["series"]["EPS"]["currency"] == "USD"
    assert [r["report_type"] for r in out["series"]["EPS"]["rows"]] == ["A", "TTM"]
    assert out["series"]["TotalRevenue"]["rows"][0] == {
        "as_of_date": "2025-12-31",
        "report_type": "P",
        "period": "3M",
        "value": 2_100_000_000.0,
    }
    assert out["dividends"] == [
        {
            "type": "CD",
            "ex_date": "2026-02-10",
            "record_date": "2026-02-11",
            "pay_date": "2026-02-27",
            "declaration_date": "2026-01-29",
            "value": 0.275,
            "currency": "USD",
        }
    ]


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<ReportSnapshot><CoIDs><CoID Type='CompanyName'>&lol3;</CoID></CoIDs></ReportSnapshot>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<ReportSnapshot><CoIDs><CoID Type='CompanyName'>&xxe;</CoID></CoIDs></ReportSnapshot>"
)
EXTERNAL_DTD = '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1/x.dtd"><ReportSnapshot/>'


@pytest.mark.parametrize(
    "hostile", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"]
)
def test_hostile_xml_is_refused(hostile: str) -> None:
    """Entity expansion, external entities and DTDs are refused, never expanded or fetched."""
    with pytest.raises(FundamentalsParseError, match="refused") as info:
        parse_report_snapshot(hostile, "EVIL", received_at=T0)
    assert info.value.symbol == "EVIL"
    assert "passwd" not in str(info.value.reason)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("", "empty document"),
        ("   \n ", "empty document"),
        ("this is not xml at all", "malformed XML"),
        (snapshot_xml()[:300], "malformed XML"),
        ("<ReportSnapshot><CoIDs></ReportSnapshot>", "malformed XML"),
        ("<html><body>Service unavailable</body></html>", "root element is <html>"),
        (statements_xml(), "expected <ReportSnapshot>"),
    ],
    ids=["empty", "blank", "garbage", "truncated", "mismatched", "html", "wrong-report"],
)
def test_broken_documents_raise_clear_errors(document: str, reason: str) -> None:
    """Garbage, truncated or wrong documents raise an error naming the symbol, reason and excerpt."""
    with pytest.raises(FundamentalsParseError) as info:
        parse_report_snapshot(document, "NWG", received_at=T0)
    err = info.value
    assert isinstance(err, BrokerError)
    assert reason in str(err)
    assert "ReportSnapshot for NWG" in str(err)
    assert len(err.excerpt) <= 80
    assert err.excerpt == " ".join(document.split())[:80]


def test_statements_and_summary_check_their_roots() -> None:
    """Each parser refuses another report's document."""
    with pytest.raises(FundamentalsParseError, match="expected <ReportFinancialStatements>"):
        parse_financial_statements(snapshot_xml(), "NWG")
    with pytest.raises(FundamentalsParseError, match="expected <FinancialSummary>"):
        parse_financial_summary(snapshot_xml(), "NWG")


def test_non_text_input_is_refused() -> None:
    """Bytes or None instead of text is a parse error, not a crash inside ElementTree."""
    with pytest.raises(FundamentalsParseError, match="expected text"):
        parse_report_snapshot(b"<ReportSnapshot/>", "NWG")  # type: ignore[arg-type]


def test_bom_and_leading_whitespace_are_tolerated() -> None:
    """A byte-order mark or blank lines before the declaration do not break parsing."""
    data = parse_report_snapshot("\ufeff\n  " + snapshot_xml(), "NWG", received_at=T0)
    assert data.price == 50.0


def test_bad_dates_and_issue_without_exchange_are_none() -> None:
    """A date IB garbled and an issue without an Exchange element come out as None."""
    xml = (
        "<ReportSnapshot><Issues><Issue ID='1' Type='C'><IssueID Type='Ticker'>NWG</IssueID>"
        "</Issue></Issues><CoGeneralInfo><LastModified>not-a-date</LastModified>"
        "<LatestAvailableAnnual>2025-12-31T00:00:00</LatestAvailableAnnual></CoGeneralInfo>"
        "</ReportSnapshot>"
    )
    data = parse_report_snapshot(xml, "NWG", received_at=T0)
    assert data.details["last_modified"] is None
    assert data.details["latest_annual"] == "2025-12-31"
    assert data.details["exchange"] is None
    assert data.details["issue_ids"] == {"Ticker": "NWG"}
