"""Building frozen, slotted dataclass instances without the constructor's per-field cost.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (about
0.1 µs a field, so 1-3 µs for a record), which is most of what a record costs on the backtest's
decision path (the engine's order snapshots and events, orders, fills, decisions). :func:`builder`
makes a function with the constructor's signature that stores the fields into a
plain twin class of the same slot layout (one plain slot store each) and turns that object into a
true instance of the model by ``__class__`` assignment, which Python allows between classes of
the same layout. The result is equal to, and indistinguishable from, the constructor's.

Defaults, default factories and ``__post_init__`` (its normalising and its checks) work as in the
constructor, so a built instance is the constructed one in every respect.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["builder"]

T = TypeVar("T")


def builder(cls: type[T], *, post_init: bool = True) -> Callable[..., T]:
    """``build(...) -> cls instance`` with the constructor's signature and meaning (defaults,
    default factories, ``__post_init__``), without its per-field cost.

    Refuses (TypeError) a class that is not a slotted dataclass of its own fields only (no base
    class with slots, no field outside ``__init__``, no keyword-only field, no ``InitVar``), whose
    layout a twin could not share. ``post_init=False`` leaves ``__post_init__`` out: only for
    callers whose values are already what it would make them (the replay's bars and events).
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = tuple(field.name for field in fields)
    if (
        tuple(getattr(cls, "__slots__", ())) != names
        or cls.__mro__[1:] != (object,)
        or not all(field.init and not field.kw_only for field in fields)
        or len(getattr(cls, "__dataclass_fields__", {})) != len(fields)  # an InitVar
        or any(name.startswith("_fb_") for name in names)
    ):
        raise TypeError(f"{cls.__name__} is not a plain slotted dataclass: no fast builder")
    namespace: dict[str, Any] = {
        "_fb_new": object.__new__,
        "_fb_twin": type(f"_{cls.__name__}Twin", (), {"__slots__": names}),
        "_fb_model": cls,
        "_fb_missing": dataclasses.MISSING,
    }
    parameters: list[str] = []
    lines = ["    _fb_record = _fb_new(_fb_twin)"]
    for field in fields:
        name = field.name
        if field.default is not dataclasses.MISSING:
            namespace[f"_fb_default_{name}"] = field.default
            parameters.append(f"{name}=_fb_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_fb_factory_{name}"] = field.default_factory
            parameters.append(f"{name}=_fb_missing")
            lines.append(f"    if {name} is _fb_missing:\n        {name} = _fb_factory_{name}()")
        else:
            parameters.append(name)
        lines.append(f"    _fb_record.{name} = {name}")
    lines.append("    _fb_record.__class__ = _fb_model")
    if post_init and hasattr(cls, "__post_init__"):
        lines.append("    _fb_record.__post_init__()")
    lines.append("    return _fb_record")
    source = f"def build_{cls.__name__}({', '.join(parameters)}):\n" + "\n".join(lines) + "\n"
    exec(source, namespace)  # noqa: S102 - generated from the field names, as dataclasses does
    build: Callable[..., T] = namespace[f"build_{cls.__name__}"]
    build.__doc__ = f"A {cls.__name__} as its constructor makes it, without the per-field cost."
    twin = namespace["_fb_twin"]
    try:  # a layout that __class__ assignment refuses shows up here, not on first use
        twin.__new__(twin).__class__ = cls
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}: no fast builder ({exc})") from exc
    return build
