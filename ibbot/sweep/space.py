"""The parameters a sweep tries: ``--grid KEY=VALUES`` parsed, then every combination or a seeded sample.

A grid entry is ``KEY=V1,V2,...`` (each value JSON when it parses, else text: ``fast=5,10,20``,
``entry=market,limit``) or a range ``KEY=LO..HI``: integers are every value from LO to HI
inclusive, decimals a continuous interval that only random search can draw from. A grid search
runs the Cartesian product in a fixed order (the first key varies slowest); ``--samples N`` draws
N distinct combinations with a seeded generator, so the same seed always gives the same sweep.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Final

from ibbot.backtest.errors import BacktestInputError
from ibbot.safeload import load_json

__all__ = ["MAX_COMBINATIONS", "Dimension", "ParameterSpace", "parse_dimension"]

MAX_COMBINATIONS: Final = 100_000
"""The most backtests one sweep (or one walk-forward fold) may ask for."""
_MAX_VALUE_CHARS: Final = 1_000


@dataclass(frozen=True, slots=True)
class Dimension:
    """One swept parameter: its values, or a continuous interval ``low..high`` (``values`` None)."""

    key: str
    values: tuple[Any, ...] | None
    low: float = 0.0
    high: float = 0.0

    @property
    def size(self) -> float:
        """How many values it has (infinite for an interval)."""
        return math.inf if self.values is None else len(self.values)

    def draw(self, rng: random.Random) -> Any:
        """A value drawn uniformly."""
        if self.values is None:
            return rng.uniform(self.low, self.high)
        return self.values[rng.randrange(len(self.values))]


def _value(text: str) -> Any:
    try:
        return load_json(text, max_chars=_MAX_VALUE_CHARS, max_depth=2)
    except ValueError:
        return text


def parse_dimension(text: str) -> Dimension:
    """``KEY=V1,V2,...`` or ``KEY=LO..HI`` as a :class:`Dimension` (see the module docstring)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier() or not raw.strip():
        raise BacktestInputError(
            f"--grid: expected KEY=V1,V2,... or KEY=LO..HI (e.g. fast=5,10,20), got {text!r}"
        )
    low_text, dots, high_text = raw.partition("..")
    if dots:
        low, high = _value(low_text.strip()), _value(high_text.strip())
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not low <= high or not all(map(math.isfinite, (low, high))):
            raise BacktestInputError(
                f"--grid {key}: a range is LO..HI with numbers LO <= HI, got {raw!r}"
            )
        if isinstance(low, int) and isinstance(high, int):
            if high - low >= MAX_COMBINATIONS:
                raise BacktestInputError(
                    f"--grid {key}: {high - low + 1:,} values, more than {MAX_COMBINATIONS:,}"
                )
            return Dimension(key, tuple(range(low, high + 1)))
        return Dimension(key, None, float(low), float(high))
    values = tuple(dict.fromkeys(_value(part.strip()) for part in raw.split(",") if part.strip()))
    if not values:
        raise BacktestInputError(f"--grid {key}: no values in {raw!r}")
    return Dimension(key, values)


@dataclass(frozen=True, slots=True)
class ParameterSpace:
    """The swept dimensions, in the order given."""

    dimensions: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        keys = [d.key for d in self.dimensions]
        if not keys:
            raise BacktestInputError("nothing to sweep: give at least one --grid KEY=VALUES")
        if len(set(keys)) != len(keys):
            raise BacktestInputError(f"--grid: a parameter is given twice ({', '.join(keys)})")

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept parameters' names."""
        return tuple(d.key for d in self.dimensions)

    @property
    def size(self) -> float:
        """How many combinations the grid has (infinite with an interval)."""
        return math.prod(d.size for d in self.dimensions)

    def grid(self) -> list[dict[str, Any]]:
        """Every combination, the first key varying slowest."""
        size = self.size
        if math.isinf(size):
            interval = next(d.key for d in self.dimensions if d.values is None)
            raise BacktestInputError(
                f"--grid {interval}: a decimal range has no grid; list its values, or draw "
                "from it with --samples N"
            )
        if size > MAX_COMBINATIONS:
            raise BacktestInputError(
                f"the grid has {int(size):,} combinations, more than {MAX_COMBINATIONS:,}: "
                "narrow it, or draw some with --samples N"
            )
        return [self._decode(index) for index in range(int(size))]

    def sample(self, count: int, seed: int) -> list[dict[str, Any]]:
        """``count`` distinct combinations drawn with ``random.Random(seed)`` (all of them, in
        grid order, when the grid has no more than ``count``)."""
        if not 1 <= count <= MAX_COMBINATIONS:
            raise BacktestInputError(f"--samples must be 1..{MAX_COMBINATIONS:,}, got {count}")
        rng = random.Random(seed)  # noqa: S311 - reproducible draws, not secrets
        size = self.size
        if math.isinf(size):
            return [{d.key: d.draw(rng) for d in self.dimensions} for _ in range(count)]
        if size <= count:
            return self.grid()
        return [self._decode(index) for index in rng.sample(range(int(size)), count)]

    def _decode(self, index: int) -> dict[str, Any]:
        """The combination at ``index`` of the grid order (mixed radix, last key fastest)."""
        combination: dict[str, Any] = {}
        for dimension in reversed(self.dimensions):
            assert dimension.values is not None
            index, digit = divmod(index, len(dimension.values))
            combination[dimension.key] = dimension.values[digit]
        return {d.key: combination[d.key] for d in self.dimensions}
