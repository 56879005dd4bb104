"""The package dependency rules of DESIGN.md section 2, checked on the source with ``ast``.

Every ``import`` in ``ibbot/`` counts, wherever it stands: at the top, inside a function, or under
``if TYPE_CHECKING:`` (a type-only import is still an arrow a reader must follow, and the first thing
a refactor turns into a runtime one). ``from package import name`` points at the submodule when
``name`` is one, else at the package.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "ibbot"

# The simulator's connection side: the gateway, its control interface and CLI, the per-connection
# sessions, the hub that wires services to sessions, and the dispatch table.
SIM_SESSION_SIDE = frozenset(
    {
        "ibbot.sim",
        "ibbot.sim.__main__",
        "ibbot.sim.cli",
        "ibbot.sim.control",
        "ibbot.sim.gateway",
        "ibbot.sim.handlers",
        "ibbot.sim.hub",
        "ibbot.sim.session",
    }
)
# The simulator's services: they answer requests and publish to clients through ibbot.sim.ports.
# Every other ibbot.sim module is domain or codec, below the services.
SIM_SERVICES = frozenset(
    {"ibbot.sim.accounts", "ibbot.sim.market_data", "ibbot.sim.orders", "ibbot.sim.secdef"}
)
# What the pure matching engine may use: its own package and ibbot's plain value modules.
EXCHANGE_ALLOWED = ("ibbot.exchange", "ibbot.models", "ibbot.clock", "ibbot.errors", "ibbot.seeds")
# Libraries that do I/O or run servers: never in the engine or in a strategy.
IO_LIBRARIES = frozenset(
    {
        "aiohttp",
        "asyncio",
        "duckdb",
        "ftplib",
        "http",
        "httpx",
        "ib_async",
        "pandas",
        "polars",
        "pyarrow",
        "requests",
        "selectors",
        "shelve",
        "smtplib",
        "socket",
        "socketserver",
        "sqlite3",
        "ssl",
        "subprocess",
        "urllib",
        "uvloop",
    }
)
STRATEGIES_ALLOWED = ("ibbot.strategies", "ibbot.models", "ibbot.errors")


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, where it stands, and how it reads."""

    source: str
    target: str
    line: int
    text: str

    def __str__(self) -> str:
        path = ROOT.parent / (self.source.replace(".", "/") + ".py")
        if not path.exists():
            path = path.with_suffix("") / "__init__.py"
        return f"{path.relative_to(ROOT.parent)}:{self.line}: {self.text}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(base: str, names: list[str], modules: dict[str, Path]) -> list[str]:
    """The modules ``from base import names`` reaches: each submodule named, else the package."""
    targets = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
    if len(targets) < len(names):
        targets.append(base)
    return targets


