"""Wire codec: framing, the version handshake, field encoding and the typed field reader."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibbot.sim.wire import (
    MAX_FRAME_LENGTH,
    UNSET_DOUBLE,
    FieldReader,
    FrameDecoder,
    ProtocolError,
    encode_frame,
    format_field,
    parse_handshake,
    split_fields,
)


def test_handshake_range_and_options() -> None:
    """'v157..178' and 'v100..226 +PACEAPI' parse; a single 'vN' is a one-version range."""
    hs = parse_handshake(b"v157..178")
    assert (hs.min_version, hs.max_version, hs.options) == (157, 178, "")
    hs = parse_handshake(b"v100..226 +PACEAPI")
    assert (hs.min_version, hs.max_version, hs.options) == (100, 226, "+PACEAPI")
    assert parse_handshake(b"v176").max_version == 176


@pytest.mark.parametrize("payload", [b"", b"157..178", b"v178..157", b"v1..x", b"\xff\xfe", b"vx"])
def test_bad_handshakes_are_refused(payload: bytes) -> None:
    """Anything but 'v<min>..<max>' is a protocol error."""
    with pytest.raises(ProtocolError):
        parse_handshake(payload)


def test_frames_are_cut_across_chunks() -> None:
    """A stream split anywhere yields the same frames; partial frames wait for more bytes."""
    stream = encode_frame([1, "a"]) + encode_frame([2, "bb", ""])
    decoder = FrameDecoder()
    frames: list[bytes] = []
    for i in range(len(stream)):
        frames += decoder.feed(stream[i : i + 1])
    assert [split_fields(f) for f in frames] == [["1", "a"], ["2", "bb", ""]]
    assert decoder.pending == 0


def test_oversized_length_prefix_is_refused() -> None:
    """A length prefix above the limit is a protocol error, before any body arrives."""
    decoder = FrameDecoder()
    with pytest.raises(ProtocolError, match="exceeds"):
        decoder.feed(struct.pack(">I", MAX_FRAME_LENGTH + 1))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "empty"), (b"1\x002", "NUL"), (b"\xff\x00", "UTF-8")],
)
def test_malformed_payloads_are_refused(payload: bytes, reason: str) -> None:
    """Empty payloads, a missing final NUL and non-UTF-8 bytes are protocol errors."""
    with pytest.raises(ProtocolError, match=reason):
        split_fields(payload)


def test_field_formatting() -> None:
    """None empty, bools 1/0, IB's unset double sentinel, infinity, NUL refused."""
    assert format_field(None) == ""
    assert format_field(True) == "1"
    assert format_field(7) == "7"
    assert format_field(229.51) == "229.51"
    assert format_field(UNSET_DOUBLE) == "1.7976931348623157E308"
    assert format_field(math.inf) == "Infinite"
    assert format_field(-math.inf) == "-Infinite"
    assert format_field(math.nan) == ""
    with pytest.raises(ValueError, match="NUL"):
        format_field("a\0b")


def test_field_reader_types_and_errors() -> None:
    """Typed reads: ints with defaults, numbers with unset/inf, flags; errors name the field."""
    reader = FieldReader(
        ["7", "", "1.5", "", "Infinite", "1.7976931348623157E308", "true", "0", "2"]
    )
    assert reader.integer() == 7
    assert reader.integer(default=0) == 0
    assert reader.number() == 1.5
    assert reader.number() is None
    assert reader.number() == math.inf
    assert reader.number() is None
    assert reader.flag() is True
    assert reader.flag() is False
    assert reader.flag() is True
    assert reader.remaining == 0
    assert reader.optional_text("x") == "x"
    with pytest.raises(ProtocolError, match="ends before"):
        reader.text()
    with pytest.raises(ProtocolError, match="not an integer"):
        FieldReader(["x"]).integer()
    with pytest.raises(ProtocolError, match="not a number"):
        FieldReader(["x"]).number()
    with pytest.raises(ProtocolError, match="NaN"):
        FieldReader(["nan"]).number()
    with pytest.raises(ProtocolError, match="not a boolean"):
        FieldReader(["maybe"]).flag()
    with pytest.raises(ProtocolError, match="ends before"):
        FieldReader(["1"]).skip(2)
    with pytest.raises(ProtocolError, match="ends before"):
        FieldReader([]).integer()


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)))
    )
)
def test_encode_split_round_trip(fields: list[str]) -> None:
    """Any NUL-free text fields survive encode -> frame -> split unchanged."""
    (payload,) = FrameDecoder().feed(encode_frame(fields))
    if fields:
        assert split_fields(payload) == fields
    else:
        with pytest.raises(ProtocolError, match="empty"):
            split_fields(payload)
