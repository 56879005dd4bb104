"""Building frozen, slotted dataclass instances fast, from values that are already right.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (about
0.1 µs a field, so 1-3 µs for a record), which is most of what a record costs on the backtest's
decision path (the engine's order snapshots and events, the broker's requests). :func:`builder`
makes a function with the constructor's signature that stores the fields into a
plain twin class of the same slot layout (one plain slot store each) and turns that object into a
true instance of the model by ``__class__`` assignment, which Python allows between classes of
the same layout. The result is equal to, and indistinguishable from, the constructor's.

It runs no ``__post_init__`` and calls no ``default_factory`` (such fields must be given): only for
models without one, or for values already in the form it would give them.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["builder"]

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """``build(field, ...) -> cls instance``: the constructor's signature (a field with a
    ``default_factory`` becomes required), without its per-field cost and without ``__post_init__``.

    Refuses (TypeError) a class that is not a slotted dataclass of its own fields only (no base
    class with slots, no field outside ``__init__``, no keyword-only field), whose layout a twin
    could not share.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = tuple(field.name for field in fields)
    if (
        tuple(getattr(cls, "__slots__", ())) != names
        or cls.__mro__[1:] != (object,)
        or not all(field.init and not field.kw_only for field in fields)
        or any(name.startswith("_fb_") for name in names)
    ):
        raise TypeError(f"{cls.__name__} is not a plain slotted dataclass: no fast builder")
    namespace: dict[str, Any] = {
        "_fb_new": object.__new__,
        "_fb_twin": type(f"_{cls.__name__}Twin", (), {"__slots__": names}),
        "_fb_model": cls,
    }
    parameters = []
    for field in fields:
        if field.default is dataclasses.MISSING:
            parameters.append(field.name)
        else:
            namespace[f"_fb_default_{field.name}"] = field.default
            parameters.append(f"{field.name}=_fb_default_{field.name}")
    stores = "".join(f"\n    _fb_record.{name} = {name}" for name in names)
    source = (
        f"def build_{cls.__name__}({', '.join(parameters)}):\n"
        f"    _fb_record = _fb_new(_fb_twin)"
        f"{stores}\n"
        f"    _fb_record.__class__ = _fb_model\n"
        f"    return _fb_record\n"
    )
    exec(source, namespace)  # noqa: S102 - generated from the field names, as dataclasses does
    build: Callable[..., T] = namespace[f"build_{cls.__name__}"]
    build.__doc__ = f"A {cls.__name__} as its constructor makes it, without checks."
    try:  # a layout that __class__ assignment refuses shows up here, not on first use
        build(*(None for _ in names))
    except TypeError as exc:
        raise TypeError(f"{cls.__name__}: no fast builder ({exc})") from exc
    return build
