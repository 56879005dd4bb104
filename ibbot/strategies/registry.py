"""The shipped strategies by short name, and loading any strategy class from settings' ``class_path``."""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ibbot.errors import ConfigError
from ibbot.strategies.base import Strategy

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SHIPPED_STRATEGIES", "create_strategy", "load_strategy_class", "resolve_class_path"]

SHIPPED_STRATEGIES: Mapping[str, str] = MappingProxyType(
    {
        "example_value": "ibbot.strategies.example_value.ExampleValueStrategy",
        "sma_cross": "ibbot.strategies.sma_cross.SmaCrossStrategy",
        "value_momentum": "ibbot.strategies.value_momentum.ValueMomentumStrategy",
    }
)
"""Short name -> class path of every strategy ibbot ships."""


def resolve_class_path(name_or_path: str) -> str:
    """A shipped strategy's class path for its short name; anything else is taken as a path."""
    return SHIPPED_STRATEGIES.get(name_or_path, name_or_path)


def load_strategy_class(class_path: str, *, key: str = "strategies.class_path") -> type[Any]:
    """Import ``"package.module.ClassName"`` (or a shipped short name) and return the class.

    Raises :class:`ConfigError` under ``key`` when the module or class cannot be found.
    """
    path = resolve_class_path(class_path)
    module_name, _, class_name = path.rpartition(".")
    if not module_name or not class_name:
        raise ConfigError(key, class_path, "expected 'package.module.ClassName' or a shipped name")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(key, class_path, f"cannot import {module_name}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ConfigError(key, class_path, f"{module_name} has no class {class_name}")
    return cls


def create_strategy(
    class_path: str,
    *,
    name: str,
    allocated_capital: float,
    params: Mapping[str, Any] | None = None,
) -> Strategy:
    """Instantiate a strategy the way settings describe it, and check it speaks the protocol."""
    key = f"strategies.{name}.class_path"
    cls = load_strategy_class(class_path, key=key)
    strategy = cls(name=name, allocated_capital=allocated_capital, params=params)
    if not isinstance(strategy, Strategy):
        raise ConfigError(key, class_path, "the class does not implement the Strategy protocol")
    return strategy
