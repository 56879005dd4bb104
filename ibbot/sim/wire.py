"""The TWS socket protocol's framing and field encoding, as the simulated gateway speaks it.

After the client's ``API\\0`` prefix every message in both directions is a 4-byte big-endian length
followed by that many bytes of NUL-terminated text fields; the first field is the message id. This
module turns bytes into field lists and back, parses the version handshake, and offers a cursor
(:class:`FieldReader`) that reads typed fields and says plainly what was wrong when a field is
missing or malformed. It knows nothing about what the messages mean.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ibbot.sim.versions import MAX_SERVER_VERSION, Versioned

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "API_PREFIX",
    "MAX_FRAME_LENGTH",
    "SERVER_VERSION",
    "UNSET_DOUBLE",
    "UNSET_DOUBLE_TEXT",
    "UNSET_INTEGER",
    "FieldReader",
    "FrameDecoder",
    "Handshake",
    "ProtocolError",
    "encode_fields",
    "encode_frame",
    "fields_at",
    "format_field",
    "format_float",
    "frame_of",
    "parse_handshake",
    "split_fields",
]

API_PREFIX = b"API\0"
# The newest protocol version this gateway speaks (see ibbot.sim.versions for the range and what
# differs inside it); a session speaks the version it negotiated. Below 201 every message stays
# NUL-separated text with a text message id.
SERVER_VERSION = MAX_SERVER_VERSION
# Client requests are a few hundred bytes (a placeOrder with conditions a few KB); anything near this
# is garbage or an attack, and the connection is closed rather than buffered.
MAX_FRAME_LENGTH = 1 << 20
# IB's "no value" sentinels: Java's Double.MAX_VALUE and Integer.MAX_VALUE.
UNSET_DOUBLE = 1.7976931348623157e308
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
UNSET_INTEGER = 2**31 - 1

_LENGTH = struct.Struct(">I")
_HANDSHAKE = re.compile(r"v(\d{1,6})(?:\.\.(\d{1,6}))?(?: (.*))?", re.DOTALL)


class ProtocolError(ValueError):
    """A peer sent bytes that are not a valid TWS protocol message; the connection is closed."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """The client's version announcement: ``v<min>..<max>`` plus optional connect options."""

    min_version: int
    max_version: int
    options: str = ""


def parse_handshake(payload: bytes) -> Handshake:
    """Parse the length-prefixed text after ``API\\0`` (e.g. ``v157..178`` or ``v100..226 +PACEAPI``)."""
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ProtocolError("handshake is not ASCII text") from exc
    match = _HANDSHAKE.fullmatch(text)
    if match is None:
        raise ProtocolError(f"handshake {text[:40]!r} is not 'v<min>..<max>'")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    if low > high:
        raise ProtocolError(f"handshake range v{low}..{high} is empty")
    return Handshake(low, high, (match.group(3) or "").strip())


class FrameDecoder:
    """Cuts a byte stream into length-prefixed frames, refusing oversized length prefixes."""

    __slots__ = ("_buffer", "_max_length")

    def __init__(self, max_length: int = MAX_FRAME_LENGTH) -> None:
        self._buffer = bytearray()
        self._max_length = max_length

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete frame payload now available, in order."""
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > self._max_length:
                raise ProtocolError(f"frame length {length} exceeds {self._max_length}")
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[_LENGTH.size : end]))
            del self._buffer[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete frame."""
        return len(self._buffer)


def split_fields(payload: bytes) -> list[str]:
    """Split a frame payload into its text fields (the payload must end with a NUL)."""
    if not payload:
        raise ProtocolError("empty frame")
    if not payload.endswith(b"\0"):
        raise ProtocolError("frame does not end with a NUL field terminator")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("frame is not UTF-8 text") from exc
    return text.split("\0")[:-1]


def format_float(value: float) -> str:
    """A double as text: shortest round-trip form, IB's sentinel for unset, ``Infinite`` for infinity."""
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "Infinite" if value > 0 else "-Infinite"
    if value >= UNSET_DOUBLE:
        return UNSET_DOUBLE_TEXT
    return repr(float(value))


