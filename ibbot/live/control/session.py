"""A browser's credentials for the control endpoint: a session cookie and a CSRF token.

A browser cannot send ``Authorization: Bearer`` with a page load or an ``EventSource``, so the
dashboard's login form (``POST /login`` with the run's token) answers with a cookie, and with a
CSRF token that the page keeps (``localStorage``, which is per origin, port included) and sends
in the ``X-CSRF-Token`` header of every request that changes something. Neither is the token: both
are keyed hashes of it, so they end with the run, and a cookie that leaks (cookies ignore the port:
another service on 127.0.0.1 receives it) grants reads only, never an action.

The cookie is ``HttpOnly`` (no script reads it) and ``SameSite=Strict`` (no other site's page
sends it), named after the port so that two services on one host keep theirs apart.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

__all__ = ["CSRF_HEADER", "SessionKeys"]

CSRF_HEADER: Final = "x-csrf-token"
"""The header a page's state-changing request carries the CSRF token in."""


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The cookie's name and value and the CSRF token of one run on one port."""

    cookie_name: str
    cookie_value: str
    csrf: str

    @classmethod
    def derive(cls, token: str, *, port: int) -> SessionKeys:
        """The keys of the run whose token is ``token``, served on ``port``."""
        key = token.encode()
        return cls(
            cookie_name=f"ibbot_session_{port}",
            cookie_value=_mac(key, b"dashboard session"),
            csrf=_mac(key, b"dashboard csrf"),
        )

    def set_cookie(self) -> str:
        """A ``Set-Cookie`` value: the session, for the whole site, until the browser closes."""
        return f"{self.cookie_name}={self.cookie_value}; Path=/; HttpOnly; SameSite=Strict"

    def clear_cookie(self) -> str:
        """A ``Set-Cookie`` value that removes the session."""
        return f"{self.cookie_name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"

    def has_session(self, cookies: list[str]) -> bool:
        """True when one of the ``Cookie`` headers carries this run's session."""
        wanted = self.cookie_value.encode()
        found = False
        for header in cookies:
            for pair in header.split(";"):
                name, _, value = pair.strip().partition("=")
                if name == self.cookie_name:
                    found |= hmac.compare_digest(value.encode("latin-1"), wanted)
        return found

    def csrf_matches(self, values: list[str]) -> bool:
        """True when exactly one CSRF header carries this run's CSRF token."""
        return len(values) == 1 and hmac.compare_digest(
            values[0].encode("latin-1"), self.csrf.encode()
        )


def _mac(key: bytes, purpose: bytes) -> str:
    return hmac.new(key, purpose, hashlib.sha256).hexdigest()
