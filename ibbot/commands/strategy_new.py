"""``ibbot strategies new NAME``: write a documented strategy to start from, its test, and its entry.

The files are copies of :mod:`ibbot.strategies.template` (a channel breakout that trades, with every
hook a strategy writes explained) named after NAME: ``<directory>/NAME.py`` with the class
``<Name>Strategy`` and ``<directory>/test_NAME.py``, where ``<directory>`` is the first of
``app.strategy_paths`` (``strategies/`` by default, created when missing). Nothing is overwritten.

The strategy is then added to the settings file (``--config``, else ``./settings.toml``, created
when there is none) as a ``[[strategies]]`` table at its end, so ``ibbot backtest --strategy NAME``
and ``ibbot run`` use it at once; ``--no-register`` leaves the settings alone. The file is checked
after the edit (the settings load and the strategy builds); if not, it is put back as it was.
"""

from __future__ import annotations

import keyword
import re
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ibbot.commands.usage import usage_error
from ibbot.errors import IbbotError
from ibbot.settings import load_settings
from ibbot.strategies import create_strategy

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["class_name", "run_new"]

_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_TEMPLATE_PACKAGE: Final = "ibbot.strategies.template"
_TEMPLATE: Final = "template"
_TEMPLATE_CLASS: Final = "Template"
# The template's name as a word of its own or a part of a snake_case name (test_template).
_TEMPLATE_WORD: Final = re.compile(rf"(?<![A-Za-z0-9]){_TEMPLATE}(?![A-Za-z0-9])")
_SETTINGS_FILE: Final = Path("settings.toml")


def class_name(name: str) -> str:
    """``my_breakout`` -> ``MyBreakoutStrategy``."""
    return "".join(part.capitalize() for part in name.split("_") if part) + "Strategy"


def run_new(args: argparse.Namespace, settings: Settings) -> int:
    """Write the module and its test, add the settings entry, say what to do next."""
    name: str = args.name
    problem = _name_problem(name, settings)
    if problem:
        return usage_error(f"strategies new: {problem}")
    if not settings.app.strategy_paths:
        return usage_error(
            "strategies new: app.strategy_paths is empty, so ibbot may load no strategy file; "
            'set it (e.g. strategy_paths = ["strategies"] under [app])'
        )
    directory = settings.app.strategy_paths[0]
    module, test = directory / f"{name}.py", directory / f"test_{name}.py"
    existing = [str(path) for path in (module, test) if path.exists()]
    if existing:
        return usage_error(
            f"strategies new: {' and '.join(existing)} exist already; choose another name"
        )
    directory.mkdir(parents=True, exist_ok=True)
    module.write_text(_copy(f"{_TEMPLATE}.py", name), encoding="utf-8")
    test.write_text(_copy(f"test_{_TEMPLATE}.py", name), encoding="utf-8")
    class_path = f"{name}.{class_name(name)}"
    lines = [f"wrote {module} ({class_name(name)}: a channel breakout to make your own) and {test}"]
    if args.register:
        target = args.config or _SETTINGS_FILE
        registered = _register(target, name, class_path, args.capital)
        if registered:
            return usage_error(f"strategies new: {registered}")
        lines.append(
            f'added [[strategies]] name = "{name}", class_path = "{class_path}" to {target}'
        )
    lines += [
        "next:",
        f"  pytest {test}                 # its test",
        f"  ibbot strategies available      # {name}'s parameters",
        f"  ibbot backtest --strategy {name} --start YYYY-MM-DD --end YYYY-MM-DD",
        f"  ibbot run --duration 60         # {name} trades on the simulator with the others",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _name_problem(name: str, settings: Settings) -> str:
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        return (
            f"{name!r} is not a usable name: lowercase letters, digits and '_', starting with a "
            "letter (it names the module, the class and the strategy)"
        )
    if name.startswith("test"):
        return f"{name!r} starts with 'test': test runners would take the module for a test"
    if name == _TEMPLATE:
        return f"{name!r} is the template's own name; choose another"
    if any(entry.name == name for entry in settings.strategies):
        return f"a strategy named {name!r} is configured already"
    return ""


def _copy(filename: str, name: str) -> str:
    """The template file ``filename`` with its name replaced by ``name``."""
    text = resources.files(_TEMPLATE_PACKAGE).joinpath(filename).read_text(encoding="utf-8")
    camel = class_name(name).removesuffix("Strategy")
    text = text.replace(_TEMPLATE_CLASS, camel)
    return _TEMPLATE_WORD.sub(name, text)


def _register(target: Path, name: str, class_path: str, capital: float) -> str:
    """Append the ``[[strategies]]`` table to ``target``; a problem (the file put back) or ""."""
    if target.suffix.lower() != ".toml":
        return f"{target} is not a TOML file: add the strategy to it yourself"
    before = target.read_text(encoding="utf-8") if target.exists() else None
    entry = (
        f"\n[[strategies]]\n"
        f"# Written by `ibbot strategies new {name}`: edit its module, then backtest and run it.\n"
        f'name = "{name}"\n'
        f'class_path = "{class_path}"\n'
        f"allocated_capital = {capital!r}\n"
        "enabled = true\n"
        "params = {}\n"
    )
    text = (before or "") + ("" if not before or before.endswith("\n") else "\n") + entry
    target.write_text(text, encoding="utf-8")
    try:
        settings = load_settings(config_file=target)
        create_strategy(
            class_path,
            name=name,
            allocated_capital=capital,
            sources=settings.app.strategy_sources(),
        )
    except IbbotError as exc:
        if before is None:
            target.unlink()
        else:
            target.write_text(before, encoding="utf-8")
        return f"{target} left as it was: with the new strategy it would not load ({exc})"
    return ""
