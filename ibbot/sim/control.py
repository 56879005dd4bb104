"""The control interface: fault injection and the gateway's truth as JSON over HTTP on loopback.

A deliberately tiny HTTP/1.1 server on asyncio streams (one request per connection, JSON in and
out), so a shell (``curl``), a test in another process or a CI script can script the gateway. Every
command is listed, with its parameters, by ``GET /``; bodies are validated with pydantic and bad
input gets a 400 with a message saying what was wrong. Numbers must be JSON numbers (not strings or
booleans), finite (``NaN`` and ``Infinity`` are refused while parsing) and within each parameter's
range: one bad value must never reach the exchange, whose cash and P&L every client sees.

=============  ======  ==========================================  ================================
path           method  body                                        effect
=============  ======  ==========================================  ================================
``/``          GET                                                 the command list
``/truth``     GET                                                 orders, executions, positions,
                                                                   account, clients, faults
``/drop``      POST                                                close every API connection
``/restart``   POST    ``{"seconds": 5}``                          drop all, refuse connections
``/notice``    POST    ``{"code": 1100}``                          send a system notice to all
``/pacing``    POST    ``{"count": 3}``                            next K data requests violate
``/strict-pacing`` POST ``{"strict": true}``                       small-bar historical rules for
                                                                   every bar size (false: IB's)
``/reject``    POST    ``{"count": 1, "code": 201, "message": ""}``  reject the next K orders
``/withhold``  POST    ``{"messages": ["positionEnd"]}``           never send these End messages
``/no-data``   POST    ``{"symbols": ["MSFT"], "release": false}``  no live data for these symbols
                                                                   (release: resume; [] = all)
``/no-subscription``   POST  ``{"symbols": ["KO"], "release": false}``  delayed data only for
                                                                   these symbols (no live
                                                                   subscription; release: live)
``/delay``     POST    ``{"ms": 250}``                             delay every reply
``/fill``      POST    ``{"client_id": 1, "order_id": 7}``         fill an open order now
``/price``     POST    ``{"symbol": "AAPL", "price": 90.5}``       the exchange trades the symbol
                                                                   at this price (null: release)
``/clear``     POST                                                clear every fault
=============  ======  ==========================================  ================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ibbot.sim.orders import MAX_FILL_PRICE

__all__ = ["COMMANDS", "ControlServer", "FaultTarget"]

log = structlog.get_logger(__name__)

MAX_LINE = 8192
MAX_HEADERS = 64
MAX_BODY = 65_536
REQUEST_TIMEOUT = 10.0


class FaultTarget(Protocol):
    """What the control interface drives: the fault API of :class:`~ibbot.sim.gateway.SimulatedGateway`."""

    def truth(self) -> dict[str, Any]: ...
    def drop_connections(self) -> int: ...
    async def restart(self, seconds: float) -> int: ...
    def send_notice(self, code: int) -> int: ...
    def force_pacing_violations(self, count: int) -> None: ...
    def set_strict_pacing(self, strict: bool) -> None: ...
    def reject_next_orders(self, count: int = 1, *, code: int = 201, message: str = "") -> None: ...
    def withhold_end_messages(self, *names: str) -> None: ...
    def withhold_market_data(self, *symbols: str) -> None: ...
    def release_market_data(self, *symbols: str) -> None: ...
    def remove_live_subscription(self, *symbols: str) -> None: ...
    def restore_live_subscription(self, *symbols: str) -> None: ...
    def delay_replies(self, milliseconds: float) -> None: ...
    def fill_order(
        self, client_id: int, order_id: int, price: float | None = None
    ) -> dict[str, Any]: ...
    def set_price(self, symbol: str, price: float | None) -> dict[str, Any]: ...
    def clear_faults(self) -> None: ...


# IB's ids and error codes are Java ints; error codes are at most five digits.
_INT32_MAX = 2**31 - 1
_MAX_ERROR_CODE = 99_999


class _Empty(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class _Restart(_Empty):
    seconds: float = Field(ge=0, le=86_400, description="how long connections are refused")


class _Notice(_Empty):
    code: int = Field(
        ge=0,
        le=_MAX_ERROR_CODE,
        description="1100, 1101, 1102, 2103, 2104, 2105, 2106, 2157 or 2158",
    )


class _Count(_Empty):
    count: int = Field(ge=0, le=1_000_000, description="how many upcoming requests are affected")


class _Strict(_Empty):
    strict: bool = Field(
        description="true: IB's small-bar historical rules for every bar size; false: IB's rules"
    )


class _Reject(_Empty):
    count: int = Field(default=1, ge=0, le=1_000_000, description="how many upcoming orders")
    code: int = Field(
        default=201, ge=1, le=_MAX_ERROR_CODE, description="IB error code of the rejection"
    )
    message: str = Field(default="", max_length=500, description="IB's text (default: the code's)")


class _Withhold(_Empty):
    messages: list[str] = Field(
        max_length=100,
        description="positionEnd, openOrderEnd, completedOrdersEnd, accountDownloadEnd, "
        "accountUpdateMultiEnd, execDetailsEnd",
    )


class _NoData(_Empty):
    symbols: list[str] = Field(
        default_factory=list, max_length=1_000, description="symbols the gateway lists"
    )
    release: bool = Field(
        default=False, description="resume these symbols' data instead (no symbols: all)"
    )


class _Delay(_Empty):
    ms: float = Field(ge=0, le=600_000, description="milliseconds every reply is held back")


class _Fill(_Empty):
    client_id: int = Field(ge=0, le=_INT32_MAX, description="the client id that placed the order")
    order_id: int = Field(ge=1, le=_INT32_MAX, description="that client's order id")
    price: float | None = Field(
        default=None,
        gt=0,
        le=MAX_FILL_PRICE,
        description="fill price (default: the market); finite, above 0",
    )


class _Price(_Empty):
    symbol: str = Field(
        min_length=1,
        max_length=12,
        pattern=r"^[A-Z0-9.]+$",
        description="a symbol the gateway lists",
    )
    price: float | None = Field(
        gt=0,
        le=MAX_FILL_PRICE,
        description="the price it trades at from now on (null: the market again); finite, above 0",
    )


@dataclass(frozen=True, slots=True)
class _Command:
    method: str
    body: type[_Empty]
    summary: str
    run: Callable[[FaultTarget, Any], Awaitable[dict[str, Any]]]


async def _truth(gw: FaultTarget, _: _Empty) -> dict[str, Any]:
    return gw.truth()


async def _drop(gw: FaultTarget, _: _Empty) -> dict[str, Any]:
    return {"dropped": gw.drop_connections()}


async def _restart(gw: FaultTarget, body: _Restart) -> dict[str, Any]:
    return {"dropped": await gw.restart(body.seconds), "refusing_for": body.seconds}


async def _notice(gw: FaultTarget, body: _Notice) -> dict[str, Any]:
    return {"code": body.code, "clients": gw.send_notice(body.code)}


async def _pacing(gw: FaultTarget, body: _Count) -> dict[str, Any]:
    gw.force_pacing_violations(body.count)
    return {"forced_pacing_violations": body.count}


async def _strict_pacing(gw: FaultTarget, body: _Strict) -> dict[str, Any]:
    gw.set_strict_pacing(body.strict)
    return {"strict_pacing": body.strict}


async def _reject(gw: FaultTarget, body: _Reject) -> dict[str, Any]:
    gw.reject_next_orders(body.count, code=body.code, message=body.message)
    return {"reject_next": body.count, "code": body.code}


async def _withhold(gw: FaultTarget, body: _Withhold) -> dict[str, Any]:
    gw.withhold_end_messages(*body.messages)
    return {"withheld": gw.truth()["faults"]["withheld"]}


async def _no_data(gw: FaultTarget, body: _NoData) -> dict[str, Any]:
    if body.release:
        gw.release_market_data(*body.symbols)
    elif not body.symbols:
        raise ValueError('name the symbols whose live data to withhold (or set "release": true)')
    else:
        gw.withhold_market_data(*body.symbols)
    return {"no_data": gw.truth()["faults"]["no_data"]}


async def _no_subscription(gw: FaultTarget, body: _NoData) -> dict[str, Any]:
    if body.release:
        gw.restore_live_subscription(*body.symbols)
    elif not body.symbols:
        raise ValueError('name the symbols whose live subscription to remove (or "release": true)')
    else:
        gw.remove_live_subscription(*body.symbols)
    return {"no_subscription": gw.truth()["faults"]["no_subscription"]}


async def _delay(gw: FaultTarget, body: _Delay) -> dict[str, Any]:
    gw.delay_replies(body.ms)
    return {"reply_delay_ms": body.ms}


async def _fill(gw: FaultTarget, body: _Fill) -> dict[str, Any]:
    return gw.fill_order(body.client_id, body.order_id, body.price)


async def _price(gw: FaultTarget, body: _Price) -> dict[str, Any]:
    return gw.set_price(body.symbol, body.price)


async def _clear(gw: FaultTarget, _: _Empty) -> dict[str, Any]:
    gw.clear_faults()
    return {"cleared": True}


COMMANDS: dict[str, _Command] = {
    "/truth": _Command(
        "GET", _Empty, "the gateway's truth: orders, executions, positions, account", _truth
    ),
    "/drop": _Command("POST", _Empty, "close every API connection now", _drop),
    "/restart": _Command(
        "POST", _Restart, "drop every connection and refuse new ones for N seconds", _restart
    ),
    "/notice": _Command(
        "POST", _Notice, "send a system notice (1100/1101/1102/2103-2106/2157/2158)", _notice
    ),
    "/pacing": _Command(
        "POST", _Count, "answer the next K data requests with a pacing violation", _pacing
    ),
    "/strict-pacing": _Command(
        "POST",
        _Strict,
        "apply the small-bar historical pacing rules to every bar size (or not)",
        _strict_pacing,
    ),
    "/reject": _Command("POST", _Reject, "reject the next K orders", _reject),
    "/withhold": _Command(
        "POST", _Withhold, "stop sending these connect-time End messages", _withhold
    ),
    "/no-data": _Command(
        "POST", _NoData, "send no live data for these symbols (or release them)", _no_data
    ),
    "/no-subscription": _Command(
        "POST",
        _NoData,
        "delayed data only for these symbols: no live subscription (or release them)",
        _no_subscription,
    ),
    "/delay": _Command("POST", _Delay, "hold every reply back for N milliseconds", _delay),
    "/fill": _Command("POST", _Fill, "fill an open order now, connected or not", _fill),
    "/price": _Command(
        "POST", _Price, "trade a symbol at a price from now on (orders match against it)", _price
    ),
    "/clear": _Command("POST", _Empty, "clear every fault", _clear),
}


def _describe() -> dict[str, Any]:
    return {
        "commands": {
            path: {
                "method": cmd.method,
                "summary": cmd.summary,
                "body": {
                    name: (field.description or "") for name, field in cmd.body.model_fields.items()
                },
            }
            for path, cmd in COMMANDS.items()
        }
    }


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}


class ControlServer:
    """Serves the control commands for one gateway."""

    def __init__(self, gateway: FaultTarget) -> None:
        self._gateway = gateway
        self._requests: set[asyncio.Task[None]] = set()

    def accept_factory(
        self, tasks: asyncio.TaskGroup
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], None]:
        """The connection callback for ``asyncio.start_server``: each request runs in ``tasks``."""

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = tasks.create_task(self._serve(reader, writer), name="ibbot-sim-control")
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)

        return accept

    def cancel_all(self) -> None:
        """Abandon every request in progress (the gateway is shutting down)."""
        for task in list(self._requests):
            task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    method, path, body = await _read_request(reader)
                status, payload = 200, await self._dispatch(method, path, body)
            except _BadRequest as exc:
                status, payload = exc.status, {"error": str(exc)}
            except TimeoutError:
                status, payload = 400, {"error": "request not received in time"}
            except (ValueError, RuntimeError) as exc:
                status, payload = 400, {"error": str(exc)}
            data = json.dumps(payload, indent=2, sort_keys=True).encode() + b"\n"
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write(head + data)
            await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("sim.control.connection_lost", error=str(exc))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _dispatch(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/":
            if method != "GET":
                raise _BadRequest(405, "use GET /")
            return _describe()
        command = COMMANDS.get(path)
        if command is None:
            raise _BadRequest(404, f"no command {path}; GET / lists them")
        if method != command.method:
            raise _BadRequest(405, f"use {command.method} {path}")
        try:
            params = command.body.model_validate(_parse_json(body))
        except ValidationError as exc:
            raise _BadRequest(400, _validation_message(exc)) from exc
        log.info("sim.control.command", path=path)
        return await command.run(self._gateway, params)


def _parse_json(body: bytes) -> Any:
    """The body as JSON (empty: ``{}``), refusing what Python's parser accepts beyond the standard.

    ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON; Python reads them as floats, and one
    infinite fill price made the account's cash infinite for every client.
    """
    if not body.strip():
        return {}
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise _BadRequest(400, "body is not JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of 4,300+ digits
        raise _BadRequest(400, f"body is not JSON: {exc}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; numbers must be finite")


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes]:
    line = await _read_line(reader)
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, "not an HTTP/1.x request line")
    method, path = parts[0].upper(), parts[1]
    length = 0
    for _ in range(MAX_HEADERS + 1):
        header = await _read_line(reader)
        if not header:
            break
        name, sep, value = header.partition(":")
        if not sep:
            raise _BadRequest(400, f"malformed header {header[:40]!r}")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError as exc:
                raise _BadRequest(400, "Content-Length is not a number") from exc
    else:
        raise _BadRequest(400, "too many headers")
    if not 0 <= length <= MAX_BODY:
        raise _BadRequest(400, f"body must be at most {MAX_BODY} bytes")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise _BadRequest(400, "body shorter than Content-Length") from exc
    return method, path, body


async def _read_line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        raise _BadRequest(400, "header line too long") from exc
    except asyncio.IncompleteReadError as exc:
        raise _BadRequest(400, "request ended early") from exc
    if len(raw) > MAX_LINE:
        raise _BadRequest(400, "header line too long")
    return raw.decode("latin-1").rstrip("\r\n")
