"""``ibbot strategies available``: the strategies a user can run, offline.

Every shipped strategy (by its short name) and every configured one (``[[strategies]]``), with its
class, what it does (the class docstring's first paragraph) and each parameter's type, default and
meaning from its params model (:func:`ibbot.strategies.param_schema`), plus the values the settings
give. A configured strategy whose class cannot be loaded is listed with the reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ibbot.errors import ConfigError
from ibbot.strategies import (
    SHIPPED_STRATEGIES,
    ParamInfo,
    load_strategy_class,
    param_schema,
    resolve_class_path,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ibbot.settings import Settings
    from ibbot.strategies import StrategySources

__all__ = ["CatalogueEntry", "catalogue", "print_catalogue"]


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One strategy a user can run: ``origin`` says shipped and/or configured (and disabled).

    ``params`` is None for a class without a params model (it takes its params as they come);
    ``values`` are the configured params; ``problem`` why the class could not be loaded.
    """

    name: str
    class_path: str
    origin: str
    summary: str = ""
    params: tuple[ParamInfo, ...] | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    problem: str = ""


def catalogue(settings: Settings) -> list[CatalogueEntry]:
    """The shipped strategies, then the configured ones that are not a shipped one as configured."""
    sources = settings.app.strategy_sources()
    configured = {entry.name: entry for entry in settings.strategies}
    entries: list[CatalogueEntry] = []
    for name, class_path in SHIPPED_STRATEGIES.items():
        entry = configured.get(name)
        if entry is not None and resolve_class_path(entry.class_path) == class_path:
            del configured[name]
            origin = "shipped, configured" + ("" if entry.enabled else " (disabled)")
            entries.append(_describe(name, class_path, origin, entry.params, sources))
        else:
            entries.append(_describe(name, class_path, "shipped", {}, sources))
    for name, entry in configured.items():
        origin = "configured" + ("" if entry.enabled else " (disabled)")
        entries.append(_describe(name, entry.class_path, origin, entry.params, sources))
    return entries


def _describe(
    name: str,
    class_path: str,
    origin: str,
    values: Mapping[str, Any],
    sources: StrategySources,
) -> CatalogueEntry:
    try:
        cls = load_strategy_class(class_path, sources=sources, key=f"strategies.{name}.class_path")
    except ConfigError as exc:
        return CatalogueEntry(name, class_path, origin, values=values, problem=exc.reason)
    doc = inspect.getdoc(cls) or ""
    summary = " ".join(doc.split("\n\n")[0].split())
    model = getattr(cls, "params_model", None)
    params = None if model is None else param_schema(model)
    return CatalogueEntry(name, class_path, origin, summary, params, values)


def print_catalogue(entries: list[CatalogueEntry], console: Console) -> None:
    """Each strategy: a title line, what it does, and a table of its parameters."""
    from rich import box  # noqa: PLC0415 - keeps `ibbot --help` fast
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    for index, entry in enumerate(entries):
        if index:
            console.print()
        console.print(Text(f"{entry.name}  ({entry.origin}: {entry.class_path})", style="bold"))
        if entry.problem:
            console.print(Text(f"  cannot be loaded: {entry.problem}", style="red"))
            continue
        if entry.summary:
            console.print(Text(f"  {entry.summary}"))
        if entry.params is None:
            console.print(Text("  no params model: it takes its params as they come"))
            continue
        table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
        for column in ("parameter", "type", "default", "configured", "meaning"):
            table.add_column(column, overflow="fold")
        for info in entry.params:
            value = entry.values.get(info.name)
            table.add_row(
                info.name,
                info.type,
                info.default,
                "" if value is None else str(value),
                info.description,
            )
        console.print(table)
    console.print(
        Text(
            "Set parameters in settings.toml ([[strategies]] params), with `ibbot backtest --param "
            "NAME.KEY=VALUE` or `ibbot strategies add NAME --param KEY=VALUE`."
        )
    )
