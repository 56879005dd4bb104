"""Strategies: pure, multi-layer pipelines that turn events into decisions with reasoning trails.

The framework (protocols, pipeline, base class, registry) is exported here; the shipped strategies
live in their own packages (``example_value``, ``sma_cross``, ``value_momentum``) and are loaded by
class path (see :data:`SHIPPED_STRATEGIES`), from nowhere but where :class:`StrategySources` allows.
Strategies import only ibbot's models and errors: no I/O and no clock, so a strategy cannot tell a
backtest from live trading.
"""

from ibbot.strategies.base import (
    INTENT_KEY,
    Intent,
    PipelineStrategy,
    Strategy,
    StrategyLayer,
    decision_id,
)
from ibbot.strategies.params import (
    ParamInfo,
    StrategyParams,
    override_params,
    param_schema,
    validate_params,
)
from ibbot.strategies.pipeline import (
    FAILED_LAYER_KEY,
    LAYER_SEPARATOR,
    StrategyPipeline,
    append_step,
    format_step,
)
from ibbot.strategies.registry import (
    SHIPPED_STRATEGIES,
    create_strategy,
    is_strategy_class,
    load_strategy_class,
    params_model,
    resolve_class_path,
)
from ibbot.strategies.rolling import MovingAverageCross, RollingMean
from ibbot.strategies.sources import (
    SHIPPED_ONLY,
    SHIPPED_PACKAGE,
    USER_STRATEGIES,
    StrategySources,
)
from ibbot.strategies.state import StrategyStateError, SymbolState

__all__ = [
    "FAILED_LAYER_KEY",
    "INTENT_KEY",
    "LAYER_SEPARATOR",
    "SHIPPED_ONLY",
    "SHIPPED_PACKAGE",
    "SHIPPED_STRATEGIES",
    "USER_STRATEGIES",
    "Intent",
    "MovingAverageCross",
    "ParamInfo",
    "PipelineStrategy",
    "RollingMean",
    "Strategy",
    "StrategyLayer",
    "StrategyParams",
    "StrategyPipeline",
    "StrategySources",
    "StrategyStateError",
    "SymbolState",
    "append_step",
    "create_strategy",
    "decision_id",
    "format_step",
    "is_strategy_class",
    "load_strategy_class",
    "override_params",
    "param_schema",
    "params_model",
    "resolve_class_path",
    "validate_params",
]
