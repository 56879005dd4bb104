"""A deterministic simulated US stock market: prices, quotes and bars of every IB bar size.

Every value is a pure function of ``(seed, symbol, time)``: nothing depends on the order of queries,
on a clock or on process state, so two processes with the same seed answer byte for byte the same.

The model, from the top:

* **Days.** Each trading day has an overnight gap (20% of the day's variance) and an intraday return
  (80%, carrying the drift), drawn per (symbol, year) from the security's annual volatility and drift
  (geometric Brownian motion, with a monthly volatility regime so calm and busy stretches alternate).
  Closes chain from an anchor: the close of the last trading day of 2025 is the security's
  ``base_price``; later days compound forward, earlier days backward.
* **Sessions.** A day has three segments: pre-market (04:00-09:30 America/New_York), regular trading
  hours (09:30-16:00, or to 13:00 on early-close days) and post-market (four hours after the close).
  Each segment's high and low follow the exact law of a Brownian bridge's extremes; its volume scales
  with the security's ``avg_daily_volume`` (larger on big moves, about 2% pre-market and 1%
  post-market), its trade count with a typical trade size.
* **Intraday.** Segments split into minutes with a U-shaped activity profile (busy open, quiet lunch,
  busy close), minutes into 5-second bars and those into seconds, exactly (see
  :mod:`ibbot.sim.pricepath`). So a 1-minute bar *is* the aggregate of its twelve 5-second bars, a daily
  bar the aggregate of its minutes, and the market at time ``t`` is everything in the seconds completed
  by ``t``: ``price(t)`` is the close of the last completed second, ``quote(t).volume`` the session's
  volume through it.
* **Quotes.** The spread is a few ticks (1-3 in regular hours, wider outside), constant within a segment:
  bid = last - floor(spread/2) ticks, ask = bid + spread. BID, ASK and MIDPOINT bars are the trade bars
  shifted the same way, so they agree with quotes too; BID_ASK bars follow IB (open = average bid,
  high = highest ask, low = lowest bid, close = average ask; averages weighted by volume). Non-TRADES
  bars carry volume, WAP and count of -1, as IB sends them.

Bar timing follows IB: intraday bars are aligned to the exchange's wall clock (a 1-hour bar covers
10:00-11:00; the first one of the day starts at the session open, 09:30 or 04:00), a daily bar starts at
the session start, weekly and monthly bars at the first session of the week or month. A bar is included
in ``bars(start, end)`` when its start is in ``[start, end)``; the last one holds only the seconds
completed by ``end`` when ``end`` falls inside it. A security has no bars before its first trading
day (:meth:`MarketSimulator.first_session`), as IB has no data before a listing.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from array import array
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from ibbot.clock import ensure_utc
from ibbot.errors import IbbotError
from ibbot.exchange.market import Quote, SimBar
from ibbot.models import BarSize, WhatToShow
from ibbot.seeds import seed_for
from ibbot.sim.calendar import EXCHANGE_TZ, FIRST_YEAR, ExchangeCalendar, Session
from ibbot.sim.pricepath import (
    Bar,
    Draws,
    SessionPart,
    combine,
    session_profile,
    subdivide,
    uniform_profile,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from ibbot.sim.universe import SimSecurity

__all__ = [
    "ANCHOR_YEAR",
    "HistoricalDataError",
    "MarketSimulator",
    "parse_duration",
]

ANCHOR_YEAR = 2026
"""The close before the first trading day of this year is each security's ``base_price``."""

TRADING_DAYS_PER_YEAR = 252
_OVERNIGHT_SHARE = 0.2  # share of a day's return variance that happens between close and next open
_REGIME_SD = 0.3  # log-sd of the monthly volatility multiplier
_MIN_TICKS = 10  # a price floor, so a long downward path never reaches zero or a negative bid
_EARLY_CLOSE_VOLUME = 0.55  # a 13:00 close trades a bit over half a normal day's volume
_PRE_VOLUME = 0.02
_POST_VOLUME = 0.012
_TRADE_SIZE = 80.0  # shares per trade in regular hours
_EXT_TRADE_SIZE = 60.0
_DAY_DRAWS = 18  # draws per trading day in a year's stream (see _year)
_HMDS = "Historical Market Data Service error message:"

_PARTS = (SessionPart.PRE, SessionPart.RTH, SessionPart.POST)
_MINUTE = 60
_FIVE = 5
_MASK64 = (1 << 64) - 1


