"""Exact moving averages: equal averages of decimal prices are equal, whatever the history.

Each series is constructed so that two averages (or an average and a price or a threshold) are
exactly equal on its last value, after a history long enough for float running sums to drift to
the wrong side; the test first proves that drift with a float running sum, then checks the
strategies decide the exact way.
"""

from __future__ import annotations

import json
import math
import random
from collections import deque
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest

from ibbot.models import Action, BarSize, OrderSide
from ibbot.strategies import MovingAverageCross, RollingMean
from ibbot.strategies.rolling import COARSE, FINE
from ibbot.strategies.sma_cross import CrossSignal, SmaCrossStrategy
from ibbot.strategies.value_momentum import ValueMomentumStrategy
from tests.unit.strategy_events import T0, bar, fill, fundamentals

MINUTE = timedelta(minutes=1)


def float_running_mean(values: list[float], length: int) -> float:
    """The mean of the last ``length`` values as a float running sum keeps it (the old way)."""
    window: deque[float] = deque()
    total = 0.0
    for value in values:
        if len(window) == length:
            total -= window.popleft()
        window.append(value)
        total += value
    return total / length


def crossing_touch(fast: int = 10, slow: int = 30) -> list[int]:
    """Cent prices whose last SMA(fast) equals SMA(slow) exactly, SMA(fast) being below SMA(slow)
    the bar before, while float running sums put SMA(fast) above on the last bar."""
    for seed in range(100_000):
        rng = random.Random(seed)
        cents = [rng.randint(9_000, 11_000) for _ in range(60)]
        # sum(last fast) * slow == sum(last slow) * fast: solve for the last price
        head = sum(cents[-slow:-fast])
        tail = sum(cents[-fast:-1])
        numerator = head * fast - tail * (slow - fast)
        if numerator % (slow - fast):
            continue
        cents[-1] = numerator // (slow - fast)
        if not 5_000 < cents[-1] < 20_000:
            continue
        prices = [c / 100 for c in cents]
        before = Fraction(sum(cents[-fast - 1 : -1]), fast) < Fraction(
            sum(cents[-slow - 1 : -1]), slow
        )
        if before and float_running_mean(prices, fast) > float_running_mean(prices, slow):
            return cents
    raise AssertionError("no series found")


def average_touch(
    length: int, drift: int, lo: int = 9_000, hi: int = 11_000, per: int = 100
) -> list[int]:
    """Integers whose last value equals the mean of the last ``length`` exactly, while a float
    running sum of the values / ``per`` puts the mean below (``drift`` -1) or above (1) it."""
    for seed in range(100_000):
        rng = random.Random(seed)
        values = [rng.randint(lo, hi) for _ in range(80)]
        rest = sum(values[-length:-1])
        if rest % (length - 1):
            continue
        values[-1] = rest // (length - 1)
        floats = [v / per for v in values]
        mean = float_running_mean(floats, length)
        if (mean > floats[-1]) - (mean < floats[-1]) == drift:
            return values
    raise AssertionError("no series found")


def test_equal_averages_of_cent_prices_are_equal_where_float_sums_drift() -> None:
    """SMA(10) == SMA(30) exactly gives 0 (no side), though float running sums say above."""
    cents = crossing_touch()
    assert sum(cents[-10:]) * 30 == sum(cents[-30:]) * 10  # exactly equal averages
    prices = [c / 100 for c in cents]
    assert float_running_mean(prices, 10) > float_running_mean(prices, 30)  # the drift
    cross = MovingAverageCross.of_lengths(10, 30)
    sides = [cross.push(p) for p in prices]
    assert sides[-2] == -1
    assert sides[-1] == 0
    assert cross.fast.mean == cross.slow.mean == sum(cents[-10:]) / 1_000


def test_sma_cross_does_not_take_a_touch_for_a_cross() -> None:
    """After drift-prone history, equal SMAs are EQUAL: the BUY comes on the real cross, not a
    bar early."""
    cents = crossing_touch()
    prices = [c / 100 for c in cents]
    strategy = SmaCrossStrategy(
        name="sma", allocated_capital=100_000, params={"fast": 10, "slow": 30}
    )
    decided = [
        (i, d.action) for i, p in enumerate(prices) for d in strategy.on_event(bar("AAPL", i, p))
    ]
    assert all(i < len(prices) - 1 for i, _ in decided)
    state = strategy.symbol_state("AAPL")
    assert state is not None
    assert state.signal is CrossSignal.EQUAL
    # a bar well above the averages: the fast one crosses above now
    [buy] = strategy.on_event(bar("AAPL", len(prices), 150.0))
    assert buy.action is Action.BUY
    assert buy.data["signal"] == "crossed_above"


