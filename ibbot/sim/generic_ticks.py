"""reqMktData's generic ticks: the lists IB accepts for a stock, and the values the gateway sends.

IB reads ``genericTickList`` as comma-separated tokens, each trimmed: ``mdoff`` is no tick, ``N`` or
``N:param`` names a tick by its request code or an older alias. One token that is not a tick legal
for the security type refuses the whole request with 321 ``'bQ'``, whose text lists the legal ones.

Served for the simulated stocks (tick type ids in brackets, as IB's "Available Tick Types"):

======  ==============================================================================
104     historical volatility [23]: 30 sessions of closes, annualised (as 411)
165     13/26/52-week low and high [15-20] from daily bars and today's range; 90-session
        average daily volume [21]
220     Creditman mark price [78]; 221 and 232 the mark price [37]; 619 the slow mark [79]:
        the last trade held inside the book
225     auction volume, price and imbalance [34, 35, 36] while an auction's imbalance is
        published: 09:25-09:30 for the opening cross, the last 10 minutes for the closing
        cross; the volume is that of the session's first (last) minute, which holds the cross
233     RTVolume [48], 375 RT trade volume [77]: ``price;size;ms;totalVolume;VWAP;single``
        for the last trade, the day's volume and VWAP as the bars have them
236     shortable [46] (3.0: at least 1,000 shares to borrow) and shortable shares [89]
258     fundamental ratios [47], the ReportSnapshot's
293     trade count [54]; 294 trades per minute [55] and 295 shares per minute [56] over the
        last minute; 595 volume of the last 3, 5 and 10 minutes [63, 64, 65]
318     last regular-hours trade [57]
411     real-time historical volatility [58]
456     dividends [59] ``past 12 months,next 12 months,next date,next amount`` (quarterly)
======  ==============================================================================

The other legal ticks (options volume and open interest 100/101/105, implied volatility 106, news
292, ETF NAVs, bond and IPO ticks) are accepted and send nothing: the simulated market has no
options, news, ETFs or bonds, and IB too sends nothing for a tick with no data. On delayed data IB
serves only 101, 106, 165, 221, 232, 236 and 258; the others are accepted and send nothing.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from ibbot.models import BarSize
from ibbot.seeds import seed_for
from ibbot.sim import messages as msg
from ibbot.sim.calendar import EXCHANGE_TZ
from ibbot.sim.fundamentals import fundamental_ratios
from ibbot.sim.market import MarketSimulator
from ibbot.sim.universe import SimSecurity

if TYPE_CHECKING:
    from ibbot.exchange import Quote

__all__ = ["GenericTickFeed", "parse_generic_ticks", "refusal_text"]

# IB's generic ticks legal for a stock, as its 321 lists them: request code, older alias, name.
_LEGAL_STOCK: tuple[tuple[int, int | None, str], ...] = (
    (100, None, "Option Volume"),
    (101, None, "Option Open Interest"),
    (105, None, "Average Opt Volume"),
    (106, None, "impvolat"),
    (165, None, "Misc. Stats"),
    (221, 220, "Creditman Mark Price"),
    (225, None, "Auction"),
    (232, 221, "Pl Price"),
    (233, None, "RTVolume"),
    (236, None, "inventory"),
    (258, 47, "Fundamentals"),
    (292, None, "Wide_news"),
    (293, None, "TradeCount"),
    (294, None, "TradeRate"),
    (295, None, "VolumeRate"),
    (318, None, "LastRTHTrade"),
    (375, None, "RTTrdVolume"),
    (411, None, "rthistvol"),
    (456, 59, "IBDividends"),
    (460, None, "Bond Factor Multiplier"),
    (577, None, "EtfNavLast(navlast)"),
    (586, None, "IPOHLMPRC"),
    (587, None, "Pl Price Delayed"),
    (588, None, "Futures Open Interest"),
    (595, None, "Short-Term Volume X Mins"),
    (614, None, "EtfNavMisc(high/low)"),
    (619, None, "Creditman Slow Mark Price"),
    (623, None, "EtfFrozenNavLast(fznavlast)"),
)
# An API id IB resolves before its own codes: 221 names the P&L (mark) price, 220 the Creditman
# mark, 47 and 59 are the old ids of fundamentals and dividends; 104 is historical volatility,
# legal although the list does not show it.
_ALIASES = {221: 232, 220: 221, 47: 258, 59: 456, 104: 104}
_CODES = frozenset(code for code, _, _ in _LEGAL_STOCK)
_LEGAL_TEXT = ",".join(
    f"{code}{'' if alias is None else f'/{alias}'}({name})" for code, alias, name in _LEGAL_STOCK
)
# What IB serves on delayed data (its "Delayed Streaming Data" page; 221 resolves to 232).
_DELAYED = frozenset({101, 106, 165, 221, 232, 236, 258})

# Tick type ids.
_LOW_13W, _HIGH_13W, _LOW_26W, _HIGH_26W, _LOW_52W, _HIGH_52W, _AVG_VOLUME = range(15, 22)
_AUCTION_VOLUME, _AUCTION_PRICE, _AUCTION_IMBALANCE = 34, 35, 36
_MARK, _CREDITMAN_MARK, _CREDITMAN_SLOW_MARK = 37, 78, 79
_SHORTABLE, _SHORTABLE_SHARES = 46, 89
_RATIOS, _RT_VOLUME, _RT_TRADE_VOLUME, _DIVIDENDS = 47, 48, 77, 59
_TRADE_COUNT, _TRADE_RATE, _VOLUME_RATE = 54, 55, 56
_LAST_RTH_TRADE, _RT_HIST_VOL, _HIST_VOL = 57, 58, 23
_SHORT_TERM_VOLUME = {63: 180, 64: 300, 65: 600}

# Shortable (46): above 2.5 means at least 1,000 shares can be borrowed; a large cap lends about
# 1% of its float.
_EASY_TO_BORROW = 3.0
_LENDABLE_SHARE = 0.01
_HISTORY_DAYS = 366  # calendar days behind the 52-week extremes
_WEEKS = {13: (_LOW_13W, _HIGH_13W), 26: (_LOW_26W, _HIGH_26W), 52: (_LOW_52W, _HIGH_52W)}
_AVG_VOLUME_SESSIONS = 90
_VOLATILITY_SESSIONS = 30
_TRADING_DAYS_PER_YEAR = 252
_OPENING_AUCTION = timedelta(minutes=5)  # imbalance published from 09:25
_CLOSING_AUCTION = timedelta(minutes=10)  # and from 10 minutes before the close
_MAX_IMBALANCE = 0.3  # of the cross's volume


def parse_generic_ticks(text: str) -> frozenset[int] | None:
    """The request codes a ``genericTickList`` names (empty: none); None when IB would refuse it."""
    codes: set[int] = set()
    for raw in text.split(","):
        token = raw.strip()
        if not token or token.lower() == "mdoff":
            continue
        name, colon, param = token.partition(":")
        if colon and not param.strip():
            return None
        try:
            tick = int(name.strip())
        except ValueError:
            return None
        code = _ALIASES.get(tick, tick)
        if code not in _CODES and code not in _ALIASES.values():
            return None
        codes.add(code)
    return frozenset(codes)


def refusal_text(text: str) -> str:
    """IB's 321 text for a generic tick list it refuses (for a stock)."""
    return (
        f"Error validating request.-'bQ' : cause - Incorrect generic tick list of {text}.  "
        f"Legal ones for (STK) are: {_LEGAL_TEXT}"
    )


