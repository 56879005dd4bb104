"""Round-trip serialization of the models: plain dicts, JSON text and Arrow tables.

One generic codec, driven by each dataclass's type hints, so a new field is serialized without
touching this file. Scalars map to Arrow scalars (timestamps as ``timestamp[us, UTC]``, enums as their
string value); mappings, nested models and polymorphic payloads travel as JSON text. Nested models
inside free-form values are tagged with ``"__type__"`` so they come back as the same class.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ibbot.clock import ensure_utc

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "arrow_schema",
    "from_arrow",
    "from_dict",
    "from_json",
    "register_model",
    "to_arrow",
    "to_dict",
    "to_json",
]

T = TypeVar("T")

TYPE_TAG = "__type__"
_MODELS: dict[str, type[Any]] = {}


def register_model(cls: type[T]) -> type[T]:
    """Make ``cls`` known to the codec, so tagged values decode back into it."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    _MODELS[cls.__name__] = cls
    return cls


class _Kind(enum.Enum):
    SCALAR = "scalar"
    DATETIME = "datetime"
    ENUM = "enum"
    MODEL = "model"
    ANY = "any"


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldPlan:
    name: str
    kind: _Kind
    target: Any  # the scalar type, enum class or model class
    optional: bool
    has_default: bool


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) == 1:
            return args[0], optional
        return typing.Union[tuple(args)], optional  # noqa: UP007 - rebuilding a runtime union
    return hint, False


_PLANS: dict[type[Any], tuple[_FieldPlan, ...]] = {}
_SCHEMAS: dict[type[Any], pa.Schema] = {}


def _plan(cls: type[Any]) -> tuple[_FieldPlan, ...]:
    cached = _PLANS.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls)
    plans = []
    for f in dataclasses.fields(cls):
        hint, optional = _unwrap_optional(hints[f.name])
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        kind: _Kind
        if hint in (str, int, float, bool):
            kind = _Kind.SCALAR
        elif hint is datetime:
            kind = _Kind.DATETIME
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            kind = _Kind.ENUM
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kind = _Kind.MODEL
        else:
            kind = _Kind.ANY
        plans.append(_FieldPlan(f.name, kind, hint, optional, has_default))
    _PLANS[cls] = result = tuple(plans)
    return result


def _encode_any(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {TYPE_TAG: type(value).__name__, **to_dict(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _encode_any(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_encode_any(v) for v in value]
    return value


def _decode_any(value: Any) -> Any:
    if isinstance(value, Mapping):
        tag = value.get(TYPE_TAG)
        if isinstance(tag, str) and tag in _MODELS:
            body = {k: v for k, v in value.items() if k != TYPE_TAG}
            return from_dict(_MODELS[tag], body)
        return {k: _decode_any(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_any(v) for v in value]
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a model instance (datetimes as ISO 8601, enums as values)."""
    out: dict[str, Any] = {}
    for plan in _plan(type(obj)):
        value = getattr(obj, plan.name)
        if value is None:
            out[plan.name] = None
        elif plan.kind is _Kind.SCALAR:
            out[plan.name] = value
        elif plan.kind is _Kind.DATETIME:
            out[plan.name] = value.isoformat()
        elif plan.kind is _Kind.ENUM:
            out[plan.name] = value.value
        elif plan.kind is _Kind.MODEL:
            out[plan.name] = to_dict(value)
        else:
            out[plan.name] = _encode_any(value)
    return out


def _decode_field(plan: _FieldPlan, value: Any) -> Any:
    if value is None:
        return None
    if plan.kind is _Kind.SCALAR:
        if plan.target is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if plan.target is int and isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if plan.kind is _Kind.DATETIME:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return ensure_utc(parsed, field=plan.name)
    if plan.kind is _Kind.ENUM:
        return plan.target(value)
    if plan.kind is _Kind.MODEL:
        return from_dict(plan.target, value)
    return _decode_any(value)


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild a model from :func:`to_dict` output; unknown keys are ignored, missing ones defaulted."""
    kwargs: dict[str, Any] = {}
    for plan in _plan(cls):
        if plan.name in data:
            kwargs[plan.name] = _decode_field(plan, data[plan.name])
        elif not plan.has_default:
            raise ValueError(f"{cls.__name__}: missing field {plan.name!r}")
    return cls(**kwargs)


def to_json(obj: Any) -> str:
    """Compact JSON text of a model instance."""
    return json.dumps(to_dict(obj), separators=(",", ":"), sort_keys=False)


def from_json(cls: type[T], text: str | bytes) -> T:
    """Inverse of :func:`to_json`."""
    data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ValueError(  # noqa: TRY004 - bad data, not a programming error
            f"{cls.__name__}: expected a JSON object, got {type(data).__name__}"
        )
    return from_dict(cls, data)


def _pyarrow() -> Any:
    # pyarrow is imported on first use: it costs ~0.2 s, which every CLI start would otherwise pay.
    import pyarrow  # noqa: PLC0415

    return pyarrow


def arrow_schema(cls: type[Any]) -> pa.Schema:
    """The Arrow schema a table of ``cls`` is written with."""
    cached = _SCHEMAS.get(cls)
    if cached is not None:
        return cached
    pa = _pyarrow()
    scalars = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
    fields = []
    for plan in _plan(cls):
        if plan.kind is _Kind.SCALAR:
            arrow_type = scalars[plan.target]
        elif plan.kind is _Kind.DATETIME:
            arrow_type = pa.timestamp("us", tz="UTC")
        else:
            arrow_type = pa.string()
        fields.append(pa.field(plan.name, arrow_type, nullable=True))
    _SCHEMAS[cls] = schema = pa.schema(fields)
    return schema


def to_arrow(cls: type[T], items: Iterable[T]) -> pa.Table:
    """A table with one row per item and one column per field (see :func:`arrow_schema`)."""
    rows = list(items)
    columns: list[list[Any]] = []
    for plan in _plan(cls):
        values = [getattr(row, plan.name) for row in rows]
        if plan.kind is _Kind.ENUM:
            values = [None if v is None else v.value for v in values]
        elif plan.kind in (_Kind.MODEL, _Kind.ANY):
            values = [
                None if v is None else json.dumps(_encode_any(v), separators=(",", ":"))
                for v in values
            ]
        columns.append(values)
    schema = arrow_schema(cls)
    pa = _pyarrow()
    return pa.Table.from_arrays(
        [pa.array(col, type=field.type) for col, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def from_arrow(cls: type[T], table: pa.Table) -> list[T]:
    """Rebuild models from a table written by :func:`to_arrow` (extra columns ignored)."""
    names = set(table.column_names)
    plans = _plan(cls)
    decoded: dict[str, Sequence[Any]] = {}
    for plan in plans:
        if plan.name not in names:
            if not plan.has_default:
                raise ValueError(f"{cls.__name__}: table lacks column {plan.name!r}")
            continue
        raw = table.column(plan.name).to_pylist()
        if plan.kind is _Kind.ENUM:
            decoded[plan.name] = [None if v is None else plan.target(v) for v in raw]
        elif plan.kind is _Kind.MODEL:
            decoded[plan.name] = [
                None if v is None else from_dict(plan.target, json.loads(v)) for v in raw
            ]
        elif plan.kind is _Kind.ANY:
            decoded[plan.name] = [None if v is None else _decode_any(json.loads(v)) for v in raw]
        else:
            decoded[plan.name] = raw
    keys = list(decoded)
    return (
        [
            cls(**dict(zip(keys, values, strict=True)))
            for values in zip(*decoded.values(), strict=True)
        ]
        if keys
        else []
    )