class HistoricalDataError(IbbotError, ValueError):
    """A historical data request IB would refuse; ``code`` and ``message`` are what IB answers."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


# IB's duration units and limits (IB TWS API docs, "Historical Bars": step sizes and max duration per
# bar size). Smallest bar per unit: S 1 s, D 5 s, W 10 s, M 30 s, Y 1 min; longest duration per unit:
# 86400 S, 365 D, 52 W, 12 M, 68 Y; 1-second bars only with S, at most 2000 S.
_DURATION_RE = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")
_MIN_BAR_SECONDS = {"S": 1, "D": 5, "W": 10, "M": 30, "Y": 60}
_MAX_DURATION = {"S": 86_400, "D": 365, "W": 52, "M": 12, "Y": 68}
_MAX_ONE_SECOND_DURATION = 2_000
# Those tables alone allow 68 years of 1-minute bars (some 16 million). IB's step-size rule bounds the
# ratio of duration to bar size instead: its older docs ask requests to "return only a few thousand
# bars" (a table of duration rows, each with its smallest bar, ending with "1 Y -> 1 day"), and in
# practice months of minute bars time out or drop the connection (ib_insync #268, #490). The sim keeps
# the current tables and adds that rule for bars shorter than a day: at most _MAX_STEPS bars fit in the
# duration's calendar length (one day of 5-second bars, the finest bar IB allows in days), and at most
# one year (the old docs: requests "can go back one full calendar year"; a year needs daily bars).
# Daily, weekly and monthly bars keep IB's 68 years.
_MAX_STEPS = 86_400 // 5
_MAX_INTRADAY_YEARS = 1
# The longest calendar length of one unit (a month of 31 days, a leap year), in seconds.
_UNIT_SPAN = {"S": 1, "D": 86_400, "W": 7 * 86_400, "M": 31 * 86_400, "Y": 366 * 86_400}


def parse_duration(duration: str, bar_size: BarSize) -> tuple[int, str]:
    """Check IB's ``durationStr`` against ``bar_size``; return ``(amount, unit)``.

    Raises :class:`HistoricalDataError` with the code and text IB answers:
    321 for a malformed duration (text as client libraries report it: "Error validating request.-'bS' :
    cause - invalid duration") and for more than 365 D (ib_async issue #229 quotes IB's text), 162
    "invalid step" when the bars are too small for the unit (IB's answer to 1-second bars over 1 D, as
    reported by users), and 162 "Time length exceed max." past the longest allowed duration: the
    unit's maximum, or for bars shorter than a day more than one year or more than 17,280 bars in
    the duration (so one request is at most about 11,000 bars and a second or two of work).
    """
    match = _DURATION_RE.match(duration)
    if match is None or int(match.group(1)) < 1:
        raise HistoricalDataError(321, "Error validating request.-'bS' : cause - invalid duration")
    amount, unit = int(match.group(1)), match.group(2)
    if unit == "D" and amount > _MAX_DURATION["D"]:
        raise HistoricalDataError(
            321,
            "Error validating request.-'bH' : cause - Historical data requests for durations "
            "longer than 365 days must be made in years.",
        )
    if bar_size.seconds < _MIN_BAR_SECONDS[unit] or (bar_size is BarSize.SEC_1 and unit != "S"):
        raise HistoricalDataError(162, f"{_HMDS}invalid step: {bar_size.seconds}")
    limit = _MAX_DURATION[unit]
    if bar_size is BarSize.SEC_1:
        limit = _MAX_ONE_SECOND_DURATION
    too_long = amount > limit
    if bar_size.is_intraday:
        steps = amount * _UNIT_SPAN[unit] // bar_size.seconds
        too_long = too_long or steps > _MAX_STEPS
        too_long = too_long or (unit == "Y" and amount > _MAX_INTRADAY_YEARS)
    if too_long:
        raise HistoricalDataError(162, f"{_HMDS}Time length exceed max.")
    return amount, unit


@dataclass(frozen=True, slots=True)
class _Segment:
    """One of a day's three trading segments, with the bar that spans it and its quote spread."""

    kind: SessionPart
    day: date
    start: int
    end: int
    bar: Bar
    variance: float  # price variance over the whole segment, ticks²
    bid_offset: int  # ticks from the last trade down to the bid
    ask_offset: int  # ticks from the last trade up to the ask

    @property
    def minutes(self) -> int:
        return (self.end - self.start) // _MINUTE


@dataclass(frozen=True, slots=True)
class _Year:
    """One security's daily draws for one year, relative to the close before its first trading day."""

    days: tuple[date, ...]
    index: dict[date, int]
    vol_mult: tuple[float, ...]
    gap: tuple[float, ...]  # log(open) - log(previous close)
    rel_close: tuple[float, ...]  # log(close) - the year's starting level
    aux: array[float]  # _DAY_DRAWS per day, flat: see _compute_day for the meaning of each draw


@dataclass(frozen=True, slots=True)
class _Params:
    tick: float
    decimals: int
    daily_sd: float
    daily_drift: float
    base_log: float
    adv: float


def _decimals(tick: float) -> int:
    exponent = Decimal(str(tick)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 2


def _mix(x: int) -> int:
    # splitmix64 finaliser: a cheap, well-spread integer hash for quote sizes
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


class MarketSimulator:
    """A seeded simulated market over a universe of US stocks (see the module docstring)."""

    def __init__(self, universe: Mapping[str, SimSecurity], *, seed: int = 42) -> None:
        self._universe = universe
        self._seed = seed
        self._calendar = ExchangeCalendar()
        self._params: dict[str, _Params] = {}
        self._salts: dict[str, int] = {}
        # Bounded caches (about 40 MB when full): a year of daily draws is ~40 kB, a day's minutes
        # ~100 kB, a minute's 5-second bars ~3 kB. Enough for a dozen symbols' working set.
        self._year = functools.lru_cache(maxsize=512)(self._compute_year)
        self._level = functools.lru_cache(maxsize=4096)(self._compute_level)
        self._day = functools.lru_cache(maxsize=4096)(self._compute_day)
        self._minutes = functools.lru_cache(maxsize=256)(self._compute_minutes)
        self._fives = functools.lru_cache(maxsize=2048)(self._compute_fives)
        self._seconds = functools.lru_cache(maxsize=2048)(self._compute_seconds)

    @property
    def seed(self) -> int:
        """The seed every value derives from."""
        return self._seed

    @property
    def calendar(self) -> ExchangeCalendar:
        """The exchange calendar the market trades on."""
        return self._calendar

    # ----------------------------------------------------------------------------- calendar

    def is_open(self, t: datetime) -> bool:
        """True during regular trading hours."""
        session = self._session_at(t)
        ts = t.timestamp()
        return session is not None and session.open_ts <= ts < session.close_ts

    def is_trading(self, t: datetime, *, outside_rth: bool = False) -> bool:
        """True in regular hours, or in extended hours (04:00-20:00) when ``outside_rth``."""
        if not outside_rth:
            return self.is_open(t)
        session = self._session_at(t)
        ts = t.timestamp()
        return session is not None and session.pre_open_ts <= ts < session.post_close_ts

    def session_bounds(self, day: date) -> tuple[datetime, datetime] | None:
        """The regular session's open and close (UTC) on ``day``, or None when the market is closed."""
        session = self._calendar.session(day)
        return None if session is None else (session.open, session.close)

    def first_session(self, symbol: str) -> Session:
        """The first session with data for ``symbol``: its first trading day, or the calendar's first.

        This is where its history starts (IB's ``headTimestamp``); a stock listed before the
        simulated calendar begins (1971) starts with the calendar.
        """
        listed = self._security(symbol).first_traded
        first = date(FIRST_YEAR, 1, 1) if listed is None else max(listed, date(FIRST_YEAR, 1, 1))
        if self._calendar.is_trading_day(first):
            session = self._calendar.session(first)
        else:
            session = self._calendar.session(self._calendar.next_trading_day(first))
        assert session is not None
        return session

    def trading_hours(self, symbol: str, start: date, days: int) -> tuple[str, str]:
        """IB's ``tradingHours`` and ``liquidHours`` strings for ``symbol`` over ``days`` days."""
        self._security(symbol)
        return self._calendar.trading_hours(start, days)

    # ----------------------------------------------------------------------------- prices

    def price(self, symbol: str, t: datetime) -> float:
        """The last trade price at ``t``: the close of the last second completed by ``t``."""
        params = self._param(symbol)
        segment, offset = self._last_trade(symbol, _completed_second(t))
        bar = self._second_bar(symbol, segment, offset)
        return round(bar[3] * params.tick, params.decimals)

    def quote(self, symbol: str, t: datetime) -> Quote:
        """Top of book, last trade and the day so far at ``t`` (consistent with ``price`` and bars)."""
        t = ensure_utc(t)
        params = self._param(symbol)
        second = _completed_second(t)
        segment, offset = self._last_trade(symbol, second)
        bar = self._second_bar(symbol, segment, offset)
        last = bar[3]
        session = self._quote_session(second)
        rth = self._day(symbol, session.day)[1]
        upto = min(second + 1, rth.end) - rth.start
        today = combine(self._range(symbol, rth, 0, upto))
        prev_close = self._prev_close_ticks(symbol, session.day)
        noise = _mix(self._salt(symbol) ^ second)
        tick, dec = params.tick, params.decimals
        return Quote(
            time=t,
            bid=round((last - segment.bid_offset) * tick, dec),
            ask=round((last + segment.ask_offset) * tick, dec),
            last=round(last * tick, dec),
            bid_size=100 * (1 + noise % 30),
            ask_size=100 * (1 + (noise >> 20) % 30),
            last_size=max(1, round(bar[4] / bar[5])),
            volume=today[4],
            open=round(today[0] * tick, dec),
            high=round(today[1] * tick, dec),
            low=round(today[2] * tick, dec),
            close=round(prev_close * tick, dec),
        )

    # ----------------------------------------------------------------------------- bars

    def bars(
        self,
        symbol: str,
        *,
        start: datetime,
        end: datetime,
        bar_size: BarSize,
        what_to_show: WhatToShow = WhatToShow.TRADES,
        use_rth: bool = True,
    ) -> list[SimBar]:
        """The bars starting in ``[start, end)``; the last holds only the seconds completed by ``end``."""
        steps = self.bar_steps(
            symbol,
            start=start,
            end=end,
            bar_size=bar_size,
            what_to_show=what_to_show,
            use_rth=use_rth,
        )
        return [bar for bar in steps if bar is not None]

    def bar_steps(
        self,
        symbol: str,
        *,
        start: datetime,
        end: datetime,
        bar_size: BarSize,
        what_to_show: WhatToShow = WhatToShow.TRADES,
        use_rth: bool = True,
    ) -> Iterator[SimBar | None]:
        """:meth:`bars` computed a step at a time, so a server can pause between steps.

        Each step is a bar, or None for a step of preparation (a year of the price chain the first
        bar depends on: decades back, that is dozens of years). No step costs more than a few
        milliseconds. The arguments are checked at the call; the steps run as they are taken.
        """
        self._param(symbol)
        start_ts = ensure_utc(start, field="start").timestamp()
        end_ts = ensure_utc(end, field="end").timestamp()
        if end_ts <= start_ts:
            return iter(())
        done = math.floor(end_ts)  # seconds [k, k+1) with k < done are complete
        first_day = _group_start(self._calendar.exchange_date(start), bar_size)
        first_day = max(first_day, self.first_session(symbol).day)
        sessions = self._calendar.iter_sessions(first_day, self._calendar.exchange_date(end))
        window = (start_ts, end_ts, done)
        if bar_size.is_intraday:
            bars = self._intraday_bars(
                symbol,
                sessions,
                window=window,
                size=bar_size.seconds,
                what=what_to_show,
                use_rth=use_rth,
            )
        else:
            bars = self._session_bars(
                symbol,
                sessions,
                window=window,
                bar_size=bar_size,
                what=what_to_show,
                use_rth=use_rth,
            )
        return itertools.chain(self._prepare(symbol, first_day.year), bars)

    def historical_bars(
        self,
        symbol: str,
        *,
        end: datetime,
        duration: str,
        bar_size: BarSize,
        what_to_show: WhatToShow = WhatToShow.TRADES,
        use_rth: bool = True,
    ) -> list[SimBar]:
        """What ``reqHistoricalData`` returns for ``duration`` ending at ``end``.

        ``duration`` is IB's ``durationStr``: S = seconds, D = trading sessions, W = weeks, M = months,
        Y = years, counted back from ``end``. Bad durations and bar sizes the duration does not allow
        raise :class:`HistoricalDataError` (a ``ValueError``) with IB's code and text.
        """
        steps = self.historical_bar_steps(
            symbol,
            end=end,
            duration=duration,
            bar_size=bar_size,
            what_to_show=what_to_show,
            use_rth=use_rth,
        )
        return [bar for bar in steps if bar is not None]

    def historical_bar_steps(
        self,
        symbol: str,
        *,
        end: datetime,
        duration: str,
        bar_size: BarSize,
        what_to_show: WhatToShow = WhatToShow.TRADES,
        use_rth: bool = True,
    ) -> Iterator[SimBar | None]:
        """:meth:`historical_bars` as :meth:`bar_steps` (the request is checked at the call)."""
        amount, unit = parse_duration(duration, bar_size)
        self._param(symbol)
        end = ensure_utc(end, field="end")
        start = self._duration_start(end, amount, unit, use_rth=use_rth)
        return self.bar_steps(
            symbol,
            start=start,
            end=end,
            bar_size=bar_size,
            what_to_show=what_to_show,
            use_rth=use_rth,
        )

    def realtime_bar(
        self, symbol: str, start: datetime, what_to_show: WhatToShow = WhatToShow.TRADES
    ) -> SimBar:
        """The 5-second bar starting at ``start`` (a multiple of 5 s since the epoch).

        Outside trading hours nothing trades: the bar is flat at the last price with no volume.
        """
        start = ensure_utc(start, field="start")
        ts = start.timestamp()
        if ts != int(ts) or int(ts) % _FIVE:
            raise ValueError(f"a realtime bar starts on a multiple of 5 seconds, got {start}")
        label = int(ts)
        segment, offset = self._last_trade(symbol, label)
        if segment.start <= label < segment.end:
            minute, rest = divmod(offset, _MINUTE)
            bar = self._fives(symbol, segment.day, segment.kind, minute)[rest // _FIVE]
            return self._render(symbol, label, [(segment, bar)], what_to_show)
        close = self._second_bar(symbol, segment, offset)[3]
        rendered = self._render(
            symbol,
            label,
            [(segment, (close, close, close, close, 1, 1, float(close)))],
            what_to_show,
        )
        flat_volume = 0 if what_to_show is WhatToShow.TRADES else -1
        flat_wap = rendered.close if what_to_show is WhatToShow.TRADES else -1.0
        return SimBar(
            rendered.time,
            rendered.open,
            rendered.high,
            rendered.low,
            rendered.close,
            flat_volume,
            flat_wap,
            flat_volume,
        )

    # ----------------------------------------------------------------------------- internals: model

    def _security(self, symbol: str) -> SimSecurity:
        try:
            return self._universe[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None

    def _param(self, symbol: str) -> _Params:
        params = self._params.get(symbol)
        if params is None:
            sec = self._security(symbol)
            daily_sd = sec.annual_volatility / math.sqrt(TRADING_DAYS_PER_YEAR)
            params = _Params(
                tick=sec.min_tick,
                decimals=_decimals(sec.min_tick),
                daily_sd=daily_sd,
                daily_drift=sec.annual_drift / TRADING_DAYS_PER_YEAR - daily_sd * daily_sd / 2.0,
                base_log=math.log(sec.base_price),
                adv=float(sec.avg_daily_volume),
            )
            self._params[symbol] = params
        return params

    def _salt(self, symbol: str) -> int:
        salt = self._salts.get(symbol)
        if salt is None:
            salt = seed_for(self._seed, symbol, "sizes") & _MASK64
            self._salts[symbol] = salt
        return salt

    def _prepare(self, symbol: str, year: int) -> Iterator[None]:
        """Chain the yearly levels from the anchor to ``year``, one year (one step) at a time.

        Every price is relative to the level at the start of its year, which chains year by year
        from :data:`ANCHOR_YEAR`; computed on demand, a bar in 1971 would compute 55 years of draws
        in one call. Years already cached cost nothing.
        """
        step = 1 if year >= ANCHOR_YEAR else -1
        for each in range(ANCHOR_YEAR, year + step, step):
            self._level(symbol, each)
            yield None

    def _compute_year(self, symbol: str, year: int) -> _Year:
        params = self._param(symbol)
        days = tuple(self._calendar.trading_days(date(year, 1, 1), date(year, 12, 31)))
        draws = Draws(seed_for(self._seed, symbol, "year", year), 12 + _DAY_DRAWS * len(days))
        regimes = [math.exp(_REGIME_SD * z - _REGIME_SD * _REGIME_SD) for z in draws.normals(12)]
        vol_mult: list[float] = []
        gaps: list[float] = []
        rel: list[float] = []
        aux = array("d")
        level = 0.0
        overnight = math.sqrt(_OVERNIGHT_SHARE)
        intraday = math.sqrt(1.0 - _OVERNIGHT_SHARE)
        for day in days:
            normals = draws.normals(10)
            extremes = draws.exponentials(6)
            uniforms = (draws.uniform(), draws.uniform())
            mult = regimes[day.month - 1]
            sd = params.daily_sd * mult
            gap = overnight * sd * normals[0]
            ret = params.daily_drift + intraday * sd * normals[1]
            level += gap + ret
            vol_mult.append(mult)
            gaps.append(gap)
            rel.append(level)
            aux.extend((*normals, *extremes, *uniforms))
        return _Year(
            days=days,
            index={d: i for i, d in enumerate(days)},
            vol_mult=tuple(vol_mult),
            gap=tuple(gaps),
            rel_close=tuple(rel),
            aux=aux,
        )

    def _compute_level(self, symbol: str, year: int) -> float:
        """log(close) of the last trading day before ``year`` began."""
        if year == ANCHOR_YEAR:
            return self._param(symbol).base_log
        if year > ANCHOR_YEAR:
            return self._level(symbol, year - 1) + self._year(symbol, year - 1).rel_close[-1]
        return self._level(symbol, year + 1) - self._year(symbol, year).rel_close[-1]

    def _log_close(self, symbol: str, day: date) -> float:
        block = self._year(symbol, day.year)
        return self._level(symbol, day.year) + block.rel_close[block.index[day]]

    def _prev_log_close(self, symbol: str, day: date) -> float:
        block = self._year(symbol, day.year)
        i = block.index[day]
        if i:
            return self._level(symbol, day.year) + block.rel_close[i - 1]
        if day.year == FIRST_YEAR:
            return self._level(symbol, FIRST_YEAR)
        return self._log_close(symbol, self._calendar.previous_trading_day(day))

    def _prev_close_ticks(self, symbol: str, day: date) -> int:
        return self._ticks(symbol, self._prev_log_close(symbol, day))

    def _ticks(self, symbol: str, log_price: float) -> int:
        return max(_MIN_TICKS, round(math.exp(log_price) / self._param(symbol).tick))

    def _after_hours_close(self, symbol: str, day: date, log_close: float) -> float:
        """log of the last post-market trade: part of the next day's gap happens in the evening."""
        try:
            nxt = self._calendar.next_trading_day(day)
        except ValueError:  # the calendar ends: a quiet evening
            return log_close
        block = self._year(symbol, nxt.year)
        i = block.index[nxt]
        sd = self._param(symbol).daily_sd * block.vol_mult[i]
        z_evening = block.aux[i * _DAY_DRAWS + 6]
        return log_close + 0.4 * block.gap[i] + 0.3 * math.sqrt(_OVERNIGHT_SHARE) * sd * z_evening

    def _compute_day(self, symbol: str, day: date) -> tuple[_Segment, _Segment, _Segment]:
        """The day's pre-market, regular and post-market segments.

        The day's draws (``aux``): normals 0-1 gap and return, 2 volume, 3 pre-market volume,
        4 post-market volume, 5 trade size, 6 evening share of the next gap (used by the previous
        day), 7 pre-market open, 8 pre-market close, 9 post-market open; exponentials 10-15 the
        extremes of the three segments; uniforms 16-17 the regular and extended spreads.
        """
        session = self._calendar.session(day)
        assert session is not None, f"{day} is not a trading day"
        params = self._param(symbol)
        block = self._year(symbol, day.year)
        i = block.index[day]
        aux = block.aux[i * _DAY_DRAWS : (i + 1) * _DAY_DRAWS]
        sd = params.daily_sd * block.vol_mult[i]
        var = sd * sd
        prev_close = self._prev_log_close(symbol, day)
        log_open = prev_close + block.gap[i]
        log_close = self._log_close(symbol, day)
        evening_before = (
            prev_close + 0.4 * block.gap[i] + 0.3 * math.sqrt(_OVERNIGHT_SHARE) * sd * aux[6]
        )
        evening = self._after_hours_close(symbol, day, log_close)
        small = 0.05 * sd
        pre_open, pre_close = evening_before + small * aux[7], log_open + small * aux[8]
        post_open = log_close + small * aux[9]

        move = abs(log_close - prev_close) / sd
        volume = params.adv * math.exp(0.35 * aux[2] - 0.061) * (0.76 + 0.3 * move)
        if session.early_close:
            volume *= _EARLY_CLOSE_VOLUME
        size = _TRADE_SIZE * math.exp(0.2 * aux[5])
        spread = 1 + int(aux[16] * 3)
        ext_spread = spread + 2 + int(aux[17] * 4)

        def segment(
            kind: SessionPart,
            *,
            start: int,
            end: int,
            ends: tuple[float, float],
            variance: float,
            extremes: tuple[float, float],
            shares: float,
            trade_size: float,
            width: int,
        ) -> _Segment:
            a, b = ends
            o, c = self._ticks(symbol, a), self._ticks(symbol, b)
            reach = (b - a) * (b - a)
            top = (a + b + math.sqrt(reach + 2.0 * variance * extremes[0])) / 2.0
            bottom = (a + b - math.sqrt(reach + 2.0 * variance * extremes[1])) / 2.0
            h = max(o, c, self._ticks(symbol, top))
            lo = min(o, c, self._ticks(symbol, bottom))
            seconds = end - start
            count = max(seconds, round(shares / trade_size))
            vol = max(count, round(shares))
            scale = math.exp(a) / params.tick
            bid_offset = width // 2
            return _Segment(
                kind=kind,
                day=day,
                start=start,
                end=end,
                bar=(o, h, lo, c, vol, count, (o + h + lo + c) / 4.0),
                variance=variance * scale * scale,
                bid_offset=bid_offset,
                ask_offset=width - bid_offset,
            )

        pre = segment(
            SessionPart.PRE,
            start=session.pre_open_ts,
            end=session.open_ts,
            ends=(pre_open, pre_close),
            variance=0.5 * _OVERNIGHT_SHARE * var,
            extremes=(aux[10], aux[11]),
            shares=volume * _PRE_VOLUME * math.exp(0.3 * aux[3]),
            trade_size=_EXT_TRADE_SIZE,
            width=ext_spread,
        )
        rth = segment(
            SessionPart.RTH,
            start=session.open_ts,
            end=session.close_ts,
            ends=(log_open, log_close),
            variance=(1.0 - _OVERNIGHT_SHARE) * var,
            extremes=(aux[12], aux[13]),
            shares=volume,
            trade_size=size,
            width=spread,
        )
        post = segment(
            SessionPart.POST,
            start=session.close_ts,
            end=session.post_close_ts,
            ends=(post_open, evening),
            variance=0.3 * _OVERNIGHT_SHARE * var,
            extremes=(aux[14], aux[15]),
            shares=volume * _POST_VOLUME * math.exp(0.3 * aux[4]),
            trade_size=_EXT_TRADE_SIZE,
            width=ext_spread,
        )
        return pre, rth, post

    def _segment(self, symbol: str, day: date, kind: SessionPart) -> _Segment:
        return self._day(symbol, day)[_PARTS.index(kind)]

    def _compute_minutes(self, symbol: str, day: date, kind: SessionPart) -> list[Bar]:
        seg = self._segment(symbol, day, kind)
        return subdivide(
            seg.bar,
            session_profile(kind, seg.minutes),
            seg.variance,
            _MINUTE,
            seed_for(self._seed, symbol, day.isoformat(), kind, "minutes"),
        )

    def _compute_fives(self, symbol: str, day: date, kind: SessionPart, minute: int) -> list[Bar]:
        seg = self._segment(symbol, day, kind)
        weight = session_profile(kind, seg.minutes)[minute]
        return subdivide(
            self._minutes(symbol, day, kind)[minute],
            uniform_profile(_MINUTE // _FIVE),
            seg.variance * weight,
            _FIVE,
            seed_for(self._seed, symbol, day.isoformat(), kind, "fives", minute),
        )

    def _compute_seconds(
        self, symbol: str, day: date, kind: SessionPart, minute: int, five: int
    ) -> list[Bar]:
        seg = self._segment(symbol, day, kind)
        weight = session_profile(kind, seg.minutes)[minute]
        return subdivide(
            self._fives(symbol, day, kind, minute)[five],
            uniform_profile(_FIVE),
            seg.variance * weight * _FIVE / _MINUTE,
            1,
            seed_for(self._seed, symbol, day.isoformat(), kind, "seconds", minute, five),
        )

    def _second_bar(self, symbol: str, seg: _Segment, offset: int) -> Bar:
        minute, rest = divmod(offset, _MINUTE)
        five, second = divmod(rest, _FIVE)
        return self._seconds(symbol, seg.day, seg.kind, minute, five)[second]

    # ----------------------------------------------------------------------------- internals: time

    def _session_at(self, t: datetime) -> Session | None:
        return self._calendar.session(self._calendar.exchange_date(ensure_utc(t)))

    def _quote_session(self, second: int) -> Session:
        """The session whose regular hours had begun by ``second`` (the "current day" of a quote)."""
        day = datetime.fromtimestamp(second, EXCHANGE_TZ).date()
        session = self._calendar.session(day)
        if session is None or second < session.open_ts:
            session = self._calendar.session(self._calendar.previous_trading_day(day))
        assert session is not None
        return session

    def _last_trade(self, symbol: str, second: int) -> tuple[_Segment, int]:
        """The segment and offset of the last second with trades at or before ``second``."""
        day = datetime.fromtimestamp(second, EXCHANGE_TZ).date()
        session = self._calendar.session(day)
        if session is not None and second >= session.pre_open_ts:
            segments = self._day(symbol, day)
            for seg in segments:
                if seg.start <= second < seg.end:
                    return seg, second - seg.start
            post = segments[2]
            return post, post.end - post.start - 1
        post = self._day(symbol, self._calendar.previous_trading_day(day))[2]
        return post, post.end - post.start - 1

    def _range(self, symbol: str, seg: _Segment, a: int, b: int) -> list[Bar]:
        """The coarsest bars that exactly cover offsets ``[a, b)`` of ``seg``."""
        if a <= 0 and b >= seg.end - seg.start:
            return [seg.bar]
        out: list[Bar] = []
        minutes = self._minutes(symbol, seg.day, seg.kind)
        for mi in range(a // _MINUTE, -(-b // _MINUTE)):
            base = mi * _MINUTE
            lo, hi = max(a, base) - base, min(b, base + _MINUTE) - base
            if lo == 0 and hi == _MINUTE:
                out.append(minutes[mi])
                continue
            fives = self._fives(symbol, seg.day, seg.kind, mi)
            for fi in range(lo // _FIVE, -(-hi // _FIVE)):
                fbase = fi * _FIVE
                flo, fhi = max(lo, fbase) - fbase, min(hi, fbase + _FIVE) - fbase
                if flo == 0 and fhi == _FIVE:
                    out.append(fives[fi])
                else:
                    out.extend(self._seconds(symbol, seg.day, seg.kind, mi, fi)[flo:fhi])
        return out

    def _pieces(
        self, symbol: str, session: Session, lo: float, done: int, *, use_rth: bool
    ) -> list[tuple[_Segment, Bar]]:
        """Bars covering a whole session (or up to ``done``), from time ``lo`` on, tagged by segment."""
        out: list[tuple[_Segment, Bar]] = []
        segments = self._day(symbol, session.day)
        for seg in segments[1:2] if use_rth else segments:
            a = max(seg.start, math.ceil(lo)) - seg.start
            b = min(seg.end, done) - seg.start
            if b > a:
                out.extend((seg, bar) for bar in self._range(symbol, seg, a, b))
        return out

    def _intraday_bars(
        self,
        symbol: str,
        sessions: Iterable[Session],
        *,
        window: tuple[float, float, int],
        size: int,
        what: WhatToShow,
        use_rth: bool,
    ) -> Iterator[SimBar]:
        start_ts, end_ts, done = window
        for session in sessions:
            segments = self._day(symbol, session.day)
            chosen = segments[1:2] if use_rth else segments
            first, last = chosen[0].start, chosen[-1].end
            # buckets are aligned to the exchange's wall clock: count from its (virtual) midnight
            origin = session.pre_open_ts - 4 * 3600
            for bucket in range((first - origin) // size, (last - 1 - origin) // size + 1):
                lo = max(origin + bucket * size, first)
                if lo < start_ts:
                    continue
                if lo >= end_ts:
                    break
                hi = min(origin + (bucket + 1) * size, last, done)
                pieces: list[tuple[_Segment, Bar]] = []
                for seg in chosen:
                    a, b = max(lo, seg.start) - seg.start, min(hi, seg.end) - seg.start
                    if b > a:
                        pieces.extend((seg, bar) for bar in self._range(symbol, seg, a, b))
                if pieces:
                    yield self._render(symbol, lo, pieces, what)

    def _session_bars(
        self,
        symbol: str,
        sessions: Iterable[Session],
        *,
        window: tuple[float, float, int],
        bar_size: BarSize,
        what: WhatToShow,
        use_rth: bool,
    ) -> Iterator[SimBar]:
        """Daily, weekly or monthly bars: one per group of sessions, labelled by its first."""
        start_ts, end_ts, done = window
        for _, grouped in itertools.groupby(sessions, key=lambda s: _group_start(s.day, bar_size)):
            group = list(grouped)
            label = group[0].start(use_rth=use_rth).timestamp()
            if not start_ts <= label < end_ts:
                continue
            pieces: list[tuple[_Segment, Bar]] = []
            for session in group:
                pieces.extend(self._pieces(symbol, session, label, done, use_rth=use_rth))
            if pieces:
                yield self._render(symbol, int(label), pieces, what)

    def _duration_start(self, end: datetime, amount: int, unit: str, *, use_rth: bool) -> datetime:
        if unit == "S":
            return end - timedelta(seconds=amount)
        if unit == "W":
            return end - timedelta(weeks=amount)
        local = end.astimezone(EXCHANGE_TZ)
        if unit == "M":
            month = local.year * 12 + local.month - 1 - amount
            return _replace_ym(local, month // 12, month % 12 + 1).astimezone(UTC)
        if unit == "Y":
            return _replace_ym(local, local.year - amount, local.month).astimezone(UTC)
        # D: this many trading sessions back, counting the one in progress at ``end``
        day = local.date()
        start = end
        found = 0
        while found < amount and day.year >= FIRST_YEAR:
            session = self._calendar.session(day)
            if session is not None and session.start(use_rth=use_rth) < end:
                start = session.start(use_rth=use_rth)
                found += 1
            day -= timedelta(days=1)
        return start

    def _render(
        self, symbol: str, label: int, pieces: list[tuple[_Segment, Bar]], what: WhatToShow
    ) -> SimBar:
        params = self._param(symbol)
        tick, dec = params.tick, params.decimals
        time = datetime.fromtimestamp(label, UTC)
        if what is WhatToShow.TRADES:
            o, h, lo, c, v, n, wap = combine([bar for _, bar in pieces])
            return SimBar(
                time,
                round(o * tick, dec),
                round(h * tick, dec),
                round(lo * tick, dec),
                round(c * tick, dec),
                v,
                wap * tick,
                n,
            )
        if what is WhatToShow.BID_ASK:
            volume = sum(bar[4] for _, bar in pieces)
            avg_bid = sum(bar[4] * (bar[6] - seg.bid_offset) for seg, bar in pieces) / volume
            avg_ask = sum(bar[4] * (bar[6] + seg.ask_offset) for seg, bar in pieces) / volume
            high_ask = max(bar[1] + seg.ask_offset for seg, bar in pieces)
            low_bid = min(bar[2] - seg.bid_offset for seg, bar in pieces)
            return SimBar(
                time,
                avg_bid * tick,
                round(high_ask * tick, dec),
                round(low_bid * tick, dec),
                avg_ask * tick,
                -1,
                -1.0,
                -1,
            )
        if what is WhatToShow.MIDPOINT:
            dec += 1  # a midpoint can fall on a half tick
        shifts = [_shift(seg, what) for seg, _ in pieces]
        first = pieces[0][1]
        last = pieces[-1][1]
        high = max(bar[1] + s for s, (_, bar) in zip(shifts, pieces, strict=True))
        low = min(bar[2] + s for s, (_, bar) in zip(shifts, pieces, strict=True))
        return SimBar(
            time,
            round((first[0] + shifts[0]) * tick, dec),
            round(high * tick, dec),
            round(low * tick, dec),
            round((last[3] + shifts[-1]) * tick, dec),
            -1,
            -1.0,
            -1,
        )


def _shift(seg: _Segment, what: WhatToShow) -> float:
    if what is WhatToShow.BID:
        return -seg.bid_offset
    if what is WhatToShow.ASK:
        return seg.ask_offset
    return (seg.ask_offset - seg.bid_offset) / 2.0


def _completed_second(t: datetime) -> int:
    """The last whole second ``[k, k+1)`` that has ended by ``t``."""
    return math.floor(ensure_utc(t).timestamp()) - 1


def _group_start(day: date, bar_size: BarSize) -> date:
    """The first calendar day of the week (Monday) or month of ``day`` for those bar sizes."""
    if bar_size is BarSize.WEEK_1:
        return day - timedelta(days=day.weekday())
    if bar_size is BarSize.MONTH_1:
        return day.replace(day=1)
    return day


def _replace_ym(local: datetime, year: int, month: int) -> datetime:
    if year < FIRST_YEAR:  # the simulated history begins with the calendar
        return datetime(FIRST_YEAR, 1, 1, tzinfo=EXCHANGE_TZ)
    last_day = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return local.replace(year=year, month=month, day=min(local.day, last_day))
