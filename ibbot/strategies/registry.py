"""The shipped strategies by short name, and building a strategy from settings' ``class_path``.

A class path is checked against :class:`~ibbot.strategies.sources.StrategySources` before anything
is imported; the class must then be a strategy (a :class:`PipelineStrategy` subclass, or a class with
the :class:`Strategy` protocol's methods) before it is called. Whatever goes wrong from there, in a
user's module or constructor, ``SystemExit`` included, becomes a :class:`ConfigError` for that one
strategy: a refusal, never the end of the process that asked.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from ibbot.errors import ConfigError
from ibbot.strategies.base import PipelineStrategy, Strategy
from ibbot.strategies.sources import SHIPPED_ONLY, AllowedModule, StrategySources

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

    from ibbot.strategies.params import StrategyParams

__all__ = [
    "SHIPPED_STRATEGIES",
    "create_strategy",
    "is_strategy_class",
    "load_strategy_class",
    "params_model",
    "resolve_class_path",
]

SHIPPED_STRATEGIES: Mapping[str, str] = MappingProxyType(
    {
        "example_value": "ibbot.strategies.example_value.ExampleValueStrategy",
        "sma_cross": "ibbot.strategies.sma_cross.SmaCrossStrategy",
        "value_momentum": "ibbot.strategies.value_momentum.ValueMomentumStrategy",
    }
)
"""Short name -> class path of every strategy ibbot ships."""

# What a user's module or constructor may raise. SystemExit (a script's sys.exit()) and
# KeyboardInterrupt raised by code are theirs too: they must not end the service that loads them.
_USER_CODE_FAILURES: Final = (Exception, SystemExit, KeyboardInterrupt)
# The Strategy protocol's methods; its other members are attributes an instance sets.
_PROTOCOL_METHODS: Final = ("on_event", "get_positions", "get_state", "load_state")
_LONGEST_CAUSE: Final = 300


def resolve_class_path(name_or_path: str) -> str:
    """A shipped strategy's class path for its short name; anything else is taken as a path."""
    return SHIPPED_STRATEGIES.get(name_or_path, name_or_path)


def is_strategy_class(cls: type[Any]) -> bool:
    """True for a concrete :class:`PipelineStrategy` subclass or a class with the protocol's methods."""
    if inspect.isabstract(cls):
        return False
    return issubclass(cls, PipelineStrategy) or all(
        callable(getattr(cls, method, None)) for method in _PROTOCOL_METHODS
    )


def load_strategy_class(
    class_path: str,
    *,
    sources: StrategySources = SHIPPED_ONLY,
    key: str = "strategies.class_path",
) -> type[Any]:
    """The strategy class named ``"package.module.ClassName"`` (or a shipped short name).

    Raises :class:`ConfigError` under ``key`` when the module is not allowed by ``sources`` (checked
    before any import), cannot be loaded, has no such class, or the class is not a strategy.
    """
    path = resolve_class_path(class_path)
    allowed = sources.locate(path, key=key)
    module_name = path.rpartition(".")[0]
    try:
        module = _load(allowed)
        cls = getattr(module, allowed.class_name, None)
        strategy_class = isinstance(cls, type) and is_strategy_class(cls)
    except ImportError as exc:
        raise ConfigError(key, class_path, f"cannot import {module_name}: {_cause(exc)}") from exc
    except _USER_CODE_FAILURES as exc:
        raise ConfigError(key, class_path, f"loading {module_name} failed: {_cause(exc)}") from exc
    if not isinstance(cls, type):
        raise ConfigError(key, class_path, f"{module_name} has no class {allowed.class_name}")
    if not strategy_class:
        raise ConfigError(
            key,
            class_path,
            f"{cls.__name__} is not a strategy: subclass PipelineStrategy, or implement the "
            f"Strategy protocol ({', '.join(_PROTOCOL_METHODS)})",
        )
    return cls


def params_model(
    class_path: str,
    *,
    sources: StrategySources = SHIPPED_ONLY,
    key: str = "strategies.class_path",
) -> type[StrategyParams] | None:
    """The parameters model of the strategy class at ``class_path``; None for a class that is not a
    :class:`PipelineStrategy` (it takes its params as they come). Loading fails as
    :func:`load_strategy_class` does."""
    cls = load_strategy_class(class_path, sources=sources, key=key)
    return cls.params_model if issubclass(cls, PipelineStrategy) else None


def create_strategy(
    class_path: str,
    *,
    name: str,
    allocated_capital: float,
    params: Mapping[str, Any] | None = None,
    sources: StrategySources = SHIPPED_ONLY,
) -> Strategy:
    """Instantiate a strategy the way settings describe it, and check it speaks the protocol.

    Any failure is a :class:`ConfigError` naming the strategy (see the module docstring).
    """
    key = f"strategies.{name}.class_path"
    cls = load_strategy_class(class_path, sources=sources, key=key)
    try:
        built: object = cls(name=name, allocated_capital=allocated_capital, params=params)
        strategy = built if isinstance(built, Strategy) else None
    except ConfigError:
        raise  # the strategy's own account of its bad params
    except _USER_CODE_FAILURES as exc:
        raise ConfigError(
            f"strategies.{name}",
            class_path,
            f"creating {cls.__name__} failed (check its params): {_cause(exc)}",
        ) from exc
    if strategy is None:
        raise ConfigError(key, class_path, "the class does not implement the Strategy protocol")
    return strategy


def _load(allowed: AllowedModule) -> ModuleType:
    """The module of ``allowed`` (only :meth:`StrategySources.locate` makes one)."""
    if allowed.file is None:
        # Allow-listed: locate() returns a module name only under ibbot.strategies or a package
        # of app.strategy_packages, and it has imported nothing to decide.
        return importlib.import_module(allowed.import_name)
    loaded = sys.modules.get(allowed.import_name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(allowed.import_name, allowed.file)
    if spec is None or spec.loader is None:
        raise ImportError(f"{allowed.file} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import does: its classes' annotations are resolved in it.
    sys.modules[allowed.import_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[allowed.import_name]
        raise
    return module


def _cause(exc: BaseException) -> str:
    """``Type: message`` on one line, bounded (a user's exception may say anything)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _LONGEST_CAUSE else text[: _LONGEST_CAUSE - 3] + "..."
