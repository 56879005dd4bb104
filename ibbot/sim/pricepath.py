"""Seeded draws and the bar subdivision the simulated price path is built from.

The simulated market is generated *top down*: a session bar (open, high, low, close, volume, trade
count, VWAP) is split into minutes, a minute into twelve 5-second bars, a 5-second bar into five
1-second bars. Each split is a pure function of the parent bar and a seed, and is built so that the
children aggregate back to the parent *exactly*: the first child opens at the parent's open, the last
closes at its close, one child touches the high and one the low, no child leaves the range, volumes and
trade counts sum to the parent's, and the volume-weighted child VWAPs equal the parent VWAP. That is what
makes historical bars of every size, realtime bars and quotes agree with each other, while any bar can be
served without generating the seconds below it.

Inside a split, the children's opens and closes form a Brownian bridge from the parent's open to its
close that passes through the high and the low at randomly chosen children (weighted by the
children's share of activity), folded back into the parent's range where it strays out of it. Each
child's own high and low extend past its open and close by the exact law of a Brownian bridge's
extremes. Prices are integer ticks throughout, so every price is on the security's minimum tick.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import sys
from array import array
from enum import StrEnum
from operator import itemgetter
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Bar",
    "Draws",
    "SessionPart",
    "combine",
    "session_profile",
    "subdivide",
    "uniform_profile",
]

Bar = tuple[int, int, int, int, int, int, float]
"""open, high, low, close (integer ticks), volume (shares), trade count, VWAP (ticks, fractional)."""

_TABLE_BITS = 16
_TABLE_SIZE = 1 << _TABLE_BITS
_WITHIN = (
    0.85  # share of a child's variance between its open and close; the rest is the gap before it
)
_VOLUME_NOISE = 0.35  # log-sd of a child's volume share around its activity weight
_HIGH, _LOW, _VOLUME, _COUNT = itemgetter(1), itemgetter(2), itemgetter(4), itemgetter(5)


@functools.cache
def _normal_table() -> tuple[float, ...]:
    dist = NormalDist()
    return tuple(dist.inv_cdf((i + 0.5) / _TABLE_SIZE) for i in range(_TABLE_SIZE))


@functools.cache
def _exponential_table() -> tuple[float, ...]:
    return tuple(-math.log((i + 0.5) / _TABLE_SIZE) for i in range(_TABLE_SIZE))


class Draws:
    """A fixed-length deterministic stream of uniform, normal and exponential draws.

    Draws are quantised to 16 bits (normals through an inverse-CDF table): plenty for a simulator, and
    several times faster than ``random.gauss`` in bulk. Asking for more than was reserved is a bug and
    raises IndexError.
    """

    __slots__ = ("_pos", "_values")

    def __init__(self, seed: int, count: int) -> None:
        # not cryptography: a seeded, reproducible simulation stream is the point
        values = array("H", random.Random(seed).randbytes(2 * count))  # noqa: S311
        if sys.byteorder == "big":  # the byte stream is read little-endian on every machine
            values.byteswap()
        self._values = values
        self._pos = 0

    def _take(self, n: int) -> array[int]:
        start = self._pos
        if start + n > len(self._values):
            raise IndexError(f"draw stream exhausted: {start + n} > {len(self._values)}")
        self._pos = start + n
        return self._values[start : start + n]

    def uniform(self) -> float:
        """One draw in (0, 1)."""
        return (self._take(1)[0] + 0.5) / _TABLE_SIZE

    def normals(self, n: int) -> list[float]:
        """``n`` standard normal draws."""
        table = _normal_table()
        return [table[x] for x in self._take(n)]

    def exponentials(self, n: int) -> list[float]:
        """``n`` draws of an exponential with mean 1."""
        table = _exponential_table()
        return [table[x] for x in self._take(n)]


class SessionPart(StrEnum):
    """The three segments of a US trading day."""

    PRE = "pre"  # pre-market, 04:00 to the open
    RTH = "rth"  # regular trading hours
    POST = "post"  # post-market, the close to four hours later


@functools.cache
def session_profile(kind: SessionPart, minutes: int) -> tuple[float, ...]:
    """Activity weights of a session's minutes, summing to 1: the intraday volume and volatility shape.

    Regular hours are U-shaped (busy open, quiet lunch, busier close with a closing-auction spike);
    pre-market is thin and builds up to the open; post-market bursts after the close, then fades.
    """
    if minutes < 1:
        raise ValueError(f"a session has at least one minute, got {minutes}")
    raw: list[float] = []
    for i in range(minutes):
        x = (i + 0.5) / minutes
        if kind is SessionPart.RTH:
            w = 0.55 + 2.2 * math.exp(-x / 0.04) + 1.1 * math.exp(-(1.0 - x) / 0.05)
            if i == minutes - 1:
                w += 2.5
        elif kind is SessionPart.PRE:
            w = 0.25 + 1.6 * math.exp(-(1.0 - x) / 0.1)
        elif kind is SessionPart.POST:
            w = 0.2 + 2.4 * math.exp(-x / 0.06)
        else:
            raise ValueError(f"unknown session kind {kind!r}")
        raw.append(w)
    total = sum(raw)
    return tuple(w / total for w in raw)


@functools.cache
def uniform_profile(children: int) -> tuple[float, ...]:
    """Equal weights, for splitting a minute into 5-second bars and those into seconds."""
    return (1.0 / children,) * children


def combine(bars: Sequence[Bar]) -> Bar:
    """Aggregate consecutive bars: first open, highest high, lowest low, last close, sums, VWAP."""
    if len(bars) == 1:
        return bars[0]
    volume = sum(map(_VOLUME, bars))
    notional = sum(bar[4] * bar[6] for bar in bars)
    return (
        bars[0][0],
        max(map(_HIGH, bars)),
        min(map(_LOW, bars)),
        bars[-1][3],
        volume,
        sum(map(_COUNT, bars)),
        notional / volume,
    )


def subdivide(
    parent: Bar,
    weights: Sequence[float],
    variance: float,
    child_seconds: int,
    seed: int,
) -> list[Bar]:
    """Split ``parent`` into ``len(weights)`` children that aggregate back to it exactly.

    ``weights`` are the children's activity shares (sum 1), ``variance`` the price variance over the
    whole parent in ticks², ``child_seconds`` each child's length (every second holds at least one
    trade, so the parent's count must be at least ``len(weights) * child_seconds``).
    """
    m = len(weights)
    if m == 1:
        return [parent]
    _, high, low, _, volume, count, vwap = parent
    floor_total = m * child_seconds
    if count < floor_total or volume < count:
        raise ValueError(
            f"cannot split volume {volume} / count {count} into {m} children of {child_seconds} s"
        )
    draws = Draws(seed, 5 * m + 4)
    shares = _noisy_shares(weights, draws.normals(m))
    counts = _split(count - floor_total, shares, child_seconds)
    extras = _split(volume - count, shares, 0)
    volumes = [a + b for a, b in zip(counts, extras, strict=True)]
    if high == low:
        flat = float(high)
        return [(high, high, high, high, v, n, flat) for v, n in zip(volumes, counts, strict=True)]
    points = _bridge(parent, weights, variance, volumes, draws)
    highs: list[int] = []
    lows: list[int] = []
    excursions = draws.exponentials(2 * m)
    for i, weight in enumerate(weights):
        a = points[2 * i]
        b = points[2 * i + 1]
        spread = 2.0 * variance * weight * _WITHIN
        d2 = (b - a) * (b - a)
        # The extremes of a Brownian bridge from a to b with variance s2: (a+b ± sqrt((b-a)² + 2·s2·E))/2.
        top = (a + b + math.sqrt(d2 + spread * excursions[2 * i])) / 2.0
        bottom = (a + b - math.sqrt(d2 + spread * excursions[2 * i + 1])) / 2.0
        highs.append(min(high, max(a, b, round(top))))
        lows.append(max(low, min(a, b, round(bottom))))
    waps = _allocate_vwap(points, highs, lows, volumes, target=vwap * volume, bounds=(low, high))
    return [
        (points[2 * i], highs[i], lows[i], points[2 * i + 1], volumes[i], counts[i], waps[i])
        for i in range(m)
    ]


def _noisy_shares(weights: Sequence[float], noise: Sequence[float]) -> list[float]:
    raw = [w * math.exp(_VOLUME_NOISE * z) for w, z in zip(weights, noise, strict=True)]
    total = sum(raw)
    return [r / total for r in raw]


def _split(total: int, shares: Sequence[float], floor: int) -> list[int]:
    """``total`` split in proportion to ``shares`` by cumulative rounding (exact sum, never negative)."""
    out: list[int] = []
    acc = 0.0
    prev = 0
    last = len(shares) - 1
    for i, share in enumerate(shares):
        acc += share
        cur = total if i == last else min(total, round(acc * total))
        out.append(floor + cur - prev)
        prev = cur
    return out


def _pick(weights: Sequence[float], u: float) -> int:
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if u < acc:
            return i
    return len(weights) - 1


def _anchor(
    value: int, ends: tuple[int, int], weights: Sequence[float], draws: Draws, *, avoid: int
) -> int:
    """The path point (``2i`` = child i's open, ``2i+1`` its close) that takes the value ``value``."""
    u_child = draws.uniform()
    u_side = draws.uniform()
    last = 2 * len(weights) - 1
    if value == ends[0]:
        return 0
    if value == ends[1]:
        return last
    child = _pick(weights, u_child)
    if child == 0:
        index = 1
    elif child == len(weights) - 1:
        index = last - 1
    else:
        index = 2 * child + (1 if u_side < 0.5 else 0)
    if index == avoid:
        index = index + 1 if index + 1 < last else index - 1
    return index


def _bridge(
    parent: Bar, weights: Sequence[float], variance: float, volumes: Sequence[int], draws: Draws
) -> list[int]:
    """Children's opens and closes: a bridge through open, high, low and close, kept in the range.

    The bridge is also conditioned on the parent's VWAP: a Brownian bridge's covariance with its own
    average is a parabola between anchors, so adding a multiple of that parabola moves the
    volume-weighted average of the path to the VWAP while keeping the anchors and the path's texture.
    Children's VWAPs then sit near the middle of their ranges instead of absorbing the difference.
    """
    open_, high, low, close = parent[0], parent[1], parent[2], parent[3]
    n = 2 * len(weights)
    step_var = [0.0] * n
    for i, w in enumerate(weights):
        if i:
            step_var[2 * i] = variance * w * (1.0 - _WITHIN)
        step_var[2 * i + 1] = variance * w * _WITHIN
    step_sd = [math.sqrt(v) for v in step_var]
    at_high = _anchor(high, (open_, close), weights, draws, avoid=-1)
    at_low = _anchor(low, (open_, close), weights, draws, avoid=at_high)
    anchors = sorted({0: open_, n - 1: close, at_high: high, at_low: low}.items())
    z = draws.normals(n - 1)
    raw = [0.0] * n
    bump = [0.0] * n
    for (ia, va), (ib, vb) in itertools.pairwise(anchors):
        raw[ia] = float(va)
        walk = 0.0
        cum = 0.0
        walks: list[float] = []
        cums: list[float] = []
        for k in range(ia + 1, ib + 1):
            walk += step_sd[k] * z[k - 1]
            cum += step_var[k]
            walks.append(walk)
            cums.append(cum)
        correction = (vb - va) - walk
        for j in range(ib - ia - 1):
            frac = cums[j] / cum if cum > 0.0 else (j + 1) / (ib - ia)
            raw[ia + 1 + j] = va + walks[j] + frac * correction
            bump[ia + 1 + j] = frac * (1.0 - frac)
        raw[ib] = float(vb)
    span = high - low
    weight_of_bump = sum(v * (bump[2 * i] + bump[2 * i + 1]) for i, v in enumerate(volumes))
    if weight_of_bump > 0.0:
        current = sum(v * (raw[2 * i] + raw[2 * i + 1]) for i, v in enumerate(volumes))
        target = parent[6] * parent[4] * 2.0
        # a parabola of height 4*lift (frac*(1-frac) peaks at 1/4); keep it within the range's size
        lift = max(-span, min(span, (target - current) / weight_of_bump / 4.0)) * 4.0
        raw = [x + lift * b for x, b in zip(raw, bump, strict=True)]
    period = 2 * span
    points = [0] * n
    for k, x in enumerate(raw):
        y = (x - low) % period
        points[k] = low + round(y if y <= span else period - y)
    for index, value in anchors:
        points[index] = value
    return points


def _allocate_vwap(
    points: Sequence[int],
    highs: list[int],
    lows: list[int],
    volumes: Sequence[int],
    *,
    target: float,
    bounds: tuple[int, int],
) -> list[float]:
    """Children's VWAPs inside their ranges whose volume-weighted sum is ``target`` exactly.

    Each child starts at the middle of its open and close; all move the same fraction of the way to
    their highs (or lows). If even the highs cannot reach the target, the children's highs are first
    stretched toward the parent's high, which is always enough since the parent VWAP is in its range.
    """
    m = len(volumes)
    mids = [(points[2 * i] + points[2 * i + 1]) / 2.0 for i in range(m)]
    base = sum(v * x for v, x in zip(volumes, mids, strict=True))
    gap = target - base
    if gap == 0.0:
        return mids
    edges, bound = (highs, bounds[1]) if gap > 0 else (lows, bounds[0])
    room = sum(v * (e - x) for v, e, x in zip(volumes, edges, mids, strict=True))
    slack = sum(v * (bound - e) for v, e in zip(volumes, edges, strict=True))
    if abs(gap) > abs(room) and slack != 0:
        stretch = (gap - room) / slack
        for i in range(m):
            moved = edges[i] + stretch * (bound - edges[i])
            edges[i] = min(bound, math.ceil(moved)) if gap > 0 else max(bound, math.floor(moved))
        room = sum(v * (e - x) for v, e, x in zip(volumes, edges, mids, strict=True))
    if room == 0.0:
        return mids
    frac = min(1.0, gap / room)
    return [x + frac * (e - x) for x, e in zip(mids, edges, strict=True)]