def value_momentum(**params: Any) -> ValueMomentumStrategy:
    cheap = {"shares_outstanding": 2.84e9, "eps": 19.0, "values": {"QBVPS": 118.0}}
    strategy = ValueMomentumStrategy(
        name="vm",
        allocated_capital=100_000,
        params={"momentum_window": 20, "volume_window": 20, **params},
    )
    strategy.on_event(fundamentals("JPM", T0, **cheap))
    return strategy


def trail(strategy: ValueMomentumStrategy) -> tuple[bool, str]:
    state = strategy.symbol_state("JPM")
    assert state is not None
    passed, _, reasoning = strategy.pipeline.run("JPM", strategy.pipeline_input(state, T0))
    return passed, reasoning


def test_momentum_price_equal_to_its_average_is_not_above_it() -> None:
    """A price exactly at its SMA(20) does not pass the entry (price > SMA), though a float running
    sum puts the average a hair under the price."""
    cents = average_touch(20, drift=-1)
    prices = [c / 100 for c in cents]
    strategy = value_momentum()
    for i, price in enumerate(prices):
        strategy.on_event(bar("JPM", i + 1, price, volume=9e6))
    passed, reasoning = trail(strategy)
    assert not passed
    assert f"momentum FAIL: price {prices[-1]:.2f} <= SMA(20) {prices[-1]:.2f}" in reasoning


def test_momentum_holding_at_its_average_keeps_the_position() -> None:
    """Held, a price exactly at its SMA(20) is on the exit line (exit_below 0), so it holds, though
    a float running sum puts the average a hair above the price."""
    cents = average_touch(20, drift=1)
    prices = [c / 100 for c in cents]
    strategy = value_momentum(exit_below=0.0)
    strategy.on_event(fill("vm", "JPM", OrderSide.BUY, 100, prices[0], T0, "x1"))
    for i, price in enumerate(prices):
        strategy.on_event(bar("JPM", i + 1, price, volume=9e6))
    passed, reasoning = trail(strategy)
    assert passed, reasoning
    assert "holding: price" in reasoning
    assert ">= exit line" in reasoning


def test_average_volume_exactly_at_the_minimum_passes() -> None:
    """Volumes in tenths of a share averaging exactly the minimum pass the liquidity screen,
    though a float running sum leaves the average a hair under it."""
    tenths = average_touch(20, drift=-1, lo=9_000_000, hi=11_000_000, per=10)
    volumes = [t / 10 for t in tenths]
    minimum = sum(tenths[-20:]) / 200
    assert float_running_mean(volumes, 20) < minimum
    strategy = value_momentum(min_avg_daily_volume=minimum)
    for i, volume in enumerate(volumes):
        strategy.on_event(bar("JPM", i + 1, 100.0, volume=volume))
    passed, reasoning = trail(strategy)
    assert "liquidity PASS" in reasoning, reasoning
    assert passed is False  # flat prices: momentum fails, after liquidity passed


def test_average_intraday_volume_scaled_to_a_day_exactly_at_the_minimum_passes() -> None:
    """1-minute volumes (tenths of a share) whose average x 390 per day is exactly a whole number
    of shares, where multiplying the (correctly rounded) average by 390 lands a hair under it, pass a minimum
    of exactly that number: the daily figure is rounded once, from the exact product."""
    rng = random.Random(1)
    for _ in range(100_000):  # such windows are about 1 in 500 of those with a whole daily figure
        tenths = [rng.randint(1, 10**6) for _ in range(20)]
        daily = Fraction(sum(tenths), 10 * 20) * 390
        volumes = [t / 10 for t in tenths]
        # the average itself rounded once (as RollingMean.mean has it), then scaled
        if daily.denominator == 1 and sum(tenths) / 200 * 390 < daily:
            break
    else:
        pytest.fail("no window found whose rounded average x 390 falls under its exact figure")
    mean = RollingMean(20)
    for volume in volumes:
        mean.push(volume)
    assert mean.scaled_mean(Fraction(390)) == float(daily)
    strategy = value_momentum(min_avg_daily_volume=float(daily))
    for i, volume in enumerate(volumes):
        strategy.on_event(
            bar("JPM", i + 1, 100.0, volume=volume, bar_size=BarSize.MIN_1, step=MINUTE)
        )
    passed, reasoning = trail(strategy)
    assert "liquidity PASS" in reasoning, reasoning
    assert passed is False  # flat prices: momentum fails, after liquidity passed


