"""The replay's whole result on a seeded multi-symbol run, pinned to a digest.

The replay's hot paths (bars, the trading layer, the simulated broker) are optimised in place; this
run exercises them together (three symbols, market and limit entries, brackets with stop-loss,
take-profit and trailing stops, zero-volume bars, prices off the 4-decimal grid) and its decisions,
fills, orders and equity curve must stay exactly what they were before any optimisation: the
digest was taken from main at e828520, before the fast paths. A change to the digest is a change
of results and needs a reason, not a refresh.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

from ibbot.backtest import Backtest, BacktestConfig, BarFeed, CommissionModel, StrategySpec
from ibbot.models import BarSize, PriceBar
from ibbot.trading import RiskLimits

_START = datetime(2001, 1, 2, tzinfo=UTC)
_DAYS = 700

# sha256 of _canonical(...) on main at e828520 (before the replay fast paths)
_DIGEST = "86694b0dba3a465308b1d51d3ae47b11914ae123f4bde0f8b6e139ba2c870863"


def _bars() -> list[PriceBar]:
    rng = random.Random(20261205)
    bars: list[PriceBar] = []
    for symbol, price, decimals in (("AAA", 50.0, 2), ("BBB", 20.0, 3), ("CCC", 8.0, 5)):
        close = price
        for i in range(_DAYS):
            if symbol == "BBB" and i % 9 == 4:
                continue  # a gap: this symbol has no bar that day
            open_ = round(close * (1 + rng.gauss(0, 0.004)), decimals)
            close = round(max(0.5, open_ * (1 + rng.gauss(0.0002, 0.02))), decimals)
            high = round(max(open_, close) * (1 + abs(rng.gauss(0, 0.006))), decimals)
            low = round(min(open_, close) * (1 - abs(rng.gauss(0, 0.006))), decimals)
            volume = 0.0 if i % 37 == 11 else float(rng.randrange(1, 5_000_000))
            stamp = _START + timedelta(days=i)
            bars.append(PriceBar(symbol, stamp, open_, high, low, close, volume, BarSize.DAY_1))
    return bars


def _config() -> BacktestConfig:
    return BacktestConfig(
        start=_START,
        end=_START + timedelta(days=_DAYS),
        strategies=(
            StrategySpec("mkt", "sma_cross", 300_000.0, {"fast": 5, "slow": 17, "weight": 0.2}),
            StrategySpec(
                "lmt",
                "sma_cross",
                300_000.0,
                {
                    "fast": 3,
                    "slow": 11,
                    "quantity": 700,
                    "entry": "limit",
                    "limit_offset_bps": 40,
                    "stop_loss_pct": 0.03,
                    "take_profit_pct": 0.05,
                },
            ),
            StrategySpec(
                "trail",
                "sma_cross",
                300_000.0,
                {"fast": 8, "slow": 21, "weight": 0.22, "trailing_stop_pct": 0.04},
            ),
            # above the risk limit's 25% of capital per position: every decision is blocked
            StrategySpec(
                "big",
                "sma_cross",
                100_000.0,
                {"fast": 4, "slow": 9, "weight": 0.4, "symbols": ["AAA"]},
            ),
        ),
        starting_cash=1_000_000.0,
        commission=CommissionModel.parse("ib"),
        slippage_bps=2.0,
        risk=RiskLimits(max_order_notional=150_000.0, max_open_orders=50),
        bar_size=BarSize.DAY_1,
    )


def _canonical() -> bytes:
    result = Backtest(_config()).run(BarFeed.from_bars(_bars()))
    parts = [
        repr(result.decisions),
        repr(result.fills),
        repr(
            [
                (o.order_id, o.order, o.status, o.filled, o.avg_price, o.commission, o.message)
                for o in result.orders
            ]
        ),
        repr((result.equity.micros, result.equity.equity, result.equity.cash)),
        repr((result.equity.gross, result.final_positions, result.final_cash)),
    ]
    return "\n".join(parts).encode()


def test_the_seeded_multi_symbol_run_is_unchanged() -> None:
    result = Backtest(_config()).run(BarFeed.from_bars(_bars()))
    # the run exercises what it means to: every kind of order fills, some are refused or expire
    kinds = {(o.order.order_type, o.status) for o in result.orders}
    assert len(result.fills) > 100, len(result.fills)
    assert len(kinds) >= 6, kinds
    assert {d.outcome.value for d in result.decisions} == {"sent", "blocked"}
    assert hashlib.sha256(_canonical()).hexdigest() == _DIGEST
