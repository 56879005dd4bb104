"""One API client connection to the simulated gateway, from handshake to close.

The session reads frames, checks the message rate, and hands each request to its handler; replies go
through a bounded outbox drained by a writer task, so one slow or vanished client never stalls the
gateway (a client that stops reading until its outbox is full is disconnected, as TWS does). Any
malformed input (bad prefix, oversized length, non-text bytes, unknown message id, missing or
unparsable fields) closes this connection only, with a log line saying why; so does leaving a frame
incomplete for ``frame_timeout`` seconds, or holding the most buffered bytes when the gateway's
inbound budget runs out. Streaming subscriptions (ticks, real-time bars, keepUpToDate bars) and
large answers run as tasks in the session's task group and end with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from ibbot.sim import messages as msg
from ibbot.sim.pacing import MessageRateLimiter
from ibbot.sim.protocol import ErrorCode, In, error_text
from ibbot.sim.versions import MAX_SERVER_VERSION, MIN_SERVER_VERSION, negotiate
from ibbot.sim.wire import (
    API_PREFIX,
    FieldReader,
    FrameDecoder,
    ProtocolError,
    encode_frame,
    parse_handshake,
    split_fields,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine, Hashable

    from ibbot.sim.hub import Hub

__all__ = ["ClientSession", "SessionClosed"]

log = structlog.get_logger(__name__)

OUTBOX_LIMIT = 20_000
READ_CHUNK = 65_536
HANDSHAKE_TIMEOUT = 10.0
# The third message-rate violation ends the session (IB: "If the pacing limits are broken 3 times,
# the API session will terminate").
MAX_RATE_STRIKES = 3


class SessionClosed(Exception):
    """Raised inside a handler to end the session after its replies are flushed."""


@dataclass(frozen=True, slots=True)
class _Outgoing:
    frame: bytes
    due: float


_CLOSE = _Outgoing(b"", 0.0)


class ClientSession:
    """The gateway side of one TCP connection."""

    _numbers = itertools.count(1)

    def __init__(
        self, hub: Hub[ClientSession], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.hub = hub
        self.number = next(self._numbers)
        self.client_id: int | None = None
        # until the handshake, the newest; then the version negotiated with the client
        self.server_version = MAX_SERVER_VERSION
        self.market_data_type = 1
        self.auto_bind = False
        # account subscriptions: positions, account updates, and per-request multi/summary ones
        self.positions_subscribed = False
        self.account_updates_subscribed = False
        self.account_multi: dict[int, str] = {}
        self.positions_multi: dict[int, str] = {}
        self.account_summary: dict[int, tuple[str, ...]] = {}
        self._reader = reader
        self._writer = writer
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue(OUTBOX_LIMIT)
        # frames queued and frames handed to the socket (drained), and a wake-up for each drain
        self._queued = 0
        self._written = 0
        self._drained = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._streams: dict[Hashable, asyncio.Task[None]] = {}
        self._rate = MessageRateLimiter(hub.config.max_messages_per_second)
        self._closing = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._log = log.bind(conn=self.number, peer=self.peer)

    # ---------------------------------------------------------------- lifecycle

    async def serve(self) -> None:
        """Run the connection to its end; never raises for anything the peer did."""
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                tasks.create_task(self._write_loop())
                try:
                    await self._run()
                finally:
                    self._stop_streams()
                    self._close_outbox()
        except* (ConnectionError, OSError) as group:
            self._log.info("sim.session.connection_lost", error=repr(group.exceptions[0]))
        except* Exception as group:  # noqa: BLE001 - a bug in one handler must not take the gateway down
            self._log.error(
                "sim.session.internal_error",
                client_id=self.client_id,
                exc_info=group.exceptions[0],
            )
        finally:
            self._tasks = None
            self.hub.release(self)
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
            self._log.info("sim.session.closed", client_id=self.client_id)

    @property
    def closing(self) -> bool:
        """True once the connection is being closed (nothing more is read or sent)."""
        return self._closing

    def abort(self) -> None:
        """Drop the connection now, as a crashing or restarting gateway would."""
        self._closing = True
        self._writer.transport.abort()

    async def _run(self) -> None:
        decoder = FrameDecoder()
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                handshake_frame, pending = await self._handshake(decoder)
            handshake = parse_handshake(handshake_frame)
        except TimeoutError:
            self._log.warning("sim.session.handshake_timeout")
            return
        except (ProtocolError, asyncio.IncompleteReadError) as exc:
            self._log.warning("sim.session.bad_handshake", reason=str(exc))
            return
        negotiation = negotiate(handshake.min_version, handshake.max_version)
        self.server_version = negotiation.version
        self.send([negotiation.version, self.hub.connection_time()])
        if not negotiation.accepted:
            self._log.warning(
                "sim.session.version_refused",
                client_min=handshake.min_version,
                client_max=handshake.max_version,
                server_min=MIN_SERVER_VERSION,
                server_max=MAX_SERVER_VERSION,
            )
            self.send_error(
                -1,
                ErrorCode.UPDATE_TWS
                if negotiation.refusal == "server"
                else ErrorCode.UNSUPPORTED_VERSION,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                    await self.flushed()
            return
        self._log.info("sim.session.version", server_version=negotiation.version)
        try:
            for payload in pending:
                self._handle_frame(payload)
            await self._serve_frames(decoder)
        except ProtocolError as exc:
            self._log.warning("sim.session.malformed", reason=str(exc), client_id=self.client_id)
        except SessionClosed:
            return

    async def _serve_frames(self, decoder: FrameDecoder) -> None:
        """Read and handle requests until the peer goes; a frame must arrive whole in time.

        The clock for ``frame_timeout`` starts when a frame begins and restarts whenever one
        completes, so a client streaming many requests is never cut off, while one that sends part
        of a frame and stalls (or trickles a byte at a time) is.
        """
        loop = asyncio.get_running_loop()
        limit = self.hub.config.frame_timeout
        deadline = loop.time() + limit if decoder.pending else None
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self._reader.read(READ_CHUNK)
            except TimeoutError:
                self._log.warning(
                    "sim.session.frame_timeout",
                    client_id=self.client_id,
                    pending=decoder.pending,
                    seconds=limit,
                )
                return
            if not data:
                self._log.info("sim.session.peer_closed", client_id=self.client_id)
                return
            started = decoder.pending == 0
            frames = self._feed(decoder, data)
            if frames is None:
                return
            if decoder.pending == 0:
                deadline = None
            elif started or frames:
                deadline = loop.time() + limit
            for payload in frames:
                self._handle_frame(payload)
                if self.closing:
                    return

    async def _handshake(self, decoder: FrameDecoder) -> tuple[bytes, list[bytes]]:
        prefix = await self._reader.readexactly(len(API_PREFIX))
        if prefix != API_PREFIX:
            raise ProtocolError(f"connection does not start with API\\0 but {prefix!r}")
        while True:
            data = await self._reader.read(READ_CHUNK)
            if not data:
                raise ProtocolError("peer closed during the handshake")
            frames = self._feed(decoder, data)
            if frames is None:
                raise ProtocolError("inbound memory budget exhausted during the handshake")
            if frames:
                return frames[0], frames[1:]

    def _feed(self, decoder: FrameDecoder, data: bytes) -> list[bytes] | None:
        """Decode ``data`` and account what stays buffered; None when this session must go.

        What remains buffered counts against the gateway's inbound budget; when the budget runs
        out the connections holding the most are dropped, which may be this one.
        """
        frames = decoder.feed(data)
        victims = self.hub.inbound.hold(self, decoder.pending)
        for victim in victims:
            victim.drop_over_budget(self.hub.inbound.limit)
        return None if self in victims else frames

    def drop_over_budget(self, limit: int) -> None:
        """Close this connection: its buffered request bytes took the gateway over its budget."""
        self._log.warning("sim.session.over_budget", client_id=self.client_id, limit=limit)
        self.abort()

    # ---------------------------------------------------------------- sending

    def send(self, fields: msg.Fields) -> None:
        """Queue one message for this client; a client whose outbox overflows is dropped."""
        if self._closing or self._writer.transport.is_closing():
            return
        self.send_frame(encode_frame(fields, self.server_version))

    def send_frame(self, frame: bytes) -> None:
        """Queue one already encoded frame (see :meth:`send`)."""
        if self._closing or self._writer.transport.is_closing():
            return
        self.hub.record(self, frame)
        loop = asyncio.get_running_loop()
        item = _Outgoing(frame, loop.time() + self.hub.faults.reply_delay)
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            self._log.warning("sim.session.slow_consumer", queued=self._outbox.qsize())
            self.abort()
            return
        self._queued += 1

    async def flushed(self) -> None:
        """Return once every frame queued before the call has been handed to the socket.

        The socket's own buffer may still hold up to its high-water mark. A large answer waits for
        this before it is built and before it is queued, so a client that stops reading holds back
        its own answers (and no memory piles up for it) while every other client is served. Frames
        queued after the call do not count, so a busy quote stream never starves the answer.
        """
        target = self._queued
        while self._written < target:
            await self._drained.wait()

    def send_error(self, req_id: int, code: ErrorCode, text: str | None = None) -> None:
        """Queue an ``error`` message with IB's text for ``code`` unless ``text`` is given."""
        self.send(
            msg.error(
                req_id, int(code), text if text is not None else error_text(code, req_id=req_id)
            )
        )

    def _close_outbox(self) -> None:
        self._closing = True
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(_CLOSE)

    async def _write_loop(self) -> None:
        """Write queued frames in order, each no earlier than its due time, until the close marker."""
        loop = asyncio.get_running_loop()
        transport = self._writer.transport
        while True:
            item = await self._outbox.get()
            written = 0
            while item is not _CLOSE:
                delay = item.due - loop.time()
                if delay > 0:
                    await self._writer.drain()
                    self._wrote(written)
                    written = 0
                    await asyncio.sleep(delay)
                if transport.is_closing():
                    return
                self._writer.write(item.frame)
                written += 1
                if self._outbox.empty():
                    break
                item = self._outbox.get_nowait()  # write what is already queued, drain once
            if item is _CLOSE:
                with contextlib.suppress(ConnectionError, OSError):
                    await self._writer.drain()
                return
            await self._writer.drain()
            self._wrote(written)

    def _wrote(self, count: int) -> None:
        """``count`` more frames reached the socket: wake whoever waits in :meth:`flushed`."""
        self._written += count
        self._drained.set()
        self._drained = asyncio.Event()

    # ---------------------------------------------------------------- streams

    def start_stream(self, key: Hashable, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a subscription owned by this session (replacing one with the same key)."""
        self.stop_stream(key)
        if self._tasks is None or self._closing:
            coro.close()
            return
        task = self._tasks.create_task(coro)
        self._streams[key] = task
        task.add_done_callback(functools.partial(self._forget_stream, key))

    def stop_stream(self, key: Hashable) -> bool:
        """Cancel the subscription ``key``; True if one was running."""
        task = self._streams.pop(key, None)
        if task is None:
            return False
        task.cancel()
        return True

    def has_stream(self, key: Hashable) -> bool:
        """True while the subscription ``key`` runs."""
        return key in self._streams

    def stream_keys(self) -> list[Hashable]:
        """The keys of every running subscription."""
        return list(self._streams)

    def _forget_stream(self, key: Hashable, task: asyncio.Task[None]) -> None:
        if self._streams.get(key) is task:
            del self._streams[key]

    def _stop_streams(self) -> None:
        for key in list(self._streams):
            self.stop_stream(key)

    # ---------------------------------------------------------------- dispatch

    def _handle_frame(self, payload: bytes) -> None:
        fields = split_fields(payload)
        if not fields:
            raise ProtocolError("frame has no fields")
        try:
            msg_id = int(fields[0])
        except ValueError as exc:
            raise ProtocolError(f"message id {fields[0][:20]!r} is not a number") from exc
        if self.client_id is None:
            if msg_id != In.START_API:
                raise ProtocolError(f"expected startApi (71) first, got message {msg_id}")
            self._start_api(FieldReader(fields, start=1))
            return
        strikes = self._rate.admit()
        if strikes is not None:
            self._rate_violation(strikes)
            return
        handler = self.hub.handlers.get(msg_id)
        if handler is None:
            raise ProtocolError(f"unknown message id {msg_id}")
        handler(self, FieldReader(fields, start=1))

    def _rate_violation(self, strikes: int) -> None:
        text = error_text(
            ErrorCode.MAX_RATE_EXCEEDED,
            limit=self._rate.limit,
            received=self._rate.received_last_second() + 1,
            strikes=strikes,
        )
        self.send_error(-1, ErrorCode.MAX_RATE_EXCEEDED, text)
        self._log.warning("sim.session.rate_exceeded", client_id=self.client_id, strikes=strikes)
        if strikes >= MAX_RATE_STRIKES:
            raise SessionClosed

    def _start_api(self, reader: FieldReader) -> None:
        reader.integer()  # version
        client_id = reader.integer()
        reader.optional_text()  # optional capabilities
        if not self.hub.claim(self, client_id):
            self._log.warning("sim.session.client_id_in_use", client_id=client_id)
            self.send_error(-1, ErrorCode.CLIENT_ID_IN_USE)
            raise SessionClosed
        self.client_id = client_id
        self._log = self._log.bind(client_id=client_id)
        self._log.info("sim.session.api_started")
        self.hub.greet(self)
