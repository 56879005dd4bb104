"""IB's fundamentals reports (``reqFundamentalData``), generated for a simulated company.

The documents have the element and attribute structure of IB's (Refinitiv) XML: ReportSnapshot (company
ids, issue, general info, industry, ratios, consensus forecasts), ReportsFinStatements (chart of accounts
and annual and interim income, balance-sheet and cash-flow statements keyed by ``coaCode``, values in
millions except per-share items and share counts in millions) and ReportsFinSummary (EPS, dividend and
revenue series in units). Everything is built with ElementTree, so values are always escaped.

The figures are consistent with the security and the price: the four latest *filed* quarters sum to the
security's trailing revenue and net income and give its EPS; the latest balance sheet's equity over its
shares is the security's book value per share; MKTCAP = shares x price / 1e6, PEEXCLXOR = price / EPS,
PRICE2BK = price / book value per share. Quarters end with the calendar quarters; a 10-Q is filed
35-45 days after the quarter ends and a 10-K 50-60 days after the year ends, and a report only shows
periods filed by ``as_of`` (no look-ahead). History is built back from the latest filed quarter with the
company's growth rate, so each document is self-consistent; documents as of different dates rescale
history so that their own trailing figures are the security's (the security's figures are "now").
Identifiers IB has and the SEC does not publish (RepNo, IRS number, industry codes) are synthetic.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ibbot.clock import ensure_utc
from ibbot.seeds import seed_for
from ibbot.sim.universe import SimSecurity

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["REPORT_TYPES", "report_xml"]

REPORT_TYPES: tuple[str, ...] = ("ReportSnapshot", "ReportsFinStatements", "ReportsFinSummary")

_ANNUAL_PERIODS = 5
_INTERIM_PERIODS = 5
_SUMMARY_QUARTERS = 12
_TAX_RATE = 0.18
_DIVIDEND_GROWTH = 0.05

# Chart of accounts: (coaCode, statement, lineID, precision, name), IB's codes and line ids.
# Precision 1 = millions, 2 = share counts in millions, 3 = per-share amounts.
_COA: tuple[tuple[str, str, int, int, str], ...] = (
    ("SREV", "INC", 100, 1, "Revenue"),
    ("RTLR", "INC", 310, 1, "Total Revenue"),
    ("SCOR", "INC", 360, 1, "Cost of Revenue, Total"),
    ("SGRP", "INC", 370, 1, "Gross Profit"),
    ("SSGA", "INC", 550, 1, "Selling/General/Admin. Expenses, Total"),
    ("ERAD", "INC", 560, 1, "Research & Development"),
    ("SDPR", "INC", 600, 1, "Depreciation/Amortization"),
    ("ETOE", "INC", 830, 1, "Total Operating Expense"),
    ("SOPI", "INC", 840, 1, "Operating Income"),
    ("SNIN", "INC", 911, 1, "Interest Inc.(Exp.),Net-Non-Op., Total"),
    ("EIBT", "INC", 1280, 1, "Net Income Before Taxes"),
    ("TTAX", "INC", 1290, 1, "Provision for Income Taxes"),
    ("TIAT", "INC", 1300, 1, "Net Income After Taxes"),
    ("NIBX", "INC", 1340, 1, "Net Income Before Extra. Items"),
    ("NINC", "INC", 1400, 1, "Net Income"),
    ("CIAC", "INC", 1470, 1, "Income Available to Com Excl ExtraOrd"),
    ("XNIC", "INC", 1480, 1, "Income Available to Com Incl ExtraOrd"),
    ("SDNI", "INC", 1530, 1, "Diluted Net Income"),
    ("SDWS", "INC", 1540, 2, "Diluted Weighted Average Shares"),
    ("SDBF", "INC", 1550, 3, "Diluted EPS Excluding ExtraOrd Items"),
    ("DDPS1", "INC", 1570, 3, "DPS - Common Stock Primary Issue"),
    ("VDES", "INC", 1770, 3, "Diluted Normalized EPS"),
    ("ACSH", "BAL", 10, 1, "Cash"),
    ("ASTI", "BAL", 30, 1, "Short Term Investments"),
    ("SCSI", "BAL", 40, 1, "Cash and Short Term Investments"),
    ("ATRC", "BAL", 100, 1, "Total Receivables, Net"),
    ("AITL", "BAL", 180, 1, "Total Inventory"),
    ("SOCA", "BAL", 260, 1, "Other Current Assets, Total"),
    ("ATCA", "BAL", 270, 1, "Total Current Assets"),
    ("APPN", "BAL", 540, 1, "Property/Plant/Equipment, Total - Net"),
    ("AGWI", "BAL", 570, 1, "Goodwill, Net"),
    ("SOLA", "BAL", 780, 1, "Other Long Term Assets, Total"),
    ("ATOT", "BAL", 880, 1, "Total Assets"),
    ("LAPB", "BAL", 890, 1, "Accounts Payable"),
    ("LSTD", "BAL", 1120, 1, "Notes Payable/Short Term Debt"),
    ("SOCL", "BAL", 1220, 1, "Other Current liabilities, Total"),
    ("LTCL", "BAL", 1230, 1, "Total Current Liabilities"),
    ("LLTD", "BAL", 1240, 1, "Long Term Debt"),
    ("LTTD", "BAL", 1260, 1, "Total Long Term Debt"),
    ("STLD", "BAL", 1270, 1, "Total Debt"),
    ("SLTL", "BAL", 1370, 1, "Other Liabilities, Total"),
    ("LTLL", "BAL", 1380, 1, "Total Liabilities"),
    ("QTLE", "BAL", 1600, 1, "Total Equity"),
    ("QTEL", "BAL", 1610, 1, "Total Liabilities & Shareholders' Equity"),
    ("QTCO", "BAL", 1660, 2, "Total Common Shares Outstanding"),
    ("STBP", "BAL", 1980, 3, "Tangible Book Value per Share, Common Eq"),
    ("ONET", "CAS", 10, 1, "Net Income/Starting Line"),
    ("SDED", "CAS", 40, 1, "Depreciation/Depletion"),
    ("SNCI", "CAS", 170, 1, "Non-Cash Items"),
    ("SOCF", "CAS", 470, 1, "Changes in Working Capital"),
    ("OTLO", "CAS", 480, 1, "Cash from Operating Activities"),
    ("SCEX", "CAS", 520, 1, "Capital Expenditures"),
    ("SICF", "CAS", 670, 1, "Other Investing Cash Flow Items, Total"),
    ("ITLI", "CAS", 680, 1, "Cash from Investing Activities"),
    ("FCDP", "CAS", 760, 1, "Total Cash Dividends Paid"),
    ("FPSS", "CAS", 880, 1, "Issuance (Retirement) of Stock, Net"),
    ("FPRD", "CAS", 970, 1, "Issuance (Retirement) of Debt, Net"),
    ("FTLF", "CAS", 980, 1, "Cash from Financing Activities"),
    ("SNCC", "CAS", 1000, 1, "Net Change in Cash"),
)
_STATEMENT_CODES = {kind: [c for c, s, *_ in _COA if s == kind] for kind in ("INC", "BAL", "CAS")}
_FLOW_CODES = _STATEMENT_CODES["INC"] + _STATEMENT_CODES["CAS"]
_EXCHANGES = {
    "NASDAQ": ("NASD", "NASDAQ", ".O", ".OQ"),
    "NYSE": ("NYSE", "New York Stock Exchange", ".N", ".N"),
}


def report_xml(report_type: str, security: SimSecurity, *, price: float, as_of: datetime) -> str:
    """The ``report_type`` document for ``security`` at ``price`` as known at ``as_of``.

    Raises KeyError for a report type that is not one of :data:`REPORT_TYPES` (the gateway answers
    error 430 for it) and ValueError for a price that is not a positive number.
    """
    builders: dict[str, Callable[[_Company], ET.Element]] = {
        "ReportSnapshot": _snapshot,
        "ReportsFinStatements": _statements,
        "ReportsFinSummary": _summary,
    }
    if report_type not in builders:
        raise KeyError(f"unknown fundamentals report type {report_type!r}; known: {REPORT_TYPES}")
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be a positive number, got {price}")
    company = _Company.build(security, price, ensure_utc(as_of, field="as_of").date())
    root = builders[report_type](company)
    ET.indent(root, space="\t")
    document: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return document.decode("utf-8")


# ----------------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class _Quarter:
    """One fiscal quarter (calendar quarters) and when its report was filed."""

    year: int
    number: int  # 1..4

    @property
    def end(self) -> date:
        month = 3 * self.number
        return date(self.year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)

    def back(self, k: int) -> _Quarter:
        index = self.year * 4 + self.number - 1 - k
        return _Quarter(index // 4, index % 4 + 1)

    def filed(self, symbol: str) -> date:
        """Filing date: 10-Q 35-45 days after the quarter, 10-K 50-60 days after the year."""
        spread = seed_for("filing", symbol, self.year, self.number) % 11
        return self.end + timedelta(days=(50 if self.number == 4 else 35) + spread)


@dataclass(frozen=True, slots=True)
class _Company:
    """Everything the three reports show, computed once per (security, price, as_of)."""

    security: SimSecurity
    price: float
    as_of: date
    latest: _Quarter  # the latest quarter filed by as_of
    growth: float
    quarters: dict[
        _Quarter, dict[str, float]
    ]  # INC and CAS items for the quarter alone, BAL at its end

    @classmethod
    def build(cls, security: SimSecurity, price: float, as_of: date) -> _Company:
        latest = _Quarter(as_of.year, (as_of.month - 1) // 3 + 1).back(1)
        while latest.filed(security.symbol) > as_of:
            latest = latest.back(1)
        growth = max(0.02, security.annual_drift)
        count = 4 * (_ANNUAL_PERIODS + 2)
        span = [latest.back(k) for k in range(count)]
        symbol = security.symbol
        mix = _cost_mix(security)
        raw_revenue = {
            q: _wave(symbol, q, "rev", 0.02) * (1 + growth) ** (-k / 4) for k, q in enumerate(span)
        }
        raw_income = {q: raw_revenue[q] * _wave(symbol, q, "ni", 0.05) for q in span}
        ttm = span[:4]
        revenue_scale = security.revenue_ttm / 1e6 / sum(raw_revenue[q] for q in ttm)
        income_scale = security.net_income_ttm / 1e6 / sum(raw_income[q] for q in ttm)
        shares = security.shares_outstanding / 1e6
        equity_now = security.book_value_per_share * shares
        quarters: dict[_Quarter, dict[str, float]] = {}
        for k, q in enumerate(span):
            revenue = raw_revenue[q] * revenue_scale
            income = raw_income[q] * income_scale
            dps = security.dividend_per_share / 4 * (1 + _DIVIDEND_GROWTH) ** -(k // 4)
            items = _income_statement(revenue, income, shares, dps, mix)
            items.update(
                _balance_sheet(equity_now * (1 + growth) ** (-k / 4), shares, revenue, mix)
            )
            items.update(_cash_flow(items, shares, dps, mix))
            quarters[q] = items
        return cls(security, price, as_of, latest, growth, quarters)

    def ttm(self, code: str) -> float:
        return sum(self.quarters[self.latest.back(k)][code] for k in range(4))

    def annual(self, year: int) -> dict[str, float]:
        """A fiscal year: flows summed over its quarters, the balance sheet at its end."""
        quarters = [self.quarters[_Quarter(year, n)] for n in range(1, 5)]
        return _accumulate(quarters)

    def year_to_date(self, q: _Quarter) -> dict[str, float]:
        """An interim period as filed: INC for the quarter, CAS year to date, BAL at its end."""
        items = dict(self.quarters[q])
        ytd = _accumulate([self.quarters[_Quarter(q.year, n)] for n in range(1, q.number + 1)])
        for code in _STATEMENT_CODES["CAS"]:
            items[code] = ytd[code]
        return items

    def filed_years(self) -> list[int]:
        """The fiscal years whose 10-K was filed by as_of, latest first."""
        last = self.latest.year if self.latest.number == 4 else self.latest.year - 1
        return [last - i for i in range(_ANNUAL_PERIODS)]


@dataclass(frozen=True, slots=True)
class _CostMix:
    cost: float
    sga: float
    rnd: float
    dna: float
    leverage: float  # total assets / equity
    capex: float  # capital expenditure / revenue


def _unit(symbol: str, *parts: object) -> float:
    """A stable number in [0, 1) for this company and these parts."""
    return (seed_for("fundamentals", symbol, *parts) % 1_000_003) / 1_000_003


def _wave(symbol: str, q: _Quarter, what: str, spread: float) -> float:
    """A quarter's deterministic wobble around 1 (seasonality and noise)."""
    season = (0.985, 0.99, 1.0, 1.025)[q.number - 1]
    return season * (1.0 + spread * (2.0 * _unit(symbol, what, q.year, q.number) - 1.0))


