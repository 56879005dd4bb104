"""Parsers for IB's fundamentals reports (the XML that ``reqFundamentalData`` returns).

The documents (Refinitiv content served by TWS) are keyed by attributes: ``CoID/@Type``,
``Ratio/@FieldName``, ``lineItem/@coaCode``. Fields come and go by issuer and region (a non-US
issuer has no CIKNo; newer files add ids), so nothing here is found by position and anything absent
is None. Parsing goes through defusedxml with DTDs refused: IB's documents never declare one, so a
DTD can only be an entity-expansion ("billion laughs") or external-entity (XXE) attempt. Whatever
the text holds (a lone surrogate, an unknown encoding), failing to read it is a
:class:`FundamentalsParseError`; a number that is not finite (once scaled to units) is None, with
a warning, since the store keeps only finite numbers.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final

import structlog
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from ibbot.clock import ensure_utc, utc_now
from ibbot.errors import FundamentalsParseError
from ibbot.models import ContractInfo, FundamentalData

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "REPORT_FIN_STATEMENTS",
    "REPORT_FIN_SUMMARY",
    "REPORT_SNAPSHOT",
    "parse_financial_statements",
    "parse_financial_summary",
    "parse_report_snapshot",
]

log = structlog.get_logger(__name__)

# IB's reportType names (the argument of reqFundamentalData).
REPORT_SNAPSHOT: Final = "ReportSnapshot"
REPORT_FIN_STATEMENTS: Final = "ReportsFinStatements"
REPORT_FIN_SUMMARY: Final = "ReportsFinSummary"

# Root element of each report (ReportsFinStatements' root is spelled differently from its name).
_ROOTS: Final = {
    REPORT_SNAPSHOT: "ReportSnapshot",
    REPORT_FIN_STATEMENTS: "ReportFinancialStatements",
    REPORT_FIN_SUMMARY: "FinancialSummary",
}

# ReportSnapshot's "Income Statement" ratios (MKTCAP, TTMREV, ...) are in millions of the price
# currency; FundamentalData carries units.
_MILLIONS: Final = 1_000_000.0

# Refinitiv writes -99999.99 for "not available" in ratio values.
_NOT_AVAILABLE: Final = -99999.99

_EXCERPT_CHARS: Final = 80
# Whole numbers (employees, years, line ids) beyond a signed 64-bit integer are garbage, not counts.
_LARGEST_INT: Final = 2**63 - 1

# Ratios mapped onto FundamentalData fields: FieldName -> (field, multiplier). All other numeric
# ratios stay in ``FundamentalData.values`` under IB's FieldName, in IB's units.
_MAPPED_RATIOS: Final = {
    "NPRICE": ("price", 1.0),
    "MKTCAP": ("market_cap", _MILLIONS),
    "PEEXCLXOR": ("pe_ratio", 1.0),  # P/E excluding extraordinary items, TTM
    "PRICE2BK": ("price_to_book", 1.0),
    "TTMEPSXCLX": ("eps", 1.0),  # diluted EPS excluding extraordinary items, TTM
    "TTMREV": ("revenue", _MILLIONS),
    "TTMDIVSHR": ("dividend_per_share", 1.0),
}


def parse_report_snapshot(
    xml: str,
    symbol: str,
    *,
    received_at: datetime | None = None,
    contract: ContractInfo | None = None,
) -> FundamentalData:
    """Parse a ReportSnapshot document into :class:`FundamentalData`.

    ``received_at`` is when the document arrived (fundamentals are point-in-time); it defaults to
    now. ``contract`` (IB's own description of the stock) supplies the industry / category /
    subcategory when given; otherwise the industry is the TRBC industry and the category the
    primary SIC description from ``peerInfo``. Raises :class:`FundamentalsParseError` on a document
    that is not a well-formed, harmless ReportSnapshot.
    """
    root = _parse(xml, symbol, REPORT_SNAPSHOT)
    co_ids = _attr_texts(root.find("CoIDs"), "CoID", "Type")
    general = root.find("CoGeneralInfo")
    shares = general.find("SharesOut") if general is not None else None

    numeric, other = _snapshot_ratios(root.find("Ratios"))
    mapped: dict[str, float | None] = {}
    for name, (field_name, multiplier) in _MAPPED_RATIOS.items():
        value = numeric.pop(name, None)
        mapped[field_name] = None if value is None else _scaled(value, multiplier, symbol, name)

    industries = _industries(root)
    employees = _to_int(_child_text(general, "Employees"))
    if employees is None and "Employees" in numeric:
        employees = _whole(numeric["Employees"])
    ratios_el = root.find("Ratios")
    currency = (
        _attr(ratios_el, "PriceCurrency")
        or _attr(_child(general, "ReportingCurrency"), "Code")
        or (contract.currency if contract is not None else None)
    )
    company_name = co_ids.get("CompanyName") or (contract.long_name if contract else "")
    industry, category, subcategory = _classification(industries, contract)
    issue = _primary_issue(root)

    details: dict[str, Any] = {
        "company_ids": {k: v for k, v in co_ids.items() if k not in ("CompanyName", "CIKNo")},
        "issue_ids": _attr_texts(issue, "IssueID", "Type"),
        "exchange": _exchange(issue),
        "reporting_currency": _attr(_child(general, "ReportingCurrency"), "Code"),
        "last_modified": _to_date(_child_text(general, "LastModified")),
        "latest_annual": _to_date(_child_text(general, "LatestAvailableAnnual")),
        "latest_interim": _to_date(_child_text(general, "LatestAvailableInterim")),
        "shares_out_date": _to_date(_attr(shares, "Date")),
        "industries": industries,
        "index_constituents": [
            text for el in root.findall("peerInfo/Indexconstituet") if (text := _text(el))
        ],
        "ratios_as_of": _to_date(_attr(ratios_el, "LatestAvailableDate")),
        "ratios_text": other,
        "forecast": _forecast(root.find("ForecastData")),
    }
    return FundamentalData(
        symbol=symbol,
        timestamp=ensure_utc(received_at) if received_at is not None else utc_now(),
        company_name=company_name,
        cik=co_ids.get("CIKNo"),
        employees=employees,
        shares_outstanding=_to_float(_text(shares)),
        float_shares=_to_float(_attr(shares, "TotalFloat")),
        industry=industry,
        category=category,
        subcategory=subcategory,
        raw=xml,
        source="ib",
        report_type=REPORT_SNAPSHOT,
        currency=currency,
        price=mapped["price"],
        market_cap=mapped["market_cap"],
        pe_ratio=mapped["pe_ratio"],
        price_to_book=mapped["price_to_book"],
        eps=mapped["eps"],
        revenue=mapped["revenue"],
        dividend_per_share=mapped["dividend_per_share"],
        values=numeric,
        details=details,
    )


def parse_financial_statements(
    xml: str, symbol: str, *, received_at: datetime | None = None
) -> dict[str, Any]:
    """Parse a ReportsFinStatements document into a JSON-ready dict.

    Keys: ``symbol``, ``report_type``, ``received_at`` (ISO 8601), ``company_name``, ``cik``,
    ``company_ids``, ``reporting_currency``, ``coa_type``, ``coa_map`` (coaCode -> name, statement
    type, lineID, precision), ``statements`` (one entry per statement per fiscal period, with
    ``period_type`` "annual"/"interim", ``end_date``, ``fiscal_year``, ``fiscal_period``,
    ``statement_type`` INC/BAL/CAS, ``period_length``/``period_unit``, ``statement_date``,
    ``source`` (the filing form, e.g. 10-K) and ``source_date``, and ``line_items`` coaCode ->
    value) and ``raw``. Values are as IB sends them: millions of the reporting currency, except
    per-share items (``precision`` 3 in the COAMap).
    """
    root = _parse(xml, symbol, REPORT_FIN_STATEMENTS)
    co_ids = _attr_texts(root.find("CoIDs"), "CoID", "Type")
    general = root.find("CoGeneralInfo")
    coa_map: dict[str, dict[str, Any]] = {}
    for item in root.findall("FinancialStatements/COAMap/mapItem"):
        code = item.get("coaItem")
        if code and code not in coa_map:
            coa_map[code] = {
                "name": _text(item),
                "statement_type": item.get("statementType"),
                "line_id": _to_int(item.get("lineID")),
                "precision": _to_int(item.get("precision")),
            }
    statements: list[dict[str, Any]] = []
    for group in ("AnnualPeriods", "InterimPeriods"):
        for period in root.findall(f"FinancialStatements/{group}/FiscalPeriod"):
            statements.extend(_period_statements(period))
    return {
        "symbol": symbol,
        "report_type": REPORT_FIN_STATEMENTS,
        "received_at": (ensure_utc(received_at) if received_at else utc_now()).isoformat(),
        "company_name": co_ids.get("CompanyName"),
        "cik": co_ids.get("CIKNo"),
        "company_ids": {k: v for k, v in co_ids.items() if k not in ("CompanyName", "CIKNo")},
        "reporting_currency": _attr(_child(general, "ReportingCurrency"), "Code"),
        "coa_type": _attr(root.find("StatementInfo/COAType"), "Code"),
        "coa_map": coa_map,
        "statements": statements,
        "raw": xml,
    }


def parse_financial_summary(
    xml: str, symbol: str, *, received_at: datetime | None = None
) -> dict[str, Any]:
    """Parse a ReportsFinSummary document into a JSON-ready dict.

    ``series`` maps each series (``EPS``, ``TotalRevenue``, ``DividendPerShare``, ...) to its
    ``currency`` and ``rows`` (``as_of_date``, ``report_type`` A/R/P/TTM, ``period`` 3M/12M,
    ``value`` in units); ``dividends`` lists the declared dividends with their dates.
    """
    root = _parse(xml, symbol, REPORT_FIN_SUMMARY)
    series: dict[str, dict[str, Any]] = {}
    dividends: list[dict[str, Any]] = []
    for container in root:
        if container.tag == "Dividends":
            dividends.extend(
                {
                    "type": el.get("type"),
                    "ex_date": _to_date(el.get("exDate")),
                    "record_date": _to_date(el.get("recordDate")),
                    "pay_date": _to_date(el.get("payDate")),
                    "declaration_date": _to_date(el.get("declarationDate")),
                    "value": _to_float(_text(el)),
                    "currency": el.get("currency") or container.get("currency"),
                }
                for el in container.findall("Dividend")
            )
            continue
        for row in container:
            if row.get("asofDate") is None:
                continue
            entry = series.setdefault(
                row.tag, {"currency": container.get("currency") or row.get("currency"), "rows": []}
            )
            entry["rows"].append(
                {
                    "as_of_date": _to_date(row.get("asofDate")),
                    "report_type": row.get("reportType"),
                    "period": row.get("period"),
                    "value": _to_float(_text(row)),
                }
            )
    return {
        "symbol": symbol,
        "report_type": REPORT_FIN_SUMMARY,
        "received_at": (ensure_utc(received_at) if received_at else utc_now()).isoformat(),
        "series": series,
        "dividends": dividends,
        "raw": xml,
    }


def _parse(xml: str, symbol: str, report_type: str) -> Element:
    """The document's root element, or a FundamentalsParseError saying what is wrong with it."""
    if not isinstance(xml, str):
        raise FundamentalsParseError(
            symbol, report_type, f"expected text, got {type(xml).__name__}", repr(xml)[:40]
        )
    text = xml.lstrip("\ufeff").strip()
    # Printable whatever the text holds (a lone surrogate cannot be written to a log).
    excerpt = (
        " ".join(text[: _EXCERPT_CHARS * 4].split())[:_EXCERPT_CHARS]
        .encode("utf-8", "backslashreplace")
        .decode("utf-8")
    )
    if not text:
        raise FundamentalsParseError(symbol, report_type, "empty document", "")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (UnicodeEncodeError, UnicodeDecodeError) as exc:
        raise FundamentalsParseError(
            symbol, report_type, f"undecodable text ({exc.reason})", excerpt
        ) from exc
    except DefusedXmlException as exc:
        raise FundamentalsParseError(
            symbol,
            report_type,
            f"refused: the document declares a DTD or entities ({type(exc).__name__})",
            excerpt,
        ) from exc
    except (ParseError, ValueError, LookupError) as exc:
        # ValueError and LookupError: expat refusing the encoding the document declares.
        raise FundamentalsParseError(
            symbol, report_type, f"malformed XML ({exc})", excerpt
        ) from exc
    expected = _ROOTS[report_type]
    if root.tag != expected:
        raise FundamentalsParseError(
            symbol, report_type, f"root element is <{root.tag}>, expected <{expected}>", excerpt
        )
    return root


def _snapshot_ratios(ratios: Element | None) -> tuple[dict[str, float], dict[str, str]]:
    """Numeric ratios by FieldName, and the non-numeric ones (dates such as PDATE) as text."""
    numeric: dict[str, float] = {}
    other: dict[str, str] = {}
    if ratios is None:
        return numeric, other
    for ratio in ratios.iter("Ratio"):
        name = ratio.get("FieldName")
        if not name or name in numeric or name in other:
            continue
        if ratio.get("Type", "N") == "N":
            value = _to_float(_text(ratio))
            if value is not None:
                numeric[name] = value
        elif (text := _text(ratio)) is not None:
            other[name] = text
    return numeric, other


def _forecast(forecast: Element | None) -> dict[str, Any]:
    """Consensus figures of ForecastData for the current period, by FieldName."""
    if forecast is None:
        return {}
    values: dict[str, float] = {}
    for ratio in forecast.findall("Ratio"):
        name = ratio.get("FieldName")
        current = next((v for v in ratio.findall("Value") if v.get("PeriodType") == "CURR"), None)
        value = _to_float(_text(current))
        if name and value is not None:
            values[name] = value
    return {
        "consensus_type": forecast.get("ConsensusType"),
        "fiscal_year": _to_int(forecast.get("CurFiscalYear")),
        "values": values,
    }


def _industries(root: Element) -> list[dict[str, Any]]:
    """Every industry classification in peerInfo (TRBC, NAICS, SIC), in document order."""
    return [
        {
            "type": el.get("type"),
            "code": el.get("code"),
            "order": _to_int(el.get("order")),
            "reported": el.get("reported") == "1",
            "name": _text(el),
        }
        for el in root.findall("peerInfo/IndustryInfo/Industry")
    ]


def _classification(
    industries: list[dict[str, Any]], contract: ContractInfo | None
) -> tuple[str | None, str | None, str | None]:
    """(industry, category, subcategory): IB's contract classification first, else peerInfo."""
    if contract is not None and contract.industry:
        return contract.industry, contract.category or None, contract.subcategory or None

    def first(kind: str, *, reported_first: bool) -> str | None:
        candidates = [i for i in industries if i["type"] == kind and i["name"]]
        candidates.sort(
            key=lambda i: (
                not i["reported"] if reported_first else False,
                i["order"] if i["order"] is not None else 1_000,
            )
        )
        return candidates[0]["name"] if candidates else None

    return first("TRBC", reported_first=False), first("SIC", reported_first=True), None


def _primary_issue(root: Element) -> Element | None:
    """The common-stock issue (Type C), which is the one the symbol trades as."""
    issues = root.findall("Issues/Issue")
    return next((i for i in issues if i.get("Type") == "C"), issues[0] if issues else None)


def _exchange(issue: Element | None) -> dict[str, str | None] | None:
    exchange = _child(issue, "Exchange")
    if exchange is None:
        return None
    return {
        "code": exchange.get("Code"),
        "country": exchange.get("Country"),
        "name": _text(exchange),
    }


def _period_statements(period: Element) -> list[dict[str, Any]]:
    """The statements of one FiscalPeriod, each carrying the period's metadata."""
    kind = (period.get("Type") or "").lower() or None
    out = []
    for statement in period.findall("Statement"):
        header = statement.find("FPHeader")
        source = _child(header, "Source")
        line_items: dict[str, float] = {}
        for item in statement.findall("lineItem"):
            code = item.get("coaCode")
            value = _to_float(_text(item))
            if code and value is not None and code not in line_items:
                line_items[code] = value
        out.append(
            {
                "period_type": kind,
                "end_date": _to_date(period.get("EndDate")),
                "fiscal_year": _to_int(period.get("FiscalYear")),
                "fiscal_period": _to_int(period.get("FiscalPeriodNumber")),
                "statement_type": statement.get("Type"),
                "period_length": _to_int(_child_text(header, "PeriodLength")),
                "period_unit": _attr(_child(header, "periodType"), "Code"),
                "statement_date": _to_date(_child_text(header, "StatementDate")),
                "update_type": _attr(_child(header, "UpdateType"), "Code"),
                "source": _text(source),
                "source_date": _to_date(_attr(source, "Date")),
                "line_items": line_items,
            }
        )
    return out


def _child(parent: Element | None, tag: str) -> Element | None:
    return parent.find(tag) if parent is not None else None


def _child_text(parent: Element | None, tag: str) -> str | None:
    return _text(_child(parent, tag))


def _attr(element: Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = (element.get(name) or "").strip()
    return value or None


def _text(element: Element | None) -> str | None:
    """Stripped text of an element (IB pads some, e.g. ``<age>54 </age>``); None when empty."""
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _attr_texts(parent: Element | None, tag: str, key: str) -> dict[str, str]:
    """``{element[key]: text}`` for the children named ``tag`` (first one wins on duplicates)."""
    out: dict[str, str] = {}
    if parent is None:
        return out
    for el in parent.findall(tag):
        name = el.get(key)
        text = _text(el)
        if name and text is not None and name not in out:
            out[name] = text
    return out


def _to_float(text: str | None) -> float | None:
    """IB's numeric text ("162.71000") as a float; empty, garbage, non-finite or N/A -> None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value) or math.isclose(value, _NOT_AVAILABLE):
        return None
    return value


def _to_int(text: str | None) -> int | None:
    value = _to_float(text)
    return None if value is None else _whole(value)


def _whole(value: float) -> int | None:
    """``value`` rounded; None beyond a 64-bit integer (no count or year is that large)."""
    return round(value) if abs(value) <= _LARGEST_INT else None


def _scaled(value: float, multiplier: float, symbol: str, name: str) -> float | None:
    """``value * multiplier``, or None (and a warning) when that is no longer a finite number."""
    scaled = value * multiplier
    if math.isfinite(scaled):
        return scaled
    log.warning(
        "fundamentals.value_out_of_range",
        symbol=symbol,
        field=name,
        value=value,
        detail="not a finite number once scaled to units: left empty",
    )
    return None


def _to_date(text: str | None) -> str | None:
    """An ISO date (``2017-09-30``) from IB's date or datetime text; anything else -> None."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        return None
