"""The two real TWS clients' encoders and decoders, run without a socket, for codec unit tests.

``Capturing*`` clients capture the exact fields ib_async 2.1 and IB's ``ibapi`` write for a request
at a server version (178 unless told; their real message-building code, with only the final socket
write replaced), and ``decode_*`` feed the gateway's frames, encoded at a version, to each client's
real decoder and record the callbacks it makes. Nothing of either library is patched.
"""

from __future__ import annotations

from datetime import UTC
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ib_async.client import Client
from ib_async.decoder import Decoder as IbAsyncDecoder
from ibapi.client import EClient
from ibapi.decoder import Decoder as IbapiDecoder

from ibbot.sim.wire import SERVER_VERSION, encode_frame, split_fields

if TYPE_CHECKING:
    from collections.abc import Iterator


class Recorder:
    """A wrapper that records every callback a decoder makes as ``(name, args)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.unread = 0
        self.ib = SimpleNamespace(TimezoneTWS="")
        self.defaultTimezone = UTC

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record

    def named(self, name: str) -> list[tuple[Any, ...]]:
        """The argument tuples of every call to ``name``."""
        return [args for called, args in self.calls if called == name]


class CapturingClient(Client):
    """ib_async's Client at a server version (178 unless told), capturing the fields it would send."""

    def __init__(self, version: int = SERVER_VERSION) -> None:
        super().__init__(wrapper=None)
        self.connState = Client.CONNECTED
        self._serverVersion = version
        self.sent: list[list[str]] = []

    def sendMsg(self, msg: str) -> None:
        self.sent.append(msg.split("\0")[:-1])


class CapturingEClient(EClient):
    """IB's EClient at a server version (178 unless told), capturing the fields it would send."""

    def __init__(self, version: int = SERVER_VERSION) -> None:
        super().__init__(wrapper=Recorder())
        self.version = version
        self.sent: list[list[str]] = []

    def isConnected(self) -> bool:
        return True

    def serverVersion(self) -> int:
        return self.version

    def sendMsg(self, msg_id: int, msg: str) -> None:  # ibapi calls it positionally
        self.sent.append([str(msg_id), *msg.split("\0")[:-1]])


def decode_ib_async(fields: list[object], version: int = SERVER_VERSION) -> Recorder:
    """Run one gateway message, encoded at ``version``, through ib_async's decoder."""
    recorder = Recorder()
    decoder = IbAsyncDecoder(recorder, version)
    payload = encode_frame(fields, version)[4:]
    decoder.interpret(split_fields(payload))
    return recorder


class _CountedFields(tuple[bytes, ...]):
    """A message's fields that count how many of them a decoder iterating over them has taken."""

    taken = 0

    def __iter__(self) -> Iterator[bytes]:
        for field in super().__iter__():
            self.taken += 1
            yield field


def decode_ibapi(fields: list[object], version: int = SERVER_VERSION) -> Recorder:
    """Run one gateway message, encoded at ``version``, through IB's official decoder.

    ``recorder.unread`` is how many fields the decoder left unread (IB's decoder takes a message
    field by field, so a layout that does not match the version leaves fields over or runs short).
    """
    recorder = Recorder()
    decoder = IbapiDecoder(recorder, version)
    payload = encode_frame(fields, version)[4:]
    parts = payload.split(b"\0")[:-1]
    counted = _CountedFields(parts[1:])
    decoder.interpret(counted, int(parts[0]))
    recorder.unread = len(counted) - counted.taken
    return recorder