def _cost_mix(security: SimSecurity) -> _CostMix:
    symbol = security.symbol
    tech = security.industry == "Technology" or security.category in ("Internet", "Pharmaceuticals")
    bank = security.category == "Banks"
    return _CostMix(
        cost=0.35 + 0.25 * _unit(symbol, "cost"),
        sga=0.08 + 0.07 * _unit(symbol, "sga"),
        rnd=(0.06 + 0.08 * _unit(symbol, "rnd")) if tech else 0.01 * _unit(symbol, "rnd"),
        dna=0.02 + 0.03 * _unit(symbol, "dna"),
        leverage=12.0 if bank else 1.8 + 1.7 * _unit(symbol, "leverage"),
        capex=0.03 + 0.05 * _unit(symbol, "capex"),
    )


def _income_statement(
    revenue: float, income: float, shares: float, dps: float, mix: _CostMix
) -> dict[str, float]:
    pretax = income / (1.0 - _TAX_RATE)
    interest = 0.004 * revenue
    operating = pretax - interest
    expenses = revenue - operating
    weights = (mix.cost, mix.sga, mix.rnd, mix.dna)
    total = sum(weights)
    cost, sga, rnd, dna = (expenses * w / total for w in weights)
    eps = income / shares
    return {
        "SREV": revenue,
        "RTLR": revenue,
        "SCOR": cost,
        "SGRP": revenue - cost,
        "SSGA": sga,
        "ERAD": rnd,
        "SDPR": dna,
        "ETOE": expenses,
        "SOPI": operating,
        "SNIN": interest,
        "EIBT": pretax,
        "TTAX": pretax - income,
        "TIAT": income,
        "NIBX": income,
        "NINC": income,
        "CIAC": income,
        "XNIC": income,
        "SDNI": income,
        "SDWS": shares,
        "SDBF": eps,
        "DDPS1": dps,
        "VDES": eps,
    }


