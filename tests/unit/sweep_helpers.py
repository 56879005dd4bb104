"""A small multi-year feed and a sweep plan shared by the sweep tests (not a test module)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from ibbot.backtest import BacktestConfig, BarFeed, CommissionModel, StrategySpec
from ibbot.models import BarSize, PriceBar
from ibbot.sweep import ParameterSpace, SweepPlan, parse_dimension
from ibbot.trading import RiskLimits

START = datetime(2016, 1, 1, tzinfo=UTC)
END = datetime(2020, 1, 1, tzinfo=UTC)


def cent_bars(
    symbol: str, seed: int, start: datetime = START, end: datetime = END
) -> list[PriceBar]:
    """Weekday daily bars of a seeded random walk, in whole cents."""
    rng = random.Random(seed)
    price, bars, moment = 100.0, [], start
    while moment < end:
        if moment.weekday() < 5:
            open_ = round(price, 2)
            price *= math.exp(rng.gauss(0.0002, 0.015))
            close = round(price, 2)
            bars.append(
                PriceBar(
                    symbol,
                    moment,
                    open_,
                    round(max(open_, close) * 1.004, 2),
                    round(min(open_, close) * 0.996, 2),
                    close,
                    1_000_000.0,
                    BarSize.DAY_1,
                )
            )
        moment += timedelta(days=1)
    return bars


def feed() -> BarFeed:
    """Two symbols over four years."""
    return BarFeed.from_bars([*cent_bars("AAA", 1), *cent_bars("BBB", 2)])


def base_config(**params: Any) -> BacktestConfig:
    return BacktestConfig(
        start=START,
        end=END,
        strategies=(StrategySpec("sma_cross", "sma_cross", 100_000.0, params),),
        starting_cash=100_000.0,
        commission=CommissionModel.parse("ib"),
        risk=RiskLimits(max_order_notional=1e9),
    )


def plan(*grid: str, **options: Any) -> SweepPlan:
    """A plan over :func:`feed`'s period with ``grid`` entries such as ``"fast=5,10"``."""
    return SweepPlan(
        base=base_config(),
        space=ParameterSpace(tuple(parse_dimension(text) for text in grid)),
        **options,
    )
