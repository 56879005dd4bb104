"""Strategy parameters: one small pydantic model per strategy, validated once at construction.

Parameters come from outside (``settings.toml``, ``--param NAME.KEY=VALUE`` on the command line), so
they are validated with pydantic and a bad one is reported by its settings path and its schema, e.g.
``invalid setting strategies.sma_cross.params.fast=0: Input should be greater than or equal to 1
(fast: int >= 1, default 10: length of the fast moving average, in bars)``.

Some parameters are *alternatives* to each other (``sma_cross`` sizes by ``quantity`` or by
``weight``): a model declares them in :attr:`StrategyParams.alternatives`, giving both is refused,
and an override (:func:`override_params`) of one replaces the others, so ``--param
sma_cross.quantity=100`` works over settings that size by weight. Every field carries a
``description``: :func:`param_schema` reads them for ``ibbot strategies available``.
"""

from __future__ import annotations

import enum
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUndefined

from ibbot.errors import ConfigError
from ibbot.models import BarSize

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic.fields import FieldInfo
    from pydantic_core import ErrorDetails

__all__ = ["ParamInfo", "StrategyParams", "override_params", "param_schema", "validate_params"]

P = TypeVar("P", bound="StrategyParams")

# Shown instead of a default for a parameter that must be given.
_REQUIRED = "required"
# How many parameters an error message lists before pointing at `ibbot strategies available`.
_LISTED = 30
_CATALOGUE = "`ibbot strategies available` describes each"
# The bounds pydantic keeps in a field's metadata (annotated_types' Ge, Gt, Le, Lt), as words.
_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


class StrategyParams(BaseModel):
    """Parameters every :class:`~ibbot.strategies.base.PipelineStrategy` understands.

    ``alternatives`` lists groups of parameters of which at most one may be given (a subclass
    declares them, e.g. ``(("quantity", "weight"),)``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    alternatives: ClassVar[tuple[tuple[str, ...], ...]] = ()

    symbols: tuple[str, ...] | None = Field(
        None, description="trade only these symbols (none: every symbol the strategy is sent)"
    )
    bar_size: BarSize | None = Field(
        None, description="ignore bars of any other size (a live feed may carry several)"
    )
    history_bars: int = Field(
        20, ge=1, le=10_000, description="how many recent bars per symbol the layers can see"
    )
    retry_after_bars: int = Field(
        5,
        ge=1,
        description="bars a BUY or EXIT waits for its fill before the strategy may decide again",
    )

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

    @model_validator(mode="after")
    def _one_of_each_alternative(self) -> StrategyParams:
        for group in self.alternatives:
            given = _given(group, {name: getattr(self, name) for name in self.model_fields_set})
            if len(given) > 1:
                raise ValueError(_alternatives_reason(given))
        return self


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One parameter as a user reads it: its name, type (with bounds), default and meaning."""

    name: str
    type: str
    default: str
    description: str

    def __str__(self) -> str:
        """``fast: int >= 1, default 10: length of the fast moving average, in bars``."""
        default = self.default if self.default == _REQUIRED else f"default {self.default}"
        meaning = f": {self.description}" if self.description else ""
        return f"{self.name}: {self.type}, {default}{meaning}"


def param_schema(model: type[StrategyParams]) -> tuple[ParamInfo, ...]:
    """Every parameter of ``model``, in declaration order (the common ones first)."""
    return tuple(_info(name, field) for name, field in model.model_fields.items())


def override_params(
    model: type[StrategyParams] | None, base: Mapping[str, Any], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """``base`` with ``overrides`` applied: an overridden parameter replaces its alternatives.

    So settings with ``weight = 0.2`` and an override ``quantity = 100`` give ``quantity = 100``
    alone. Two alternatives both among ``overrides`` stay, for validation to refuse. ``model``
    None (a strategy without a params model) merges plainly.
    """
    merged = dict(base)
    for group in () if model is None else model.alternatives:
        if _given(group, overrides):
            for name in group:
                if name not in overrides:
                    merged.pop(name, None)
    merged.update(overrides)
    return merged


def validate_params(model: type[P], raw: Mapping[str, Any] | None, *, strategy: str) -> P:
    """``model`` built from ``raw``; a bad value raises :class:`ConfigError` naming its settings path
    and the parameter's schema (or, for an unknown one, the parameters the strategy takes)."""
    values = dict(raw or {})
    prefix = f"strategies.{strategy}.params"
    for group in model.alternatives:
        given = _given(group, values)
        if len(given) > 1:
            raise ConfigError(
                f"{prefix}.{given[-1]}", values[given[-1]], _alternatives_reason(given)
            )
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = exc.errors()
        first = problems[0]
        location = ".".join(str(part) for part in first["loc"])
        key = prefix + (f".{location}" if location else "")
        reason = _describe(model, first)
        if len(problems) > 1:
            others = "; ".join(
                f"{'.'.join(str(p) for p in problem['loc']) or 'params'}: {_describe(model, problem)}"
                for problem in problems[1:]
            )
            reason = f"{reason} (also: {others})"
        raise ConfigError(key, first.get("input"), reason) from exc


def _given(group: tuple[str, ...], values: Mapping[str, Any]) -> list[str]:
    """The members of ``group`` that ``values`` sets (to something other than None)."""
    return [name for name in group if values.get(name) is not None]


def _alternatives_reason(given: list[str]) -> str:
    return (
        f"{' and '.join(given)} are alternatives: give one of them (on the command line, "
        "--param replaces the configured one)"
    )


def _describe(model: type[StrategyParams], problem: ErrorDetails) -> str:
    if problem["type"] == "extra_forbidden":
        names = list(model.model_fields)
        listed = ", ".join(names[:_LISTED]) + (", ..." if len(names) > _LISTED else "")
        return f"unknown parameter; {model.__name__} accepts {listed} ({_CATALOGUE})"
    message = problem["msg"].removeprefix("Value error, ")
    field = model.model_fields.get(str(problem["loc"][0])) if problem["loc"] else None
    if field is None:
        return message
    return f"{message} ({_info(str(problem['loc'][0]), field)})"


def _info(name: str, field: FieldInfo) -> ParamInfo:
    bounds = [
        f"{word} {_value(getattr(item, attribute))}"
        for item in field.metadata
        for attribute, word in _BOUNDS
        if getattr(item, attribute, None) is not None
    ]
    annotation, optional = _optional(field.annotation)
    kind = _type_name(annotation) + (f" {', '.join(bounds)}" if bounds else "")
    if optional:
        kind += ", or none"
    if field.default is not PydanticUndefined:
        default = _value(field.default)
    elif field.default_factory is not None:
        default = _value(field.default_factory())  # type: ignore[call-arg]
    else:
        default = _REQUIRED
    return ParamInfo(name, kind, default, field.description or "")


def _optional(annotation: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(annotation, False)``."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) < len(get_args(annotation)):
            return (members[0] if len(members) == 1 else Union[tuple(members)]), True  # noqa: UP007
    return annotation, False


def _type_name(annotation: Any) -> str:
    """``int``, ``one of market, limit``, ``list of str``, ``bar size``..."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(member) for member in get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    if origin in (tuple, list, frozenset, set):
        return f"list of {_type_name(get_args(annotation)[0])}"
    if annotation is BarSize:
        return 'bar size ("1 min", "1 day", ...)'
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    return getattr(annotation, "__name__", str(annotation))


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return str(value)