def _balance_sheet(equity: float, shares: float, revenue: float, mix: _CostMix) -> dict[str, float]:
    assets = equity * mix.leverage
    cash = 0.06 * assets
    investments = 0.08 * assets
    receivables = min(0.1 * assets, 0.5 * revenue)
    inventory = 0.03 * assets
    other_current = 0.03 * assets
    current = cash + investments + receivables + inventory + other_current
    goodwill = 0.05 * assets
    ppe = 0.3 * (assets - current - goodwill)
    other_long = assets - current - goodwill - ppe
    liabilities = assets - equity
    payables = 0.15 * liabilities
    short_debt = 0.05 * liabilities
    other_current_liabilities = 0.1 * liabilities
    current_liabilities = payables + short_debt + other_current_liabilities
    long_debt = 0.45 * liabilities
    other_liabilities = liabilities - current_liabilities - long_debt
    return {
        "ACSH": cash,
        "ASTI": investments,
        "SCSI": cash + investments,
        "ATRC": receivables,
        "AITL": inventory,
        "SOCA": other_current,
        "ATCA": current,
        "APPN": ppe,
        "AGWI": goodwill,
        "SOLA": other_long,
        "ATOT": assets,
        "LAPB": payables,
        "LSTD": short_debt,
        "SOCL": other_current_liabilities,
        "LTCL": current_liabilities,
        "LLTD": long_debt,
        "LTTD": long_debt,
        "STLD": short_debt + long_debt,
        "SLTL": other_liabilities,
        "LTLL": liabilities,
        "QTLE": equity,
        "QTEL": liabilities + equity,
        "QTCO": shares,
        "STBP": (equity - goodwill) / shares,
    }


