"""Column-wise output formatting gives exactly the text per-value Python gives."""

from __future__ import annotations

import json
import math
import random

import pytest

from ibbot.backtest.builders import utc_from_micros
from ibbot.backtest.columns import float_text, iso_utc, join_rows, json_numbers

SECOND = 1_000_000


@pytest.mark.parametrize(
    "micros",
    [
        [],
        [0],
        [-5_364_662_400 * SECOND, 1_767_225_600 * SECOND],  # 1800 and 2026
        [-30_610_224_000 * SECOND, 253_402_300_799 * SECOND],  # the first and last of 4 digits
        [-30_610_224_001 * SECOND],  # year 999: isoformat pads, Arrow would not (Python's path)
        [1, 1_767_225_600 * SECOND + 250_000],  # fractions of a second (Python's path)
    ],
)
def test_iso_utc_is_isoformat(micros: list[int]) -> None:
    assert iso_utc(micros) == [utc_from_micros(m).isoformat() for m in micros]


def test_iso_utc_on_random_instants() -> None:
    rng = random.Random(7)
    micros = [rng.randrange(-30_610_224_000, 253_402_300_799) * SECOND for _ in range(2_000)]
    assert iso_utc(micros) == [utc_from_micros(m).isoformat() for m in micros]


def test_json_numbers_are_json_dumps() -> None:
    finite = [0.1, -2.5e-9, 1e22, 3.0, 123456.789]
    assert list(json_numbers(finite)) == [json.dumps(v) for v in finite]
    odd = [1.5, math.nan, math.inf, -math.inf]
    assert list(json_numbers(odd)) == [json.dumps(v) for v in odd]


def test_join_rows() -> None:
    assert join_rows(["a", "b"], map(repr, [1.5, 2.0])) == "a,1.5\nb,2.0\n"
    assert join_rows([], []) == ""
    with pytest.raises(ValueError, match="zip"):
        join_rows(["a"], [])


def test_iso_utc_of_midnights_is_isoformat() -> None:
    """Daily bars (every instant a UTC midnight) take the dates' path; one other instant does not."""
    day = 86_400 * SECOND
    midnights = [d * day for d in range(-354_285, 2_932_897, 997)]
    assert iso_utc(midnights) == [utc_from_micros(m).isoformat() for m in midnights]
    mixed = [*midnights[:5], midnights[5] + 3_600 * SECOND]
    assert iso_utc(mixed) == [utc_from_micros(m).isoformat() for m in mixed]


def test_float_text_of_runs_is_repr() -> None:
    """A column of repeated values (formatted once per run) gives each value's own repr: runs of
    0.0 and -0.0 apart, whole numbers, exponents, non-finite values."""
    pieces = [0.0, -0.0, 1e6, 1e6 + 0.01, 2.5e-7, 1e17, math.nan, math.inf, 3.0, 0.1]
    rng = random.Random(3)
    values = [v for v in pieces for _ in range(rng.randrange(1, 40))] * 3
    assert float_text(values).to_pylist() == [repr(v) for v in values]
    distinct = [rng.uniform(-1e6, 1e6) for _ in range(500)]
    assert float_text(distinct).to_pylist() == [repr(v) for v in distinct]
    assert float_text([2.0]).to_pylist() == ["2.0"]
