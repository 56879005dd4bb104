"""What a backtest runs: its period, strategies, capital, costs and risk limits, built from settings.

Strategies come from the ``[[strategies]]`` settings exactly as live trading builds them (class
path, name, allocated capital, params); ``--strategy NAME`` picks some (a shipped strategy's short
name works even when it is not configured, with :data:`DEFAULT_ALLOCATION`), ``--param`` overrides
parameters. The risk limits are the settings' ``risk`` section, field by field, except the kill
switch file: it stops *live* orders, and a file's presence today must not change a replay of the
past (the same inputs must give the same results).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from ibbot.backtest.commission import CommissionModel
from ibbot.backtest.errors import BacktestInputError
from ibbot.models import BarSize
from ibbot.strategies import SHIPPED_ONLY, SHIPPED_STRATEGIES, StrategySources
from ibbot.trading import ReconciliationPolicy, RiskLimits

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ibbot.settings import RiskSettings, Settings

__all__ = [
    "DEFAULT_ALLOCATION",
    "BacktestConfig",
    "StrategySpec",
    "risk_limits",
    "select_strategies",
]

DEFAULT_ALLOCATION: Final = 100_000.0
"""Allocated capital of a shipped strategy named on the command line but not configured."""


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """One strategy to run, as settings describe it."""

    name: str
    class_path: str
    allocated_capital: float
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Everything that determines a backtest's result (with the stored data it reads).

    ``start`` and ``end`` bound the bar starts replayed, ``start <= t < end`` (UTC); ``bar_size``
    None means the one size stored in that range; ``symbols`` None means every stored symbol.
    ``starting_cash`` is the account's cash at the start. ``sources`` is where the strategies'
    classes may be loaded from (the settings' ``app.strategy_packages`` and ``app.strategy_paths``).
    """

    start: datetime
    end: datetime
    strategies: tuple[StrategySpec, ...]
    starting_cash: float
    commission: CommissionModel = field(default_factory=CommissionModel)
    slippage_bps: float = 0.0
    risk: RiskLimits = field(default_factory=RiskLimits)
    bar_size: BarSize | None = None
    symbols: tuple[str, ...] | None = None
    sources: StrategySources = SHIPPED_ONLY

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise BacktestInputError(
                f"the end ({self.last_day.date().isoformat()}) must not be before the start "
                f"({self.start.date().isoformat()})"
            )
        if not self.strategies:
            raise BacktestInputError("no strategy to run")
        if not math.isfinite(self.starting_cash) or self.starting_cash <= 0:
            raise BacktestInputError(f"the capital must be positive, got {self.starting_cash:g}")
        if not math.isfinite(self.slippage_bps) or self.slippage_bps < 0:
            raise BacktestInputError(f"the slippage must be >= 0 bps, got {self.slippage_bps:g}")

    @property
    def last_day(self) -> datetime:
        """The last day replayed (``end`` is exclusive)."""
        return self.end - timedelta(days=1)


def risk_limits(risk: RiskSettings) -> RiskLimits:
    """The settings' risk limits for a backtest: every field as set, but no kill switch file."""
    return RiskLimits(
        max_position_pct=risk.max_position_pct,
        max_order_notional=risk.max_order_notional,
        max_open_orders=risk.max_open_orders,
        daily_loss_limit_pct=risk.daily_loss_limit_pct,
        min_order_notional=risk.min_order_notional,
        kill_switch_file=None,
        cancel_open_orders_on_kill=risk.cancel_open_orders_on_kill,
        keep_protective_orders_on_kill=risk.keep_protective_orders_on_kill,
        on_reconciliation_mismatch=ReconciliationPolicy(risk.on_reconciliation_mismatch),
    )


def select_strategies(
    settings: Settings,
    names: Sequence[str] = (),
    params: Iterable[tuple[str, str, Any]] = (),
    capital: float | None = None,
) -> tuple[tuple[StrategySpec, ...], float]:
    """The strategies to run and the account's starting cash.

    Without ``names``: every enabled configured strategy. A name is a configured strategy (run
    even when disabled) or a shipped strategy's short name. ``params`` are ``(name, key, value)``
    overrides. The starting cash is ``capital`` when given, with every strategy's allocation
    scaled so their shares stay the same and add up to it; otherwise the sum of the allocations.
    """
    configured = {strategy.name: strategy for strategy in settings.strategies}
    chosen = list(dict.fromkeys(names)) or [s.name for s in settings.strategies if s.enabled]
    if not chosen:
        raise BacktestInputError(
            "no strategy to run: configure [[strategies]] in the settings or pass --strategy "
            f"NAME (shipped: {', '.join(SHIPPED_STRATEGIES)})"
        )
    specs: dict[str, StrategySpec] = {}
    for name in chosen:
        entry = configured.get(name)
        if entry is not None:
            specs[name] = StrategySpec(
                name, entry.class_path, entry.allocated_capital, dict(entry.params)
            )
        elif name in SHIPPED_STRATEGIES:
            specs[name] = StrategySpec(name, SHIPPED_STRATEGIES[name], DEFAULT_ALLOCATION, {})
        else:
            known = sorted({*configured, *SHIPPED_STRATEGIES})
            raise BacktestInputError(
                f"--strategy: unknown strategy {name!r}; configured or shipped: {', '.join(known)}"
            )
    for name, key, value in params:
        spec = specs.get(name)
        if spec is None:
            raise BacktestInputError(
                f"--param {name}.{key}: {name!r} is not among the strategies run "
                f"({', '.join(specs)})"
            )
        specs[name] = StrategySpec(
            spec.name, spec.class_path, spec.allocated_capital, {**spec.params, key: value}
        )
    total = sum(spec.allocated_capital for spec in specs.values())
    if capital is None:
        return tuple(specs.values()), total
    if not math.isfinite(capital) or capital <= 0:
        raise BacktestInputError(f"--capital must be a positive amount, got {capital:g}")
    scale = capital / total
    scaled = tuple(
        StrategySpec(s.name, s.class_path, s.allocated_capital * scale, s.params)
        for s in specs.values()
    )
    return scaled, capital
