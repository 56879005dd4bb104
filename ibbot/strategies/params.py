"""Strategy parameters: one small pydantic model per strategy, validated once at construction.

Parameters come from outside (``settings.toml``, ``--param NAME.KEY=VALUE`` on the command line), so
they are validated with pydantic and a bad one is reported by its settings path, e.g.
``invalid setting strategies.sma_cross.params.fast=0: Input should be greater than or equal to 1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

from ibbot.errors import ConfigError
from ibbot.models import BarSize

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["StrategyParams", "validate_params"]

P = TypeVar("P", bound="StrategyParams")


class StrategyParams(BaseModel):
    """Parameters every :class:`~ibbot.strategies.base.PipelineStrategy` understands.

    ``symbols`` restricts the strategy to those symbols (None: every symbol it is sent);
    ``bar_size`` makes it ignore bars of any other size (a live feed may carry several);
    ``history_bars`` is how many recent bars per symbol the layers can see; ``retry_after_bars``
    is how many bars a decision waits for its fill before the strategy may decide again.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbols: tuple[str, ...] | None = None
    bar_size: BarSize | None = None
    history_bars: int = Field(20, ge=1, le=10_000)
    retry_after_bars: int = Field(5, ge=1)

    @field_validator("bar_size", mode="before")
    @classmethod
    def _parse_bar_size(cls, value: Any) -> Any:
        # accept IB's spellings and the usual shorthands ("1d", "5 min") as the CLI gives them
        return BarSize.parse(value) if isinstance(value, str) else value

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: Any) -> Any:
        # "AAPL, MSFT" from a command-line --param is a list of two symbols
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


def validate_params(model: type[P], raw: Mapping[str, Any] | None, *, strategy: str) -> P:
    """``model`` built from ``raw``; a bad value raises :class:`ConfigError` naming its settings path."""
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        problems = exc.errors()
        first = problems[0]
        location = ".".join(str(part) for part in first["loc"])
        key = f"strategies.{strategy}.params" + (f".{location}" if location else "")
        reason = _describe(model, first)
        if len(problems) > 1:
            others = "; ".join(
                f"{'.'.join(str(p) for p in problem['loc']) or 'params'}: {_describe(model, problem)}"
                for problem in problems[1:]
            )
            reason = f"{reason} (also: {others})"
        raise ConfigError(key, first.get("input"), reason) from exc


def _describe(model: type[StrategyParams], problem: ErrorDetails) -> str:
    if problem["type"] == "extra_forbidden":
        return f"unknown parameter; {model.__name__} accepts {', '.join(model.model_fields)}"
    return problem["msg"]
