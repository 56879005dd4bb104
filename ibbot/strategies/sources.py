"""Where a strategy class may come from: the allow-list a ``class_path`` is checked against before
anything is imported.

A class path names a module and a class in it, and importing a module runs its code (``this``
prints the Zen of Python, ``unittest.__main__`` runs the test runner and exits). Class paths come
from settings and from the control endpoint, so the module is checked against this list first, by
name and without importing anything, and nothing outside it is ever imported:

- ``ibbot.strategies`` and its modules: the strategies ibbot ships;
- a package named in ``app.strategy_packages`` and its modules, imported the normal way (the
  package must be importable: installed, or on ``PYTHONPATH``);
- a ``.py`` file inside a directory named in ``app.strategy_paths`` (by default
  :data:`USER_STRATEGIES`, ``strategies/`` in the working directory, where ``ibbot strategies new``
  writes; it need not exist): ``momentum.Momentum`` is the
  class ``Momentum`` of ``<directory>/momentum.py``, ``team.fast.Fast`` the one of
  ``<directory>/team/fast.py``. The file is loaded by its path on its own (it cannot import the
  files beside it; code shared between strategies belongs in a package), and only a file that is
  inside the directory once symbolic links are resolved.

Every part of the module's name must be an ASCII Python identifier, so a name cannot climb out of
a directory (no ``..``, no ``/``) nor alias another module through Unicode normalization.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ibbot.errors import ConfigError

__all__ = [
    "SHIPPED_ONLY",
    "SHIPPED_PACKAGE",
    "USER_STRATEGIES",
    "AllowedModule",
    "StrategySources",
    "is_module_name",
]

SHIPPED_PACKAGE: Final = "ibbot.strategies"
"""The package of the strategies ibbot ships, always allowed."""

USER_STRATEGIES: Final = Path("strategies")
"""The conventional directory of a user's strategy files (relative to the working directory): the
default of ``app.strategy_paths``, and where ``ibbot strategies new`` writes."""

# Modules loaded from a strategy directory are registered under this prefix plus a digest of the
# directory, never under their own name: a user's ``json.py`` must not replace the standard one.
_FILE_MODULE_PREFIX: Final = "_ibbot_strategy_files"


def is_module_name(name: str) -> bool:
    """True for a dotted module name made of ASCII Python identifiers (``pkg.sub.module``)."""
    return all(part.isascii() and part.isidentifier() for part in name.split("."))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@dataclass(frozen=True, slots=True)
class AllowedModule:
    """A module a class path may be loaded from, as :meth:`StrategySources.locate` found it.

    ``file`` is set for a module in a strategy directory (loaded by path under ``import_name``);
    otherwise ``import_name`` is the module's own name under an allowed package.
    """

    import_name: str
    class_name: str
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class StrategySources:
    """The allowed origins of strategy classes besides ``ibbot.strategies`` (see the module doc).

    ``packages`` and ``directories`` are taken as given: the settings validate them
    (``app.strategy_packages``, ``app.strategy_paths``).
    """

    packages: tuple[str, ...] = ()
    directories: tuple[Path, ...] = ()

    def locate(self, class_path: str, *, key: str) -> AllowedModule:
        """Where ``class_path``'s class may be loaded from; :class:`ConfigError` under ``key`` when
        it is nowhere allowed. Imports nothing."""
        module, _, class_name = class_path.rpartition(".")
        if not module or not is_module_name(class_path):
            raise ConfigError(
                key, class_path, "expected 'package.module.ClassName' (ASCII Python names)"
            )
        if _within(module, SHIPPED_PACKAGE) or any(_within(module, p) for p in self.packages):
            return AllowedModule(module, class_name)
        for directory in self.directories:
            found = self._file(directory, module, class_path, key=key)
            if found is not None:
                return AllowedModule(found[0], class_name, found[1])
        raise ConfigError(key, class_path, f"{module} is not an allowed strategy module; {self}")

    def _file(
        self, directory: Path, module: str, class_path: str, *, key: str
    ) -> tuple[str, Path] | None:
        """``(import name, file)`` of ``module`` in ``directory``, or None when it is not there."""
        *folders, stem = module.split(".")
        candidate = directory.joinpath(*folders, stem + ".py")
        if not candidate.is_file():
            return None
        base = directory.resolve()
        file = candidate.resolve()
        if not file.is_relative_to(base):
            raise ConfigError(
                key, class_path, f"{candidate} leads outside the strategy directory {directory}"
            )
        digest = hashlib.sha256(str(base).encode()).hexdigest()[:12]
        return f"{_FILE_MODULE_PREFIX}.d{digest}.{module}", file

    def __str__(self) -> str:
        packages = ", ".join((SHIPPED_PACKAGE, *self.packages))
        directories = ", ".join(str(d) for d in self.directories) or "no directory"
        return (
            f"allowed: the packages {packages} (app.strategy_packages adds more) and the .py "
            f"files in {directories} (app.strategy_paths)"
        )


SHIPPED_ONLY: Final = StrategySources()
"""Only the strategies ibbot ships."""