def _cash_flow(
    items: dict[str, float], shares: float, dps: float, mix: _CostMix
) -> dict[str, float]:
    income, dna, revenue = items["NINC"], items["SDPR"], items["SREV"]
    non_cash = 0.04 * revenue
    working_capital = -0.01 * revenue
    operating = income + dna + non_cash + working_capital
    capex = -mix.capex * revenue
    other_investing = -0.02 * revenue
    dividends = -dps * shares
    buybacks = -max(0.0, 0.5 * (operating + capex + dividends))
    debt = 0.005 * revenue
    investing = capex + other_investing
    financing = dividends + buybacks + debt
    return {
        "ONET": income,
        "SDED": dna,
        "SNCI": non_cash,
        "SOCF": working_capital,
        "OTLO": operating,
        "SCEX": capex,
        "SICF": other_investing,
        "ITLI": investing,
        "FCDP": dividends,
        "FPSS": buybacks,
        "FPRD": debt,
        "FTLF": financing,
        "SNCC": operating + investing + financing,
    }


def _accumulate(quarters: list[dict[str, float]]) -> dict[str, float]:
    """Flows add up (EPS and DPS too, share counts average); the balance sheet is the last one's."""
    out = dict(quarters[-1])
    for code in _FLOW_CODES:
        out[code] = sum(q[code] for q in quarters)
    out["SDWS"] = sum(q["SDWS"] for q in quarters) / len(quarters)
    return out


