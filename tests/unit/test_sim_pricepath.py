"""The top-down bar subdivision: children always aggregate back to their parent exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibbot.seeds import seed_for
from ibbot.sim.pricepath import (
    Bar,
    Draws,
    SessionPart,
    combine,
    session_profile,
    subdivide,
    uniform_profile,
)


@st.composite
def parents(draw: st.DrawFn) -> tuple[Bar, int, int]:
    low = draw(st.integers(10, 50_000))
    high = low + draw(st.integers(0, 400))
    open_ = draw(st.integers(low, high))
    close = draw(st.integers(low, high))
    children = draw(st.sampled_from([2, 3, 5, 12, 60]))
    seconds = draw(st.sampled_from([1, 5, 60]))
    count = children * seconds + draw(st.integers(0, 5_000))
    volume = count + draw(st.integers(0, 100_000))
    wap = low + (high - low) * draw(st.floats(0.0, 1.0))
    return (open_, high, low, close, volume, count, wap), children, seconds


@settings(max_examples=300, deadline=None)
@given(parents(), st.integers(0, 2**32), st.floats(0.5, 5_000.0))
def test_children_aggregate_to_the_parent(
    spec: tuple[Bar, int, int], seed: int, variance: float
) -> None:
    """First open, last close, extremes, volume, count and VWAP of the children equal the parent's."""
    parent, m, seconds = spec
    children = subdivide(parent, uniform_profile(m), variance, seconds, seed)
    assert len(children) == m
    o, h, lo, c, v, n, w = combine(children)
    assert (o, h, lo, c, v, n) == parent[:6]
    assert w == pytest.approx(parent[6], rel=1e-12, abs=1e-9)
    for co, ch, cl, cc, cv, cn, cw in children:
        assert lo <= cl <= min(co, cc) <= max(co, cc) <= ch <= h
        assert cl - 1e-9 <= cw <= ch + 1e-9
        assert cv >= cn >= seconds


def test_subdivide_is_a_pure_function_of_its_inputs() -> None:
    """Same parent and seed give the same children; another seed gives others."""
    parent: Bar = (1000, 1040, 980, 1010, 500_000, 30_000, 1005.5)
    weights = session_profile(SessionPart.RTH, 390)
    first = subdivide(parent, weights, 900.0, 60, seed_for(42, "X"))
    assert first == subdivide(parent, weights, 900.0, 60, seed_for(42, "X"))
    assert first != subdivide(parent, weights, 900.0, 60, seed_for(43, "X"))


def test_a_flat_parent_has_flat_children() -> None:
    """When high equals low every child trades at that price."""
    children = subdivide((500, 500, 500, 500, 1_000, 100, 500.0), uniform_profile(5), 10.0, 1, 7)
    assert {c[:4] for c in children} == {(500, 500, 500, 500)}
    assert sum(c[4] for c in children) == 1_000


def test_a_single_child_is_the_parent() -> None:
    """Splitting into one child returns the parent unchanged."""
    parent: Bar = (10, 12, 9, 11, 100, 10, 10.5)
    assert subdivide(parent, (1.0,), 4.0, 1, 1) == [parent]


def test_too_few_trades_to_split_is_refused() -> None:
    """A parent cannot hold fewer trades than seconds, or more trades than shares."""
    with pytest.raises(ValueError, match="cannot split"):
        subdivide((10, 12, 9, 11, 100, 4, 10.5), uniform_profile(5), 4.0, 1, 1)
    with pytest.raises(ValueError, match="cannot split"):
        subdivide((10, 12, 9, 11, 5, 10, 10.5), uniform_profile(5), 4.0, 1, 1)


def test_draw_streams_are_reproducible_and_bounded() -> None:
    """A stream gives the same draws for the same seed and refuses to run past its length."""
    a, b = Draws(5, 4), Draws(5, 4)
    assert a.normals(2) == b.normals(2)
    assert a.exponentials(1) == b.exponentials(1)
    u = a.uniform()
    assert 0.0 < u < 1.0
    with pytest.raises(IndexError, match="exhausted"):
        a.uniform()


def test_intraday_profiles() -> None:
    """The regular session is U-shaped; pre-market builds toward the open; post-market fades."""
    rth = session_profile(SessionPart.RTH, 390)
    assert sum(rth) == pytest.approx(1.0)
    midday = rth[195]
    assert rth[0] > 3 * midday
    assert rth[-2] > 1.5 * midday
    assert rth[-1] > rth[-2]
    pre = session_profile(SessionPart.PRE, 330)
    assert pre[-1] > pre[0]
    post = session_profile(SessionPart.POST, 240)
    assert post[0] > post[-1]
    with pytest.raises(ValueError, match="unknown session kind"):
        session_profile("lunch", 10)  # type: ignore[arg-type]  # the point of the test
    with pytest.raises(ValueError, match="at least one minute"):
        session_profile(SessionPart.RTH, 0)


def test_seeds_and_draws_are_pinned_across_processes() -> None:
    """seed_for and the draw stream give these exact values in every process and on every machine."""
    assert seed_for(1, "a") == 0xC0FB83565FF4B841415D5905CE9C2C75
    assert seed_for(42, "AAPL") != seed_for(42, "MSFT")
    assert Draws(seed_for(1, "a"), 3).normals(3) == pytest.approx(
        [1.3080932731282762, -0.9254707931578702, -0.14440887085466314], abs=1e-15
    )
