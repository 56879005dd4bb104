"""Crash-safe file writes: a file is either its old complete self or its new complete self.

The recipe: write the new content to a temporary file in the *same directory* (so the rename cannot
cross file systems), flush and ``fsync`` it, ``os.replace`` it over the target (atomic on POSIX and
Windows), then ``fsync`` the directory so the rename itself survives a power cut. Temporary names
start with a dot and end in ``.tmp``: every reader of the store, and pyarrow's dataset discovery
(which skips names starting with ``.`` or ``_``), ignores them, so a crash mid-write leaves at most
an inert leftover, never a half-written data file.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from ibbot.errors import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "TEMP_SUFFIX",
    "atomic_write",
    "atomic_write_bytes",
    "ensure_dir",
    "fsync_dir",
    "fsync_file",
    "leftover_temp_files",
    "make_dirs",
    "remove_leftover_temp_files",
    "replace_file",
    "temp_path",
]

TEMP_SUFFIX = ".tmp"
# What temp_path makes: ".<name>.<pid of the writer>-<8 hex digits>.tmp".
_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d{1,10})-[0-9a-f]{8}\.tmp$")


def fsync_file(path: Path) -> None:
    """Force ``path``'s content to stable storage."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Force ``path``'s directory entries (renames, new files) to stable storage.

    Windows cannot open directories; there the rename is already durable when it returns.
    """
    if os.name == "nt":  # pragma: no cover - POSIX CI
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create ``path`` and missing parents, making each new directory entry durable."""
    unsynced = make_dirs(path)
    try:
        for directory in unsynced:
            fsync_dir(directory)
    except OSError as exc:
        raise StoreError(f"cannot create directory {path}: {exc}") from exc


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and missing parents; return the directories to fsync to make them durable.

    :func:`ensure_dir` fsyncs them at once; a writer that must not wait for the disk now (an
    audit line on the event loop) fsyncs them later, with the file.
    """
    if path.is_dir():
        return []
    missing = [path]
    missing.extend(p for p in path.parents if not p.is_dir())
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create directory {path}: {exc}") from exc
    return [created.parent for created in missing]


def temp_path(target: Path) -> Path:
    """A fresh temporary name beside ``target`` that no reader mistakes for data."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def replace_file(source: Path, target: Path) -> None:
    """Atomically move ``source`` over ``target`` (the single commit point of every write)."""
    os.replace(source, target)


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Produce ``target`` atomically: ``write(tmp)`` fills a temporary file that then replaces it.

    On any failure the temporary file is removed, ``target`` keeps its previous content, and the
    error is raised as a :class:`StoreError` naming ``target``.
    """
    ensure_dir(target.parent)
    tmp = temp_path(target)
    try:
        write(tmp)
        fsync_file(tmp)
        replace_file(tmp, target)
        fsync_dir(target.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, StoreError | OSError):
            raise StoreError(f"cannot write {target}: {exc}") from exc
        raise


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Replace ``target``'s content with ``data`` atomically (see :func:`atomic_write`)."""

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write(target, write)


def leftover_temp_files(root: Path) -> list[Path]:
    """The temporary files under ``root`` whose writer is gone: what a killed write leaves behind.

    A temporary file names the process that writes it (:func:`temp_path`). It is a leftover when
    no process of that id runs, or when the id is this process's own: called before this process
    writes to ``root``, that is an earlier life of the same id (a container restarts its program
    under the same pid). Files of a process still running are left alone.
    """
    found: list[Path] = []
    for directory, _, names in os.walk(root):
        for name in names:
            match = _TEMP_NAME.match(name)
            if match is not None and not _writer_alive(int(match["pid"])):
                found.append(Path(directory) / name)
    return sorted(found)


def remove_leftover_temp_files(root: Path) -> tuple[list[Path], list[str]]:
    """Remove :func:`leftover_temp_files`; return those removed and why any others could not be."""
    removed: list[Path] = []
    failed: list[str] = []
    for path in leftover_temp_files(root):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            failed.append(f"{path}: {exc}")
        else:
            removed.append(path)
    return removed, failed


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    if os.name == "nt":  # pragma: no cover - POSIX CI; Windows has no harmless liveness probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, OSError):
        return True  # another user's process, or an id the system cannot probe: keep its files
    return True