# ----------------------------------------------------------------------------------- XML


def _num(value: float, places: int = 6) -> str:
    return f"{value:.{places}f}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _identity(root: ET.Element, c: _Company, *, snapshot: bool) -> None:
    """CoIDs, Issues and CoGeneralInfo, shared by the snapshot and the statements."""
    sec = c.security
    code, exchange_name, ric, display_ric = _EXCHANGES.get(
        sec.primary_exchange, ("NYSE", "New York Stock Exchange", ".N", ".N")
    )
    ids = _sub(root, "CoIDs")
    _sub(ids, "CoID", f"{seed_for('repno', sec.symbol) % 100_000:05d}", Type="RepNo")
    _sub(ids, "CoID", sec.long_name, Type="CompanyName")
    _sub(ids, "CoID", f"{seed_for('irs', sec.symbol) % 900_000_000 + 100_000_000}", Type="IRSNo")
    _sub(ids, "CoID", sec.cik, Type="CIKNo")
    issues = _sub(root, "Issues")
    issue = _sub(issues, "Issue", ID="1", Type="C", Desc="Common Stock", Order="1")
    _sub(issue, "IssueID", "Ordinary Shares", Type="Name")
    _sub(issue, "IssueID", sec.symbol, Type="Ticker")
    _sub(issue, "IssueID", sec.cusip, Type="CUSIP")
    _sub(issue, "IssueID", sec.isin, Type="ISIN")
    _sub(issue, "IssueID", f"{sec.symbol}{ric}", Type="RIC")
    _sub(issue, "IssueID", f"{sec.symbol}{display_ric}", Type="DisplayRIC")
    _sub(issue, "Exchange", exchange_name, Code=code, Country="USA")
    info = _sub(root, "CoGeneralInfo")
    _sub(info, "CoStatus", "Active", Code="1")
    _sub(info, "CoType", "Equity Issue", Code="EQU")
    _sub(info, "LastModified", c.latest.filed(sec.symbol).isoformat())
    _sub(info, "LatestAvailableAnnual", date(c.filed_years()[0], 12, 31).isoformat())
    _sub(info, "LatestAvailableInterim", c.latest.end.isoformat())
    if snapshot:
        _sub(info, "Employees", str(sec.employees), LastUpdated=c.latest.end.isoformat())
        _sub(
            info,
            "SharesOut",
            _num(sec.shares_outstanding, 1),
            Date=c.as_of.isoformat(),
            TotalFloat=_num(sec.float_shares, 1),
        )
    _sub(info, "ReportingCurrency", "U.S. Dollars", Code=sec.currency)
    _sub(info, "MostRecentExchange", "1.0", Date=c.as_of.isoformat())