def format_field(value: object) -> str:
    """Encode one outgoing field: None -> empty, bool -> 1/0, float via :func:`format_float`."""
    if isinstance(value, str):
        text = value
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return "1" if value else "0"
    elif isinstance(value, int):  # int and the IntEnum message ids
        return str(int(value))
    elif isinstance(value, float):
        return format_float(value)
    else:
        text = str(value)
    if "\0" in text:
        raise ValueError("a TWS field cannot contain a NUL character")
    return text


def fields_at(fields: Iterable[object], version: int) -> list[object]:
    """The fields of a message as written at ``version``: each :class:`Versioned` mark resolved."""
    return [
        f.value if isinstance(f, Versioned) else f
        for f in fields
        if not isinstance(f, Versioned) or f.present_at(version)
    ]


def encode_fields(fields: Iterable[object], version: int = SERVER_VERSION) -> bytes:
    """The payload of one message at protocol ``version``: every field NUL-terminated, UTF-8."""
    texts = [format_field(f) for f in fields_at(fields, version)]
    return ("\0".join(texts) + "\0").encode("utf-8") if texts else b""


def encode_frame(fields: Iterable[object], version: int = SERVER_VERSION) -> bytes:
    """A complete length-prefixed frame for ``fields`` at protocol ``version``."""
    return frame_of(encode_fields(fields, version))


def frame_of(payload: bytes) -> bytes:
    """A complete frame around an encoded payload (for messages encoded piece by piece)."""
    return _LENGTH.pack(len(payload)) + payload


class FieldReader:
    """A cursor over one message's fields with typed reads.

    Every read raises :class:`ProtocolError` naming the field position and what was expected, so a
    malformed request closes its connection with a log line that says why.
    """

    __slots__ = ("_fields", "_pos")

    def __init__(self, fields: Sequence[str], start: int = 0) -> None:
        self._fields = fields
        self._pos = start

    @property
    def remaining(self) -> int:
        """How many fields are left."""
        return len(self._fields) - self._pos

    def text(self) -> str:
        """The next field as text."""
        if self._pos >= len(self._fields):
            raise ProtocolError(f"message ends before field {self._pos}")
        value = self._fields[self._pos]
        self._pos += 1
        return value

    def optional_text(self, default: str = "") -> str:
        """The next field as text, or ``default`` when the message has already ended."""
        return self.text() if self._pos < len(self._fields) else default

    def integer(self, default: int | None = None) -> int:
        """The next field as an int; an empty field gives ``default`` (an error when None)."""
        raw = self.text()
        if raw == "" and default is not None:
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise ProtocolError(f"field {self._pos - 1}: {raw[:30]!r} is not an integer") from exc

    def number(self) -> float | None:
        """The next field as a float; empty or IB's unset sentinel gives None."""
        raw = self.text()
        if raw == "":
            return None
        if raw == "Infinite":
            return math.inf
        try:
            value = float(raw)
        except ValueError as exc:
            raise ProtocolError(f"field {self._pos - 1}: {raw[:30]!r} is not a number") from exc
        if math.isnan(value):
            raise ProtocolError(f"field {self._pos - 1}: NaN is not a valid number")
        return None if value >= UNSET_DOUBLE else value

    def flag(self) -> bool:
        """The next field as a boolean (``1``/``0``, ``true``/``false``; empty is False)."""
        raw = self.text().strip().lower()
        if raw in ("", "0", "false"):
            return False
        if raw in ("1", "true"):
            return True
        try:
            return int(raw) != 0
        except ValueError as exc:
            raise ProtocolError(f"field {self._pos - 1}: {raw[:30]!r} is not a boolean") from exc

    def skip(self, count: int = 1) -> None:
        """Step over ``count`` fields, which must exist."""
        if self._pos + count > len(self._fields):
            raise ProtocolError(f"message ends before field {self._pos + count - 1}")
        self._pos += count
