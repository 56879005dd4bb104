"""The securities the simulated gateway knows, with the company facts its data is derived from.

Identifiers (conIds, CIKs, ISINs, CUSIPs, listing exchanges, IB's industry/category/subcategory) and
first trading days follow what IB, the SEC and the issuers publish for these companies; the financial
figures are round, plausible values for a simulated world, chosen so that the derived ratios (P/E,
price/book, market cap) are consistent with each other and with the simulated price.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

__all__ = ["DEFAULT_UNIVERSE", "SimSecurity", "Universe"]


@dataclass(frozen=True, slots=True)
class SimSecurity:
    """One simulated US stock: how IB describes it and the fundamentals its data is built from.

    Money figures are in USD units (not millions); ``base_price`` anchors the seeded price process,
    ``annual_volatility`` and ``annual_drift`` shape it, ``avg_daily_volume`` scales its volume.
    ``isin`` and ``cusip`` are the issue's public identifiers (the ISIN is "US", the CUSIP and a
    check digit); ``first_traded`` is the first day its common stock traded, or None when that was
    before any history the simulation has (the exchange calendar starts in 1971) and not recorded.
    """

    symbol: str
    con_id: int
    long_name: str
    industry: str
    category: str
    subcategory: str
    primary_exchange: str
    cik: str
    base_price: float
    annual_volatility: float
    annual_drift: float
    avg_daily_volume: int
    shares_outstanding: float
    float_shares: float
    employees: int
    revenue_ttm: float
    net_income_ttm: float
    book_value_per_share: float
    dividend_per_share: float
    isin: str
    cusip: str
    first_traded: date | None
    currency: str = "USD"
    exchange: str = "SMART"
    min_tick: float = 0.01
    time_zone: str = "US/Eastern"

    @property
    def eps_ttm(self) -> float:
        """Trailing diluted EPS implied by net income and shares outstanding."""
        return self.net_income_ttm / self.shares_outstanding


class Universe(Mapping[str, SimSecurity]):
    """An immutable symbol -> security map that can also be searched by conId."""

    def __init__(self, securities: Iterable[SimSecurity]) -> None:
        self._by_symbol = {s.symbol: s for s in securities}
        self._by_con_id = {s.con_id: s for s in self._by_symbol.values()}
        if len(self._by_con_id) != len(self._by_symbol):
            raise ValueError("every simulated security needs a distinct conId")

    def __getitem__(self, symbol: str) -> SimSecurity:
        return self._by_symbol[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_symbol)

    def __len__(self) -> int:
        return len(self._by_symbol)

    def by_con_id(self, con_id: int) -> SimSecurity | None:
        """The security with this conId, or None."""
        return self._by_con_id.get(con_id)

    def subset(self, symbols: Iterable[str]) -> Universe:
        """A universe restricted to ``symbols`` (unknown symbols raise KeyError naming them)."""
        wanted = list(symbols)
        missing = [s for s in wanted if s not in self._by_symbol]
        if missing:
            raise KeyError(f"not in the simulated universe: {', '.join(missing)}")
        return Universe(self._by_symbol[s] for s in wanted)


# One row per security, in SimSecurity's field order:
# symbol, conId, long name, industry, category, subcategory, primary exchange, CIK, base price,
# annual volatility, annual drift, average daily volume, shares outstanding, float, employees,
# TTM revenue, TTM net income, book value per share, dividend per share.
# fmt: off
_ROWS: tuple[tuple[str, int, str, str, str, str, str, str, float, float, float, int, float, float, int, float, float, float, float], ...] = (  # noqa: E501
    ("AAPL", 265598, "APPLE INC", "Technology", "Computers", "Computers", "NASDAQ", "0000320193", 230.0, 0.26, 0.1, 55000000, 15000000000.0, 14900000000.0, 164000, 395000000000.0, 97000000000.0, 4.4, 1.0),  # noqa: E501
    ("MSFT", 272093, "MICROSOFT CORP", "Technology", "Software", "Software", "NASDAQ", "0000789019", 420.0, 0.24, 0.11, 22000000, 7430000000.0, 7420000000.0, 228000, 262000000000.0, 94000000000.0, 39.0, 3.32),  # noqa: E501
    ("GOOGL", 208813719, "ALPHABET INC-CL A", "Communications", "Internet", "Web Portals/ISP", "NASDAQ", "0001652044", 175.0, 0.28, 0.09, 28000000, 12200000000.0, 10800000000.0, 183000, 350000000000.0, 100000000000.0, 26.0, 0.8),  # noqa: E501
    ("AMZN", 3691937, "AMAZON.COM INC", "Communications", "Internet", "E-Commerce/Products", "NASDAQ", "0001018724", 190.0, 0.3, 0.1, 40000000, 10500000000.0, 9400000000.0, 1550000, 620000000000.0, 49000000000.0, 25.0, 0.0),  # noqa: E501
    ("META", 107113386, "META PLATFORMS INC-CLASS A", "Communications", "Internet", "Internet Content-Entertain", "NASDAQ", "0001326801", 560.0, 0.35, 0.12, 14000000, 2530000000.0, 2200000000.0, 72000, 156000000000.0, 55000000000.0, 72.0, 2.0),  # noqa: E501
    ("NVDA", 4815747, "NVIDIA CORP", "Technology", "Semiconductors", "Electronic Compo-Semicon", "NASDAQ", "0001045810", 130.0, 0.5, 0.15, 250000000, 24500000000.0, 23500000000.0, 30000, 110000000000.0, 60000000000.0, 2.6, 0.04),  # noqa: E501
    ("TSLA", 76792991, "TESLA INC", "Consumer, Cyclical", "Auto Manufacturers", "Auto-Cars/Light Trucks", "NASDAQ", "0001318605", 250.0, 0.55, 0.08, 90000000, 3200000000.0, 2800000000.0, 140000, 97000000000.0, 12000000000.0, 22.0, 0.0),  # noqa: E501
    ("JPM", 1520593, "JPMORGAN CHASE & CO", "Financial", "Banks", "Money Center Banks", "NYSE", "0000019617", 210.0, 0.22, 0.08, 9000000, 2840000000.0, 2800000000.0, 310000, 160000000000.0, 54000000000.0, 118.0, 4.6),  # noqa: E501
    ("JNJ", 8719, "JOHNSON & JOHNSON", "Consumer, Non-cyclical", "Pharmaceuticals", "Medical-Drugs", "NYSE", "0000200406", 155.0, 0.16, 0.04, 7000000, 2410000000.0, 2400000000.0, 131000, 88000000000.0, 14000000000.0, 29.0, 4.96),  # noqa: E501
    ("XOM", 13977, "EXXON MOBIL CORP", "Energy", "Oil&Gas", "Oil Comp-Integrated", "NYSE", "0000034088", 112.0, 0.24, 0.05, 16000000, 4400000000.0, 4390000000.0, 61500, 340000000000.0, 35000000000.0, 62.0, 3.84),  # noqa: E501
    ("KO", 8894, "COCA-COLA CO/THE", "Consumer, Non-cyclical", "Beverages", "Beverages-Non-alcoholic", "NYSE", "0000021344", 63.0, 0.14, 0.04, 13000000, 4310000000.0, 4300000000.0, 79100, 46000000000.0, 10700000000.0, 6.2, 1.94),  # noqa: E501
    ("WMT", 13824, "WALMART INC", "Consumer, Cyclical", "Retail", "Retail-Discount", "NYSE", "0000104169", 80.0, 0.18, 0.07, 17000000, 8040000000.0, 4300000000.0, 2100000, 660000000000.0, 16000000000.0, 11.5, 0.83),  # noqa: E501
)
# fmt: on

# ISIN, CUSIP and first trading day of each security above. First days are IPO days (AAPL 12 Dec
# 1980, MSFT 13 Mar 1986, AMZN 15 May 1997, NVDA 22 Jan 1999, GOOGL: Google's class A shares, 19 Aug
# 2004, TSLA 29 Jun 2010, META 18 May 2012) or, for the older companies, the first listing of their
# stock: KO on the NYSE 5 Sep 1919, JNJ on the NYSE 25 Sep 1944, WMT over the counter 1 Oct 1970.
# XOM and JPM trade on through decades of predecessor listings (Standard Oil of New Jersey, J.P.
# Morgan & Co. and Chemical Bank) older than the simulated calendar: None.
_IDENTIFIERS: dict[str, tuple[str, str, date | None]] = {
    "AAPL": ("US0378331005", "037833100", date(1980, 12, 12)),
    "MSFT": ("US5949181045", "594918104", date(1986, 3, 13)),
    "GOOGL": ("US02079K3059", "02079K305", date(2004, 8, 19)),
    "AMZN": ("US0231351067", "023135106", date(1997, 5, 15)),
    "META": ("US30303M1027", "30303M102", date(2012, 5, 18)),
    "NVDA": ("US67066G1040", "67066G104", date(1999, 1, 22)),
    "TSLA": ("US88160R1014", "88160R101", date(2010, 6, 29)),
    "JPM": ("US46625H1005", "46625H100", None),
    "JNJ": ("US4781601046", "478160104", date(1944, 9, 25)),
    "XOM": ("US30231G1022", "30231G102", None),
    "KO": ("US1912161007", "191216100", date(1919, 9, 5)),
    "WMT": ("US9311421039", "931142103", date(1970, 10, 1)),
}


def _securities() -> Iterator[SimSecurity]:
    for row in _ROWS:
        isin, cusip, first_traded = _IDENTIFIERS[row[0]]
        yield SimSecurity(*row, isin=isin, cusip=cusip, first_traded=first_traded)


DEFAULT_UNIVERSE = Universe(_securities())