def _snapshot(c: _Company) -> ET.Element:
    sec = c.security
    root = ET.Element("ReportSnapshot", {"Major": "1", "Minor": "0", "Revision": "1"})
    _identity(root, c, snapshot=True)
    text = _sub(root, "TextInfo")
    _sub(
        text,
        "Text",
        f"{sec.long_name} is a simulated company in {sec.industry} ({sec.category}, "
        f"{sec.subcategory}), listed on {sec.primary_exchange}, used by the ibbot simulated gateway.",
        Type="Business Summary",
        lastModified=f"{c.latest.filed(sec.symbol).isoformat()}T00:00:00",
    )
    _sub(
        text,
        "Text",
        f"Trailing twelve months revenue {sec.revenue_ttm / 1e9:.2f}B USD, net income "
        f"{sec.net_income_ttm / 1e9:.2f}B USD.",
        Type="Financial Summary",
        lastModified=f"{c.latest.filed(sec.symbol).isoformat()}T00:00:00",
    )
    peers = _sub(root, "peerInfo", lastUpdated=f"{c.as_of.isoformat()}T00:00:00")
    industries = _sub(peers, "IndustryInfo")
    trbc = f"{5_000_000_000 + seed_for('trbc', sec.subcategory) % 4_999_999_999}"
    _sub(
        industries,
        "Industry",
        sec.subcategory,
        type="TRBC",
        order="1",
        reported="0",
        code=trbc,
        mnem="",
    )
    _sub(peers, "Indexconstituet", "S&P 500")  # sic: IB's spelling
    _ratios(root, c)
    _forecasts(root, c)
    return root