@dataclass(slots=True)
class GenericTickFeed:
    """The generic ticks of one market data subscription: values at the request, then changes.

    Values that do not move within a day (history-based statistics, ratios, dividends, borrow) are
    computed once; the rest follow the quote. Only values that changed since the last call are sent.
    """

    market: MarketSimulator
    security: SimSecurity
    codes: frozenset[int]
    sent: dict[tuple[str, int], object] = field(default_factory=dict)
    history: list[tuple[date, float, float, float, int]] = field(default_factory=list)
    static: list[tuple[str, int, object]] = field(default_factory=list)
    last_print: int | None = None

    @classmethod
    def start(
        cls,
        market: MarketSimulator,
        security: SimSecurity,
        codes: frozenset[int],
        *,
        now: datetime,
        delayed: bool,
    ) -> GenericTickFeed:
        """A feed for ``codes`` (those served on delayed data only, when ``delayed``)."""
        wanted = codes & _DELAYED if delayed else codes
        feed = cls(market, security, wanted)
        if wanted & {104, 165, 411}:
            feed.history = feed._daily_history(now)
        feed.static = feed._static_values(now)
        return feed

    def messages(self, req_id: int, quote: Quote, now: datetime) -> list[msg.Fields]:
        """The generic tick messages whose value changed since the previous call."""
        out: list[msg.Fields] = []
        for kind, tick_type, value in [*self.static, *self._live_values(quote, now)]:
            if self.sent.get((kind, tick_type)) == value:
                continue
            self.sent[(kind, tick_type)] = value
            if kind == "price":
                assert isinstance(value, float)
                out.append(msg.tick_price(req_id, tick_type, value, 0))
            elif kind == "size":
                assert isinstance(value, int)
                out.append(msg.tick_size(req_id, tick_type, value))
            elif kind == "generic":
                assert isinstance(value, float)
                out.append(msg.tick_generic(req_id, tick_type, value))
            else:
                out.append(msg.tick_string(req_id, tick_type, str(value)))
        return out

    # ---------------------------------------------------------------- values

    def _static_values(self, now: datetime) -> list[tuple[str, int, object]]:
        symbol, codes = self.security.symbol, self.codes
        values: list[tuple[str, int, object]] = []
        if 165 in codes and self.history:
            values.append(("size", _AVG_VOLUME, self._average_volume()))
        if 236 in codes:
            lendable = round(self.security.float_shares * _LENDABLE_SHARE)
            values += [
                ("generic", _SHORTABLE, _EASY_TO_BORROW),
                ("size", _SHORTABLE_SHARES, lendable),
            ]
        if 258 in codes:
            ratios = fundamental_ratios(
                self.security, price=self.market.price(symbol, now), as_of=now
            )
            text = "".join(f"{name}={value};" for name, value in ratios.items())
            values.append(("string", _RATIOS, text))
        if 456 in codes:
            values.append(("string", _DIVIDENDS, self._dividends(now)))
        volatility = self._volatility()
        if 411 in codes and volatility is not None:
            values.append(("generic", _RT_HIST_VOL, volatility))
        if 104 in codes and volatility is not None:
            values.append(("generic", _HIST_VOL, volatility))
        return values

    def _live_values(self, quote: Quote, now: datetime) -> list[tuple[str, int, object]]:
        symbol, codes = self.security.symbol, self.codes
        values: list[tuple[str, int, object]] = []
        if 165 in codes and self.history:
            values += self._extremes(quote)
        mark = min(max(quote.last, quote.bid), quote.ask)
        for code, tick_type in ((232, _MARK), (221, _CREDITMAN_MARK), (619, _CREDITMAN_SLOW_MARK)):
            if code in codes:
                values.append(("price", tick_type, mark))
        if 225 in codes:
            values += self._auction(quote, now)
        day = self.market.day_activity(symbol, now) if codes & {233, 293, 318, 375} else None
        if day is not None and codes & {233, 375}:
            values += self._rt_volume(quote, now, day.vwap)
        if day is not None and 293 in codes:
            values.append(("generic", _TRADE_COUNT, float(day.count)))
        if day is not None and 318 in codes:
            values.append(("price", _LAST_RTH_TRADE, day.last_rth_price))
        if codes & {294, 295}:
            volume, count = self.market.recent_activity(symbol, now, 60)
            if 294 in codes:
                values.append(("generic", _TRADE_RATE, float(count)))
            if 295 in codes:
                values.append(("generic", _VOLUME_RATE, float(volume)))
        if 595 in codes:
            for tick_type, seconds in _SHORT_TERM_VOLUME.items():
                volume, _ = self.market.recent_activity(symbol, now, seconds)
                values.append(("size", tick_type, volume))
        return values

    def _daily_history(self, now: datetime) -> list[tuple[date, float, float, float, int]]:
        """(session date, high, low, close, volume) of the sessions before today's."""
        today = now.astimezone(EXCHANGE_TZ).date()
        start = datetime.combine(today - timedelta(days=_HISTORY_DAYS), datetime.min.time(), UTC)
        end = datetime.combine(today, datetime.min.time(), EXCHANGE_TZ).astimezone(UTC)
        bars = self.market.bars(self.security.symbol, start=start, end=end, bar_size=BarSize.DAY_1)
        return [
            (bar.time.astimezone(EXCHANGE_TZ).date(), bar.high, bar.low, bar.close, bar.volume)
            for bar in bars
        ]

    def _extremes(self, quote: Quote) -> list[tuple[str, int, object]]:
        newest = self.history[-1][0]
        values: list[tuple[str, int, object]] = []
        for weeks, (low_tick, high_tick) in _WEEKS.items():
            since = newest - timedelta(weeks=weeks)
            window = [row for row in self.history if row[0] > since]
            high = max([row[1] for row in window] + [quote.high])
            low = min([row[2] for row in window] + ([quote.low] if quote.low > 0 else []))
            values += [("price", low_tick, low), ("price", high_tick, high)]
        return values

    def _average_volume(self) -> int:
        recent = self.history[-_AVG_VOLUME_SESSIONS:]
        return round(sum(row[4] for row in recent) / len(recent))

    def _volatility(self) -> float | None:
        """Annualised standard deviation of the last 30 sessions' close-to-close log returns."""
        closes = [row[3] for row in self.history[-(_VOLATILITY_SESSIONS + 1) :]]
        if len(closes) < 3:
            return None
        returns = [math.log(b / a) for a, b in itertools.pairwise(closes)]
        mean = sum(returns) / len(returns)
        variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
        return math.sqrt(variance * _TRADING_DAYS_PER_YEAR)

    def _dividends(self, now: datetime) -> str:
        """IB's dividends tick: quarterly payments on the 15th of a month fixed per security."""
        annual = self.security.dividend_per_share
        if annual <= 0:
            return "0,0,,"
        first_month = 1 + self.security.con_id % 3
        today = now.astimezone(EXCHANGE_TZ).date()
        upcoming = min(
            date(year, month, 15)
            for year in (today.year, today.year + 1)
            for month in range(first_month, 13, 3)
            if date(year, month, 15) > today
        )
        return f"{annual:.4f},{annual:.4f},{upcoming:%Y%m%d},{annual / 4:.4f}"

    def _auction(self, quote: Quote, now: datetime) -> list[tuple[str, int, object]]:
        bounds = self.market.session_bounds(now.astimezone(EXCHANGE_TZ).date())
        if bounds is None:
            return []
        open_, close = bounds
        if open_ - _OPENING_AUCTION <= now < open_:
            cross = open_
        elif close - _CLOSING_AUCTION <= now < close:
            cross = close - timedelta(minutes=1)
        else:
            return []
        minute = self.market.bars(
            self.security.symbol,
            start=cross,
            end=cross + timedelta(minutes=1),
            bar_size=BarSize.MIN_1,
        )
        if not minute:
            return []
        volume = minute[0].volume
        share = seed_for(self.market.seed, self.security.symbol, "imbalance", cross.isoformat())
        imbalance = round(volume * _MAX_IMBALANCE * ((share % 2001) / 1000.0 - 1.0))
        midpoint = round((quote.bid + quote.ask) / 2.0, 4)
        return [
            ("size", _AUCTION_VOLUME, volume),
            ("price", _AUCTION_PRICE, midpoint),
            ("size", _AUCTION_IMBALANCE, imbalance),
        ]

    def _rt_volume(self, quote: Quote, now: datetime, vwap: float) -> list[tuple[str, int, object]]:
        """RTVolume for the last trade, once per new trade."""
        second = math.floor(now.timestamp()) - 1
        prints = self.market.prints(self.security.symbol, second)
        if not prints or prints[-1].millis == self.last_print:
            return []
        last = prints[-1]
        self.last_print = last.millis
        text = f"{last.price};{last.size};{last.millis};{quote.volume};{vwap:.8f};true"
        out: list[tuple[str, int, object]] = []
        if 233 in self.codes:
            out.append(("string", _RT_VOLUME, text))
        if 375 in self.codes:
            out.append(("string", _RT_TRADE_VOLUME, text))
        return out
