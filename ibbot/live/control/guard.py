"""The control endpoint's gate: who may ask what, and the isolation of every request.

It is plain ASGI middleware (no buffering of responses, so streamed answers such as server-sent
events pass through untouched), placed around every route, and in this order it refuses:

- a ``Host`` other than ``127.0.0.1:<port>`` or ``localhost:<port>`` (400 when missing, 421
  otherwise): a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) still sends
  its own name;
- an ``Origin`` other than the endpoint's own (403): a browser adds it to every cross-origin
  request, including the "simple" ones it sends without asking first (``Content-Type:
  text/plain``); pages the endpoint serves itself may still call it;
- a request that may change something (any method but GET and HEAD) without ``Authorization:
  Bearer <token>``, the run's token (401), compared in constant time;
- a request whose body is not declared ``application/json`` (415), or declared longer than the
  body limit (413, before anything of it is read).

Reads (``GET /status``) need no token: they change nothing, the port is on loopback, and a browser
page can neither send them from another origin (403) nor read the answer. Any other local user of
the machine can, like they can list its processes.

Whatever a route raises is answered here (500, JSON) and logged in one line: no exception leaves a
request, so none reaches the server or the service's task group.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Final

import structlog
from starlette.datastructures import Headers

from ibbot.live.control.bounded import MAX_BODY_BYTES
from ibbot.live.control.responses import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ControlGuard"]

log = structlog.get_logger(__name__)

_READS: Final = frozenset({"GET", "HEAD"})
_JSON: Final = "application/json"
_LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost")


class ControlGuard:
    """ASGI middleware: the checks of the module docstring, then ``app``; failures answered."""

    def __init__(
        self, app: ASGIApp, *, port: int, token: str, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self._app = app
        self._hosts = frozenset(f"{name}:{port}" for name in _LOOPBACK_NAMES)
        self._origins = frozenset(f"http://{host}" for host in self._hosts)
        self._authorization = f"Bearer {token}".encode()
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse, or pass on and answer whatever the route raises."""
        if scope["type"] != "http":  # no lifespan (uvicorn's is off), no websockets (none served)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        refusal = self._refusal(method, Headers(scope=scope))
        if refusal is not None:
            status, reason, extra = refusal
            log.info("app.control_refused", method=method, path=path, status=status, reason=reason)
            await error_response(status, reason, headers=extra)(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - any failure of one request ends with its answer
            error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            # one line, no traceback: a request's failure is reported, not a crash of the service
            log.error("app.control_failed", method=method, path=path, error=error)  # noqa: TRY400
            if not started:
                reason = f"internal error ({type(exc).__name__}); see the service's log"
                await error_response(500, reason)(scope, receive, send)

    def _refusal(self, method: str, headers: Headers) -> tuple[int, str, dict[str, str]] | None:
        """``(status, reason, extra headers)`` of the first check ``headers`` fail, or None."""
        hosts = headers.getlist("host")
        if len(hosts) != 1:
            return 400, "exactly one Host header is required", {}
        if hosts[0].lower() not in self._hosts:
            return 421, f"this endpoint answers to {' or '.join(sorted(self._hosts))} only", {}
        origins = headers.getlist("origin")
        if origins and (len(origins) > 1 or origins[0].lower() not in self._origins):
            return 403, "cross-origin requests are refused", {}
        if method not in _READS and not self._authorized(headers):
            reason = "this request needs 'Authorization: Bearer <token>' (see control.token)"
            return 401, reason, {"WWW-Authenticate": "Bearer"}
        return self._body_refusal(headers)

    def _authorized(self, headers: Headers) -> bool:
        given = headers.getlist("authorization")
        return len(given) == 1 and hmac.compare_digest(
            given[0].encode("latin-1"), self._authorization
        )

    def _body_refusal(self, headers: Headers) -> tuple[int, str, dict[str, str]] | None:
        types = headers.getlist("content-type")
        length = headers.get("content-length", "")
        has_body = bool(types) or "transfer-encoding" in headers or length not in ("", "0")
        if not has_body:
            return None
        if len(types) != 1 or types[0].partition(";")[0].strip().lower() != _JSON:
            return 415, f"a request body must be {_JSON}", {}
        if length.isdigit() and int(length) > self._max_body:
            return 413, f"the body must be at most {self._max_body} bytes", {}
        return None