def _ratios(root: ET.Element, c: _Company) -> None:
    sec, price = c.security, c.price
    shares = sec.shares_outstanding
    latest = c.quarters[c.latest]
    market_cap = shares * price / 1e6
    revenue = sec.revenue_ttm / 1e6
    eps = sec.eps_ttm
    sigma = sec.annual_volatility
    values: dict[str, list[tuple[str, str, str]]] = {
        "Price and Volume": [
            ("NPRICE", "N", _num(price, 5)),
            ("NHIG", "N", _num(price * (1 + 0.8 * sigma), 5)),
            ("NLOW", "N", _num(price * (1 - 0.6 * sigma), 5)),
            ("PDATE", "D", f"{c.as_of.isoformat()}T00:00:00"),
            ("VOL10DAVG", "N", _num(sec.avg_daily_volume / 1e6, 5)),
            ("EV", "N", _num(market_cap + latest["STLD"] - latest["SCSI"], 5)),
        ],
        "Income Statement": [
            ("MKTCAP", "N", _num(market_cap, 5)),
            ("TTMREV", "N", _num(revenue, 5)),
            ("TTMEBITD", "N", _num(c.ttm("SOPI") + c.ttm("SDPR"), 5)),
            ("TTMNIAC", "N", _num(sec.net_income_ttm / 1e6, 5)),
        ],
        "Per share data": [
            ("TTMEPSXCLX", "N", _num(eps, 5)),
            ("TTMREVPS", "N", _num(sec.revenue_ttm / shares, 5)),
            ("QBVPS", "N", _num(sec.book_value_per_share, 5)),
            ("QCSHPS", "N", _num(latest["SCSI"] * 1e6 / shares, 5)),
            ("TTMCFSHR", "N", _num(c.ttm("OTLO") * 1e6 / shares, 5)),
            ("TTMDIVSHR", "N", _num(sec.dividend_per_share, 5)),
        ],
        "Other Ratios": [
            ("TTMGROSMGN", "N", _num(100 * c.ttm("SGRP") / c.ttm("SREV"), 5)),
            ("TTMROEPCT", "N", _num(100 * sec.net_income_ttm / 1e6 / latest["QTLE"], 5)),
            ("TTMPR2REV", "N", _num(market_cap / revenue, 5)),
            ("PEEXCLXOR", "N", _num(price / eps, 5)),
            ("PRICE2BK", "N", _num(price / sec.book_value_per_share, 5)),
            ("Employees", "N", str(sec.employees)),
        ],
    }
    ratios = _sub(
        root,
        "Ratios",
        PriceCurrency=sec.currency,
        ReportingCurrency=sec.currency,
        ExchangeRate="1.00000",
        LatestAvailableDate=c.latest.end.isoformat(),
    )
    for group_id, rows in values.items():
        group = _sub(ratios, "Group", ID=group_id)
        for name, kind, value in rows:
            _sub(group, "Ratio", value, FieldName=name, Type=kind)


def _forecasts(root: ET.Element, c: _Company) -> None:
    sec, price, g = c.security, c.price, c.growth
    upcoming = c.latest.back(-1)
    eps = sec.eps_ttm * (1 + g)
    sales = sec.revenue_ttm / 1e6 * (1 + g)
    forecast = _sub(
        root,
        "ForecastData",
        ConsensusType="Mean",
        CurFiscalYear=str(c.filed_years()[0] + 1),
        CurFiscalYearEndMonth="12",
        CurInterimEndCalYear=str(upcoming.end.year),
        CurInterimEndMonth=str(upcoming.end.month),
        EarningsBasis="PRX",
    )
    rows = (
        ("ConsRecom", _num(1.5 + 1.5 * _unit(sec.symbol, "recom"), 2)),
        ("TargetPrice", _num(price * (1.05 + 0.15 * _unit(sec.symbol, "target")), 5)),
        ("ProjLTGrowthRate", _num(100 * g, 4)),
        ("ProjPE", _num(price / eps, 5)),
        ("ProjSales", _num(sales, 5)),
        ("ProjSalesQ", _num(sales / 4, 5)),
        ("ProjEPS", _num(eps, 5)),
        ("ProjEPSQ", _num(eps / 4, 5)),
        ("ProjProfit", _num(sec.net_income_ttm / 1e6 * (1 + g), 5)),
        ("ProjDPS", _num(sec.dividend_per_share * (1 + _DIVIDEND_GROWTH), 5)),
    )
    for name, value in rows:
        ratio = _sub(forecast, "Ratio", FieldName=name, Type="N")
        _sub(ratio, "Value", value, PeriodType="CURR")


