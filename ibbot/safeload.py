"""Parsing JSON, TOML and YAML that come from outside, within size, depth and node limits.

Python's parsers recurse once per nesting level, so 100,000 ``[`` end in a ``RecursionError`` deep
inside them, and a YAML document of a few lines can alias its way to billions of nodes. Every
document ibbot reads from outside (settings values and files, ``.env``, ``--set``, ``control.json``,
the store's own JSON) goes through here: the size is checked first, then the nesting is measured by
a linear scan that does not recurse (brackets outside strings for JSON and TOML, dotted TOML keys
too), and only then is the text parsed. YAML is composed by a loader that counts every node an
alias stands for and the depth it reaches, and stops at the limit. Any failure is a
:class:`LoadError`: one line, which never quotes the document (it may hold a secret).
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "LoadError",
    "check_json_depth",
    "load_json",
    "load_json_file",
    "load_toml",
    "load_yaml",
    "read_limited",
]

DEFAULT_MAX_DEPTH: Final = 64
"""Deeper than any document ibbot writes or reads (settings, state, audit records) needs."""

# The groups of the token patterns below (a match of none of them is a string or a comment: skipped).
_OPEN: Final = 1
_CLOSE: Final = 2
_DOT: Final = 3
_KEY_START: Final = 4
# A JSON string (escapes included), else an opening or a closing bracket.
_JSON_TOKENS: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|([\[{])|([\]}])', re.DOTALL)
# TOML: strings of the four kinds and comments are skipped; brackets nest; a dot between key parts
# nests one level too ("a.b.c = 1" is three tables deep); "=", "," and line ends start a new key.
_TOML_TOKENS: Final = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'.*?\'\'\'|"[^"\\\n]*(?:\\.[^"\\\n]*)*"|\'[^\'\n]*\''
    r"|#[^\n]*|([\[{])|([\]}])|(\.)|([=,\n])",
    re.DOTALL,
)


class LoadError(ValueError):
    """The text is not a document of the expected kind, or it is over a size, depth or node limit."""


def read_limited(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of ``path``, refused with :class:`LoadError` beyond ``max_bytes`` (read no further).

    ``OSError`` (``FileNotFoundError`` included) passes through for the caller to word.
    """
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LoadError(f"larger than {max_bytes} bytes")
    return data


def _text(data: str | bytes, max_chars: int) -> str:
    if isinstance(data, bytes):
        if len(data) > max_chars:
            raise LoadError(f"larger than {max_chars} bytes")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LoadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if len(data) > max_chars:
        raise LoadError(f"longer than {max_chars} characters")
    return data


def _too_deep(max_depth: int) -> LoadError:
    return LoadError(f"nested deeper than {max_depth} levels")


def check_json_depth(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """:class:`LoadError` when arrays and objects in ``text`` nest deeper than ``max_depth``.

    A linear scan, no recursion; brackets inside strings do not count. It does not validate.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        if match.lastindex == _OPEN:
            depth += 1
            if depth > max_depth:
                raise _too_deep(max_depth)
        elif match.lastindex == _CLOSE:
            depth -= 1


def load_json(data: str | bytes, *, max_chars: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The value of JSON ``data`` (bytes are UTF-8), within the limits; :class:`LoadError` if not."""
    text = _text(data, max_chars)
    check_json_depth(text, max_depth)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(str(exc)) from None


def load_json_file(path: Path, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The value of JSON file ``path`` within the limits; ``OSError`` passes through as is."""
    return load_json(
        read_limited(path, max_bytes=max_bytes), max_chars=max_bytes, max_depth=max_depth
    )


def _check_toml_depth(text: str, max_depth: int) -> None:
    if text.count("[") + text.count("{") + text.count(".") <= max_depth:
        return
    brackets = 0
    dots = 0
    for match in _TOML_TOKENS.finditer(text):
        kind = match.lastindex
        if kind == _OPEN:
            brackets += 1
            dots = 0
        elif kind == _CLOSE:
            brackets -= 1
            dots = 0
        elif kind == _DOT:
            dots += 1
        elif kind == _KEY_START:
            dots = 0
        if brackets + dots > max_depth:
            raise _too_deep(max_depth)


def load_toml(
    data: str | bytes, *, max_chars: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> dict[str, Any]:
    """The table of TOML ``data`` within the limits; :class:`LoadError` if not."""
    text = _text(data, max_chars)
    _check_toml_depth(text, max_depth)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(str(exc)) from None


def load_yaml(
    data: str | bytes,
    *,
    max_chars: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = 100_000,
) -> Any:
    """The value of one YAML document (safe tags only), within the limits; :class:`LoadError` if not.

    ``max_nodes`` bounds the nodes of the document *with every alias expanded*: what a consumer
    walking the value (a validator, an error message) would visit.
    """
    import yaml  # noqa: PLC0415 - only YAML documents pay for the YAML parser

    text = _text(data, max_chars)
    loader = _bounded_loader(max_depth, max_nodes)(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        # The problem and where, never the snippet of the document the default message quotes.
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = ": ".join(part for part in (exc.context, exc.problem) if part)
        raise LoadError(f"{what}{where}") from None
    except yaml.YAMLError as exc:
        raise LoadError(" ".join(str(exc).split())) from None
    finally:
        loader.dispose()


def _bounded_loader(max_depth: int, max_nodes: int) -> Any:
    import yaml  # noqa: PLC0415
    from yaml.nodes import MappingNode, Node, SequenceNode  # noqa: PLC0415

    class _BoundedLoader(yaml.SafeLoader):
        """SafeLoader whose composer measures each node: (nodes with aliases expanded, height)."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._sizes: dict[int, tuple[int, int]] = {}

        def compose_node(self, parent: Node | None, index: Any) -> Node | None:
            alias = self.check_event(yaml.AliasEvent)
            self._depth += 1
            try:
                if self._depth > max_depth:
                    raise _too_deep(max_depth)
                node = super().compose_node(parent, index)
                if node is None:
                    return None
                size = self._sizes.get(id(node))
                if size is None:
                    if alias:
                        raise LoadError("an alias refers to a node that contains it")
                    size = self._measure(node)
                    self._sizes[id(node)] = size
                count, height = size
                if count > max_nodes:
                    raise LoadError(f"aliases expand it to more than {max_nodes} nodes")
                if self._depth + height - 1 > max_depth:
                    raise _too_deep(max_depth)
                return node
            finally:
                self._depth -= 1

        def _measure(self, node: Node) -> tuple[int, int]:
            if isinstance(node, SequenceNode):
                children: list[Node] = list(node.value)
            elif isinstance(node, MappingNode):
                children = [part for pair in node.value for part in pair]
            else:
                return 1, 1
            sizes = [self._sizes[id(child)] for child in children]
            return 1 + sum(s[0] for s in sizes), 1 + max((s[1] for s in sizes), default=0)

    return _BoundedLoader