def _imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    code = path.read_text(encoding="utf-8")
    tree = ast.parse(code, filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        text = " ".join((ast.get_source_segment(code, node) or "").split())
        if isinstance(node, ast.Import):
            found.extend(Import(module, a.name, node.lineno, text) for a in node.names)
        else:
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            targets = _resolve(base, [a.name for a in node.names], modules)
            found.extend(Import(module, target, node.lineno, text) for target in targets)
    return found


@functools.cache
def _graph() -> dict[str, list[Import]]:
    modules = _modules()
    return {name: _imports_of(name, path, modules) for name, path in modules.items()}


def _within(target: str, packages: tuple[str, ...] | frozenset[str]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in packages)


def _offending(source_packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        str(imp)
        for module, imports in _graph().items()
        if _within(module, source_packages)
        for imp in imports
        if _within(imp.target, forbidden)
    ]


def _find_cycle(edges: dict[str, dict[str, Import]]) -> list[Import] | None:
    """One import cycle among ``edges`` (as the imports that close it), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[Import] = []

    def visit(node: str) -> list[Import] | None:
        state[node] = 1
        for target, imp in sorted(edges.get(node, {}).items()):
            if state.get(target) == 1:  # back to a module on the path: the path from it is a cycle
                start = next(i for i, p in enumerate(path) if p.source == target)
                return [*path[start:], imp]
            if target not in state:
                path.append(imp)
                found = visit(target)
                if found is not None:
                    return found
                path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found is not None:
                return found
    return None


def _describe(cycle: list[Import]) -> str:
    chain = " -> ".join([*(i.source for i in cycle), cycle[0].source])
    return chain + "\n" + "\n".join(f"  {i}" for i in cycle)


@pytest.mark.parametrize("package", ["ibbot.sim", "ibbot.exchange"])
def test_no_import_cycles_inside_the_package(package: str) -> None:
    """No chain of imports among a package's modules (type-only ones included) leads back to its start."""
    edges: dict[str, dict[str, Import]] = {}
    for module, imports in _graph().items():
        if not _within(module, (package,)):
            continue
        for imp in imports:
            if _within(imp.target, (package,)) and imp.target != module:
                edges.setdefault(module, {}).setdefault(imp.target, imp)
    assert edges, f"{package} has no internal imports: is the package name right?"
    cycle = _find_cycle(edges)
    assert cycle is None, f"import cycle in {package}: " + _describe(cycle or [])


def test_the_exchange_is_pure() -> None:
    """ibbot.exchange imports only itself and ibbot's value modules: no sim, broker, backtest or I/O."""
    assert "ibbot.exchange" in _graph(), "the matching engine lives in the package ibbot.exchange"
    bad = [
        str(imp)
        for module, imports in _graph().items()
        if _within(module, ("ibbot.exchange",))
        for imp in imports
        if (imp.target.startswith("ibbot") and not _within(imp.target, EXCHANGE_ALLOWED))
        or imp.target.partition(".")[0] in IO_LIBRARIES
    ]
    assert not bad, "ibbot.exchange must stay pure, but it imports:\n" + "\n".join(bad)


def test_the_backtest_does_not_use_the_simulator() -> None:
    """ibbot.backtest reaches the matching engine through ibbot.exchange, never through ibbot.sim."""
    bad = _offending(("ibbot.backtest",), ("ibbot.sim",))
    assert not bad, "ibbot.backtest must not import ibbot.sim:\n" + "\n".join(bad)


def test_simulator_arrows_run_from_sessions_to_services_to_domain() -> None:
    """Sim services never import the session side; domain modules import neither side."""
    missing = (SIM_SESSION_SIDE | SIM_SERVICES) - _graph().keys()
    assert not missing, f"update the layer lists of this test: {sorted(missing)} no longer exist"
    bad: list[str] = []
    for module, imports in _graph().items():
        if not _within(module, ("ibbot.sim",)) or module in SIM_SESSION_SIDE:
            continue
        above = SIM_SESSION_SIDE if module in SIM_SERVICES else SIM_SESSION_SIDE | SIM_SERVICES
        layer = "service" if module in SIM_SERVICES else "domain"
        bad.extend(f"{imp} ({layer} -> {imp.target})" for imp in imports if imp.target in above)
    assert not bad, (
        "ibbot.sim arrows must run session side -> services -> domain (services publish through "
        "ibbot.sim.ports); these point back up:\n" + "\n".join(bad)
    )


def test_only_the_broker_imports_ib_async() -> None:
    """ib_async is imported by ibbot.broker and nowhere else in ibbot."""
    bad = [
        str(imp)
        for module, imports in _graph().items()
        if not _within(module, ("ibbot.broker",))
        for imp in imports
        if imp.target.partition(".")[0] == "ib_async"
    ]
    assert not bad, "only ibbot.broker may import ib_async:\n" + "\n".join(bad)


def test_strategies_import_nothing_that_does_io() -> None:
    """ibbot.strategies imports only ibbot.models, ibbot.errors, itself and no I/O library."""
    bad = [
        str(imp)
        for module, imports in _graph().items()
        if _within(module, ("ibbot.strategies",))
        for imp in imports
        if (imp.target.startswith("ibbot") and not _within(imp.target, STRATEGIES_ALLOWED))
        or imp.target.partition(".")[0] in IO_LIBRARIES
    ]
    assert not bad, "ibbot.strategies must not import I/O:\n" + "\n".join(bad)


def test_the_checker_sees_type_only_and_relative_imports(tmp_path: Path) -> None:
    """Imports under TYPE_CHECKING, inside functions and relative ones all count as arrows."""
    source = tmp_path / "ibbot" / "sim" / "probe.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ibbot.sim.hub import Hub\n"
        "def f():\n"
        "    from . import session\n",
        encoding="utf-8",
    )
    modules = {"ibbot.sim.probe": source, "ibbot.sim.hub": source, "ibbot.sim.session": source}
    targets = {i.target for i in _imports_of("ibbot.sim.probe", source, modules)}
    assert {"ibbot.sim.hub", "ibbot.sim.session"} <= targets


def test_the_cycle_finder_names_every_import_of_a_cycle() -> None:
    """A three-module loop is reported as the three imports that form it."""

    def imp(source: str, target: str) -> Import:
        return Import(source, target, 1, f"import {target}")

    edges = {
        "a": {"b": imp("a", "b")},
        "b": {"c": imp("b", "c")},
        "c": {"a": imp("c", "a"), "d": imp("c", "d")},
    }
    cycle = _find_cycle(edges)
    assert cycle is not None
    assert [i.source for i in cycle] == ["a", "b", "c"]
    assert _find_cycle({"a": {"b": imp("a", "b")}}) is None