def _statements(c: _Company) -> ET.Element:
    root = ET.Element("ReportFinancialStatements", {"Major": "1", "Minor": "0", "Revision": "1"})
    _identity(root, c, snapshot=False)
    info = _sub(root, "StatementInfo")
    _sub(info, "COAType", "Industry", Code="IND")
    _sub(info, "BalanceSheetDisplay", "Differentiates", Code="CUR")
    _sub(info, "CashFlowMethod", "Indirect", Code="IND")
    notes = _sub(root, "Notes")
    for tag in (
        "CFAAvailability",
        "IAvailability",
        "ISIAvailability",
        "BSIAvailability",
        "CFIAvailability",
    ):
        _sub(notes, tag, Code="1")
    statements = _sub(root, "FinancialStatements")
    coa = _sub(statements, "COAMap")
    for code, kind, line, precision, name in _COA:
        _sub(
            coa,
            "mapItem",
            name,
            coaItem=code,
            statementType=kind,
            lineID=str(line),
            precision=str(precision),
        )
    symbol = c.security.symbol
    annual = _sub(statements, "AnnualPeriods")
    for year in c.filed_years():
        q4 = _Quarter(year, 4)
        period = _sub(
            annual, "FiscalPeriod", Type="Annual", EndDate=q4.end.isoformat(), FiscalYear=str(year)
        )
        _period(period, c.annual(year), q4.end, q4.filed(symbol), "10-K", months=(12, 12))
    interim = _sub(statements, "InterimPeriods")
    for k in range(_INTERIM_PERIODS):
        q = c.latest.back(k)
        period = _sub(
            interim,
            "FiscalPeriod",
            Type="Interim",
            EndDate=q.end.isoformat(),
            FiscalYear=str(q.year),
            FiscalPeriodNumber=str(q.number),
        )
        form = "10-K" if q.number == 4 else "10-Q"
        _period(period, c.year_to_date(q), q.end, q.filed(symbol), form, months=(3, 3 * q.number))
    return root


def _period(
    parent: ET.Element,
    items: dict[str, float],
    end: date,
    filed: date,
    form: str,
    *,
    months: tuple[int, int],
) -> None:
    """One fiscal period's three statements; ``months`` = lengths of the INC and CAS periods."""
    for kind in ("INC", "BAL", "CAS"):
        statement = _sub(parent, "Statement", Type=kind)
        header = _sub(statement, "FPHeader")
        if kind != "BAL":
            _sub(header, "PeriodLength", str(months[0] if kind == "INC" else months[1]))
            _sub(header, "periodType", "Months", Code="M")
        _sub(header, "UpdateType", "Updated Normal", Code="UPD")
        if kind == "INC":
            _sub(header, "AccountingStd")
        _sub(header, "StatementDate", end.isoformat())
        _sub(header, "Source", form, Date=filed.isoformat())
        for code in _STATEMENT_CODES[kind]:
            _sub(statement, "lineItem", _num(items[code]), coaCode=code)


def _summary(c: _Company) -> ET.Element:
    sec = c.security
    root = ET.Element("FinancialSummary")
    quarters = [c.latest.back(k) for k in range(_SUMMARY_QUARTERS)]
    series = (
        ("EPSs", "EPS", "SDBF", 1.0),
        ("DividendPerShares", "DividendPerShare", "DDPS1", 1.0),
        ("TotalRevenues", "TotalRevenue", "SREV", 1e6),
    )
    for group_tag, row_tag, code, scale in series:
        group = _sub(root, group_tag, currency=sec.currency)
        for q in quarters:
            trailing = sum(c.quarters[q.back(k)][code] for k in range(4)) * scale
            _sub(
                group,
                row_tag,
                _num(trailing),
                asofDate=q.end.isoformat(),
                reportType="TTM",
                period="12M",
            )
            # reportType "A": the figure as the company reported it; "TTM": trailing twelve months
            _sub(
                group,
                row_tag,
                _num(c.quarters[q][code] * scale),
                asofDate=q.end.isoformat(),
                reportType="A",
                period="3M",
            )
            if q.number == 4:
                _sub(
                    group,
                    row_tag,
                    _num(trailing),
                    asofDate=q.end.isoformat(),
                    reportType="A",
                    period="12M",
                )
    dividends = _sub(root, "Dividends", currency=sec.currency)
    if sec.dividend_per_share > 0:
        for q in quarters[:8]:
            declared = q.filed(sec.symbol)
            _sub(
                dividends,
                "Dividend",
                _num(c.quarters[q]["DDPS1"]),
                type="CD",
                exDate=(declared + timedelta(days=10)).isoformat(),
                recordDate=(declared + timedelta(days=11)).isoformat(),
                payDate=(declared + timedelta(days=17)).isoformat(),
                declarationDate=declared.isoformat(),
            )
    return root
