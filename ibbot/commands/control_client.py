"""Requests to a running ``ibbot run``'s control endpoint, for the commands that talk to it.

The endpoint is found through ``<store.path>/control.json`` and the run's token read from
``<store.path>/control.token`` (see :mod:`ibbot.live.control`). Every failure is one
:class:`~ibbot.errors.IbbotError` line: no service answers, or it refused (with its reason).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ibbot.live.control import ControlEndpoint

__all__ = ["control_request"]

_TIMEOUT: Final = 60.0  # a hot add warms the strategy up on stored history first


def control_request(
    endpoint: ControlEndpoint, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Send one request with the run's token; the JSON answer, or IbbotError saying why not."""
    import httpx  # noqa: PLC0415 - keeps --help fast

    from ibbot.errors import IbbotError  # noqa: PLC0415

    url = endpoint.url + path
    try:
        response = httpx.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {endpoint.token}"},
            timeout=_TIMEOUT,
        )
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise IbbotError(f"the running ibbot did not answer at {url}: {exc}") from exc
    if response.status_code != httpx.codes.OK or not isinstance(answer, dict):
        reason = answer.get("error") if isinstance(answer, dict) else answer
        raise IbbotError(f"the running ibbot refused: {reason}")
    return answer