def exact_side(values: list[float], fast: int, slow: int) -> int:
    """The side from exact rational arithmetic, every value taken as its shortest decimal."""
    f = sum(Fraction(repr(v)) for v in values[-fast:]) / fast
    s = sum(Fraction(repr(v)) for v in values[-slow:]) / slow
    return (f > s) - (f < s)


@pytest.mark.parametrize(
    "decimals",
    [2, 4, 5, 8],
    ids=["cents", "4 decimals", "forex 5 decimals", "8 decimals"],
)
def test_exact_side_on_every_decimal_grid(decimals: int) -> None:
    """With prices of up to 8 decimals, the side always matches exact decimal arithmetic,
    including constructed ties."""
    rng = random.Random(decimals)
    cross = MovingAverageCross.of_lengths(3, 7)
    values: list[float] = []
    ties = 0
    for i in range(400):
        value = round(rng.uniform(0.5, 200), decimals)
        if i % 5 == 4 and len(values) >= 7:
            # make the last 3 average exactly what the last 7 average: a tie
            units = 10**decimals
            head = sum(round(v * units) for v in values[-6:-2])
            tail = sum(round(v * units) for v in values[-2:])
            numerator = head * 3 - tail * 4
            if numerator % 4 == 0 and numerator > 0:
                value = numerator // 4 / units
        values.append(value)
        side = cross.push(value)
        if len(values) >= 7:
            expected = exact_side(values, 3, 7)
            assert side == expected, (i, values[-7:])
            ties += expected == 0
    assert ties > 10
    assert cross.fast.unit == ((COARSE if decimals <= 4 else FINE), 0)


def test_values_beyond_8_decimals_are_summed_exactly_in_binary() -> None:
    """Arbitrary floats (no short decimal) are summed as their exact binary values: the side
    and the mean match rational arithmetic on the floats themselves."""
    rng = random.Random(3)
    cross = MovingAverageCross.of_lengths(4, 9)
    values = []
    for _ in range(300):
        value = rng.uniform(-50, 1e6) * math.pi
        values.append(value)
        side = cross.push(value)
        if len(values) >= 9:
            f = sum(Fraction(v) for v in values[-4:]) / 4
            s = sum(Fraction(v) for v in values[-9:]) / 9
            assert side == (f > s) - (f < s)
            assert cross.slow.mean == float(s)
    assert cross.fast.unit[1] > 0


def test_restore_recomputes_the_exact_sum_and_reads_older_saves() -> None:
    """A save (this version's or an older one with a drifted float total) restores to the exact
    sum; both continue identically; a non-finite value is refused and changes nothing."""
    cents = crossing_touch()
    prices = [c / 100 for c in cents]
    rolling = RollingMean(30)
    for price in prices[:-1]:
        rolling.push(price)
    saved = json.loads(json.dumps(rolling.dump()))
    older = {"length": 30, "values": saved["values"], "total": float_running_mean(prices, 30)}
    for state in (saved, older):
        again = RollingMean.restore(state)
        assert again.values() == rolling.values()
        assert again.push(prices[-1]) == RollingMean.restore(saved).push(prices[-1])
    assert rolling.push(prices[-1]) == sum(cents[-30:]) / 3_000
    before = rolling.values()
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            rolling.push(bad)
    assert rolling.values() == before


def test_a_finer_value_after_the_windows_filled_refines_both() -> None:
    """Cents until both windows are full and beyond, then 5 decimals, then arbitrary floats: the
    steady state's shortcut hands each finer value to the full path, so the side and both means
    stay those of single windows fed the same values."""
    rng = random.Random(7)
    cross = MovingAverageCross.of_lengths(4, 9)
    fast, slow = RollingMean(4), RollingMean(9)
    values: list[float] = []
    for i in range(150):
        if i < 60:
            value = round(rng.uniform(5, 50), 2)
        elif i < 100:
            value = round(rng.uniform(5, 50), 5)
        else:
            value = rng.uniform(5, 50) * math.pi
        values.append(value)
        side = cross.push(value)
        fast.push(value)
        slow.push(value)
        if len(values) >= 9:
            assert (cross.fast.mean, cross.slow.mean) == (fast.mean, slow.mean), i
            f, s = cross.fast._total * 9, cross.slow._total * 4
            assert side == (f > s) - (f < s), i
    assert cross.fast.unit == fast.unit == slow.unit == cross.slow.unit
    assert cross.fast.unit[1] > 0
