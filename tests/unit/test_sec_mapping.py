"""SEC company facts -> point-in-time FundamentalData: fallbacks, restatements, provenance, ratios."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ibbot.fundamentals.errors import MalformedResponse
from ibbot.fundamentals.prices import PricePoint
from ibbot.fundamentals.sec import (
    BOOK_VALUE_PER_SHARE,
    build_history,
    filing_day_known_by,
    known_at,
    normalize_ticker,
    priced,
)
from ibbot.fundamentals.sec.concepts import wanted_concepts
from ibbot.fundamentals.sec.facts import parse_company_facts, parse_frame, parse_ticker_map
from ibbot.fundamentals.sec.mapping import concept_forms
from ibbot.fundamentals.sec.pointintime import FilingBook
from ibbot.fundamentals.sec.synthetic import (
    CompanyFactsBuilder,
    QuarterFigures,
    fiscal_quarters,
    quarterly_history,
    ticker_map_document,
)

URL = "http://sec.test/api/xbrl/companyfacts/CIK0000000042.json"


def history(builder: CompanyFactsBuilder, **kwargs: object) -> list:
    facts = parse_company_facts(builder.body(), URL, wanted_concepts())
    return build_history("ACME", facts, document_url=URL, **kwargs)  # type: ignore[arg-type]


def two_years(**concepts: str) -> CompanyFactsBuilder:
    """FY2024 and FY2025 by quarters, revenue 100/110/120/130 then 140/150/160/170."""
    builder = CompanyFactsBuilder(42, "ACME CORP")
    revenue = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0, 170.0]
    quarters = [
        (
            period,
            QuarterFigures(
                revenue=value,
                net_income=value / 10,
                eps=value / 100,
                operating_cash_flow=value / 5,
                assets=1000.0 + i,
                liabilities=600.0,
                equity=400.0 + i,
                shares=100.0,
            ),
        )
        for i, (period, value) in enumerate(zip(fiscal_quarters(2024, 8), revenue, strict=True))
    ]
    quarterly_history(builder, quarters, concepts=concepts)
    return builder


def test_known_at_is_18_eastern_on_the_filing_date() -> None:
    """A filing dated D counts from 18:00 US/Eastern on D (EDT and EST), and back again."""
    assert known_at(date(2025, 7, 1)) == datetime(2025, 7, 1, 22, tzinfo=UTC)
    assert known_at(date(2025, 1, 2)) == datetime(2025, 1, 2, 23, tzinfo=UTC)
    assert filing_day_known_by(datetime(2025, 7, 1, 22, tzinfo=UTC)) == date(2025, 7, 1)
    assert filing_day_known_by(datetime(2025, 7, 1, 21, 59, tzinfo=UTC)) == date(2025, 6, 30)


def test_history_has_one_record_per_filing_with_ttm_and_provenance() -> None:
    """Each 10-Q/10-K becomes a record at its filing date; TTM and every source fact are kept."""
    records = history(two_years())
    assert [r.timestamp for r in records] == [
        known_at(date(2024, 5, 5)),
        known_at(date(2024, 8, 4)),
        known_at(date(2024, 11, 4)),
        known_at(date(2025, 2, 24)),
        known_at(date(2025, 5, 5)),
        known_at(date(2025, 8, 4)),
        known_at(date(2025, 11, 4)),
        known_at(date(2026, 2, 24)),
    ]
    first_year_end = records[3]
    assert first_year_end.revenue == pytest.approx(460.0)
    assert first_year_end.source == "sec"
    assert first_year_end.report_type == "CompanyFacts"
    assert first_year_end.cik == "0000000042"
    assert first_year_end.company_name == "ACME CORP"
    q3 = records[6]  # TTM at 2025-09-30 = Q4'24 (FY - 9M) + Q1..Q3'25
    assert q3.revenue == pytest.approx(130 + 140 + 150 + 160)
    detail = q3.details["revenue_ttm"]
    assert detail["concept"] == "us-gaap:Revenues"
    assert detail["method"] == "sum_of_quarters"
    assert detail["period"] == {"start": "2024-10-01", "end": "2025-09-30"}
    assert detail["form"] == "10-Q"
    assert detail["filed"] == "2025-11-04"
    assert detail["accession"] == q3.details["accessions"][0]
    assert len(detail["facts"]) == 5  # Q3'25, Q2'25 and Q1'25 as stated, FY'24 and 9M'24
    assert q3.eps == pytest.approx((130 + 140 + 150 + 160) / 100)
    assert q3.values["operating_cash_flow_ttm"] == pytest.approx((130 + 140 + 150 + 160) / 5)
    assert q3.shares_outstanding == 100.0
    assert q3.values["total_assets"] == 1006.0
    assert q3.values[BOOK_VALUE_PER_SHARE] == pytest.approx(4.06)
    assert "dividends_per_share_ttm" in q3.details["missing"]
    assert q3.dividend_per_share is None


def test_first_records_lack_ttm_until_a_year_is_known() -> None:
    """Before a full year is filed, the TTM measures are missing, balance-sheet ones are not."""
    first = history(two_years())[0]
    assert first.revenue is None
    assert "revenue_ttm" in first.details["missing"]
    assert first.values["total_assets"] == 1000.0


def test_revenue_fallback_concept() -> None:
    """A company tagging RevenueFromContractWithCustomerExcludingAssessedTax gets its revenue."""
    tag = "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax"
    last = history(two_years(revenue=tag))[-1]
    assert last.revenue == pytest.approx(140 + 150 + 160 + 170)
    assert last.details["revenue_ttm"]["concept"] == tag


def test_latest_period_wins_across_tag_changes() -> None:
    """An abandoned tag (SalesRevenueNet, FY2017) never shadows the one in use now."""
    builder = two_years(revenue="us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax")
    old = builder.filing(date(2018, 2, 20), "10-K", fiscal_year=2017, fiscal_period="FY")
    builder.add(
        "us-gaap:SalesRevenueNet", 999.0, filing=old, start=date(2017, 1, 1), end=date(2017, 12, 31)
    )
    builder.add("us-gaap:Revenues", 5.0, filing=old, start=date(2017, 1, 1), end=date(2017, 12, 31))
    records = history(builder)
    assert records[0].revenue == 5.0  # in 2018 both old tags end the same day: listed first wins
    assert records[0].details["revenue_ttm"]["concept"] == "us-gaap:Revenues"
    assert records[-1].details["revenue_ttm"]["concept"].endswith("ExcludingAssessedTax")


def test_liabilities_derived_from_total_minus_equity() -> None:
    """Without Liabilities: LiabilitiesAndStockholdersEquity - equity of the same balance sheet."""
    builder = two_years(liabilities="")
    filing = builder.filing(date(2026, 2, 24), "10-K", fiscal_year=2025, fiscal_period="FY")
    builder.add(
        "us-gaap:LiabilitiesAndStockholdersEquity", 1007.0, filing=filing, end=date(2025, 12, 31)
    )
    last = history(builder)[-1]
    assert last.values["total_liabilities"] == pytest.approx(1007.0 - 407.0)
    assert last.details["total_liabilities"]["concept"] == (
        "us-gaap:LiabilitiesAndStockholdersEquity - us-gaap:StockholdersEquity"
    )
    assert last.details["total_liabilities"]["method"] == "derived"


def test_shares_fall_back_to_weighted_average_diluted() -> None:
    """Multi-class issuers have no cover-page total: the diluted weighted average is used."""
    builder = two_years(shares="")
    filing = builder.filing(date(2026, 2, 24), "10-K", fiscal_year=2025, fiscal_period="FY")
    builder.add(
        "us-gaap:WeightedAverageNumberOfDilutedSharesOutstanding",
        12_000.0,
        filing=filing,
        start=date(2025, 1, 1),
        end=date(2025, 12, 31),
        unit="shares",
    )
    last = history(builder)[-1]
    assert last.shares_outstanding == 12_000.0
    assert last.details["shares_outstanding"]["concept"].endswith("DilutedSharesOutstanding")


def test_restatement_is_seen_only_from_its_filing_date() -> None:
    """A 10-K/A restating FY2025 changes the view from its own filing date, never before."""
    builder = two_years()
    amendment = builder.filing(date(2026, 4, 15), "10-K/A", fiscal_year=2025, fiscal_period="FY")
    builder.add(
        "us-gaap:Revenues", 600.0, filing=amendment, start=date(2025, 1, 1), end=date(2025, 12, 31)
    )
    records = history(builder)
    original, restated = records[-2], records[-1]
    assert original.timestamp == known_at(date(2026, 2, 24))
    assert original.revenue == pytest.approx(620.0)
    assert restated.timestamp == known_at(date(2026, 4, 15))
    assert restated.revenue == 600.0
    assert restated.details["revenue_ttm"]["form"] == "10-K/A"
    before = history(builder, until=date(2026, 4, 14))
    assert before[-1].revenue == pytest.approx(620.0)


def test_filing_book_only_moves_forward() -> None:
    """Replaying filings backwards would mix views: refused."""
    facts = parse_company_facts(two_years().body(), URL, wanted_concepts())
    book = FilingBook(facts, concept_forms())
    book.advance(date(2025, 1, 1))
    with pytest.raises(ValueError, match="only moves forward"):
        book.advance(date(2024, 1, 1))


def test_since_returns_only_later_records() -> None:
    """``since`` keeps the views the same and returns only records known after it."""
    everything = history(two_years())
    later = history(two_years(), since=everything[5].timestamp)
    assert later == everything[6:]


def test_facts_of_other_forms_do_not_feed_statements() -> None:
    """Revenue tagged in an 8-K is ignored; statements come from 10-Q/10-K only."""
    builder = two_years()
    press = builder.filing(date(2026, 3, 1), "8-K")
    builder.add(
        "us-gaap:Revenues", 1.0, filing=press, start=date(2025, 1, 1), end=date(2025, 12, 31)
    )
    assert history(builder)[-1].revenue == pytest.approx(620.0)


def test_priced_adds_market_cap_pe_and_price_to_book() -> None:
    """Ratios at a price, with the arithmetic in details; no P/E on losses."""
    record = history(two_years())[-1]
    point = PricePoint(50.0, record.timestamp, "close of the '1 day' bar of 2026-02-23")
    with_price = priced(record, point)
    assert with_price.price == 50.0
    assert with_price.market_cap == pytest.approx(100 * 50.0)
    assert with_price.pe_ratio == pytest.approx(50.0 / record.eps)
    assert with_price.price_to_book == pytest.approx(50.0 / record.values[BOOK_VALUE_PER_SHARE])
    assert with_price.details["price"]["basis"].startswith("close of")
    assert "market_cap" in with_price.details["ratios"]
    assert priced(record, None) is record
    losing = priced(type(record)(**{**_fields(record), "eps": -1.0}), point)
    assert losing.pe_ratio is None


def _fields(record: object) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}  # type: ignore[attr-defined]


def test_company_without_mapped_concepts_has_no_history() -> None:
    """A document with facts but none the mapping reads gives no records."""
    builder = CompanyFactsBuilder(7, "FUND TRUST")
    filing = builder.filing(date(2025, 3, 1), "N-CSR")
    builder.add(
        "us-gaap:InvestmentIncomeInterest",
        5.0,
        filing=filing,
        start=date(2024, 1, 1),
        end=date(2024, 12, 31),
    )
    facts = parse_company_facts(builder.body(), URL, wanted_concepts())
    assert facts.reported_concepts == 1
    assert build_history("FUND", facts, document_url=URL) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"cik": 42, "entityName": "ACME", "facts": {"us-gaap": {"Rev', "not valid JSON"),
        (b"<html>Service Unavailable</html>", "not valid JSON"),
        (b'{"cik": "x", "entityName": "ACME", "facts": {}}', "cik"),
        (b"[1, 2]", "company-facts"),
        (
            b'{"cik": 42, "entityName": "A", "facts": {"us-gaap": {"Assets": {"units": {"USD": '
            b'[{"end": "2024-13-45", "val": 1, "accn": "a", "form": "10-K", "filed": "2025-01-01"}]}}}}}',
            "us-gaap:Assets",
        ),
    ],
)
def test_malformed_company_facts_are_reported(body: bytes, problem: str) -> None:
    """Truncated, non-JSON and wrongly shaped documents raise MalformedResponse naming the URL."""
    with pytest.raises(MalformedResponse, match=problem) as caught:
        parse_company_facts(body, URL, wanted_concepts())
    assert URL in str(caught.value)


def test_ticker_map_and_normalized_tickers() -> None:
    """The ticker map is keyed by the SEC's spelling; BRK.B is looked up as BRK-B."""
    body = ticker_map_document(
        [(1067983, "BRK-B", "BERKSHIRE HATHAWAY INC"), (320193, "AAPL", "Apple Inc.")]
    )
    companies = parse_ticker_map(body, "u")
    assert companies[normalize_ticker("brk.b")].cik10 == "0001067983"
    assert companies["AAPL"].title == "Apple Inc."
    with pytest.raises(MalformedResponse):
        parse_ticker_map(b'{"0": {"ticker": "X"}}', "u")


def test_frame_document() -> None:
    """A frames document becomes one row per company."""
    body = (
        b'{"taxonomy": "us-gaap", "tag": "Assets", "ccp": "CY2024Q4I", "uom": "USD", "label": "Assets",'
        b' "pts": 1, "data": [{"accn": "a-1", "cik": 42, "entityName": "ACME", "loc": "US-DE",'
        b' "end": "2024-12-31", "val": 1000}]}'
    )
    frame = parse_frame(body, "u")
    assert (frame.concept, frame.unit, frame.period) == ("Assets", "USD", "CY2024Q4I")
    assert frame.rows[0].cik == 42
    assert frame.rows[0].value == 1000.0
