"""Who may see and steer the dashboard (issue 17): the token, the login cookie, CSRF, remote binds.

The application is driven in-process (httpx's ASGI transport) with a fake target, except where the
bind itself is what is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ibbot.clock import WallClock
from ibbot.errors import ConfigError
from ibbot.live.control import ControlServer, control_app
from ibbot.live.control.session import SessionKeys
from ibbot.live.dashboard import DashboardFeed, dashboard_routes, load_assets
from ibbot.settings import Settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine
    from pathlib import Path

    from ibbot.settings import StrategySettings

PORT = 8765
TOKEN = "t" * 43
HOST = f"127.0.0.1:{PORT}"
KEYS = SessionKeys.derive(TOKEN, port=PORT)
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Target:
    """A service that records what it was asked to do."""

    def __init__(self) -> None:
        self.feed = DashboardFeed(status=self.status, wall=WallClock())
        self.actions: list[tuple[str, str]] = []

    def status(self) -> dict[str, Any]:
        return {"state": "running", "kill_switch": None}

    async def add_strategy(self, config: StrategySettings) -> None:
        self.actions.append(("add", config.name))

    async def remove_strategy(self, name: str) -> None:
        self.actions.append(("remove", name))

    def stop(self, reason: str) -> None:
        self.actions.append(("stop", reason))

    @property
    def dashboard(self) -> DashboardFeed:
        return self.feed

    def metrics_exposition(self) -> bytes:
        return b"# no metrics\n"

    async def engage_kill_switch(self, reason: str, *, by: str) -> None:
        self.actions.append(("engage", by))

    async def release_kill_switch(self, *, by: str) -> bool:
        self.actions.append(("release", by))
        return True

    async def enable_strategy(self, name: str, *, by: str) -> None:
        self.actions.append(("enable", by))

    async def disable_strategy(self, name: str, *, by: str) -> None:
        self.actions.append(("disable", by))


def client(target: Target, *, remote: bool = False, host: str = HOST) -> httpx.AsyncClient:
    """A client of the endpoint with the dashboard, in-process."""
    pages = dashboard_routes(target, token=TOKEN, port=PORT, remote=remote, assets=load_assets())
    app = control_app(target, port=PORT, token=TOKEN, remote=remote, pages=pages)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://{host}", follow_redirects=False
    )


@pytest.fixture
async def local() -> AsyncIterator[tuple[Target, httpx.AsyncClient]]:
    """The endpoint as served on loopback."""
    target = Target()
    async with client(target) as http:
        yield target, http


async def login(http: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    """POST the login form as a browser on the page would."""
    return await http.post(
        "/login",
        content=f"token={token}",
        headers={**FORM, "Origin": str(http.base_url).rstrip("/")},
    )


async def test_the_page_and_its_files_load_on_loopback_without_a_token(
    local: tuple[Target, httpx.AsyncClient],
) -> None:
    """GET /, its script and its style sheet answer 200 with a strict CSP; no CDN is named."""
    _, http = local
    page = await http.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        answer = await http.get(asset)
        assert answer.status_code == 200, asset
        assert "http" not in answer.text.replace("http://www.w3.org/2000/svg", "")


async def test_actions_without_credentials_are_refused(
    local: tuple[Target, httpx.AsyncClient],
) -> None:
    """POST /kill-switch, enable and disable without the token: 401, and nothing is done."""
    target, http = local
    body = json.dumps({"engage": True})
    for path in ("/kill-switch", "/strategies/a/enable", "/strategies/a/disable"):
        answer = await http.post(path, content=body, headers=JSON)
        assert answer.status_code == 401, path
    assert target.actions == []


async def test_the_session_cookie_alone_never_changes_anything(
    local: tuple[Target, httpx.AsyncClient],
) -> None:
    """A browser's cookie without the X-CSRF-Token header (what a forged request carries) is 401;
    with the header it is an action of the dashboard."""
    target, http = local
    cookie = {"Cookie": f"{KEYS.cookie_name}={KEYS.cookie_value}"}
    body = json.dumps({"engage": True, "reason": "test"})
    refused = await http.post("/kill-switch", content=body, headers={**JSON, **cookie})
    assert refused.status_code == 401
    wrong = await http.post(
        "/kill-switch", content=body, headers={**JSON, **cookie, "X-CSRF-Token": "0" * 64}
    )
    assert wrong.status_code == 401
    assert target.actions == []
    done = await http.post(
        "/kill-switch", content=body, headers={**JSON, **cookie, "X-CSRF-Token": KEYS.csrf}
    )
    assert done.status_code == 200, done.text
    assert target.actions == [("engage", "dashboard")]


async def test_the_token_steers_from_a_client(local: tuple[Target, httpx.AsyncClient]) -> None:
    """With Authorization: Bearer, engage and release work (audited as the control endpoint's)."""
    target, http = local
    bearer = {**JSON, "Authorization": f"Bearer {TOKEN}"}
    for engage in (True, False):
        answer = await http.post(
            "/kill-switch", content=json.dumps({"engage": engage}), headers=bearer
        )
        assert answer.status_code == 200, answer.text
    assert target.actions == [("engage", "control endpoint"), ("release", "control endpoint")]


async def test_login_sets_an_httponly_strict_cookie_and_hands_over_the_csrf_token(
    local: tuple[Target, httpx.AsyncClient],
) -> None:
    """The right token: a Set-Cookie that is HttpOnly and SameSite=Strict, not the token itself,
    and a page carrying the CSRF token; a wrong one: back to the form, no cookie."""
    _, http = local
    wrong = await login(http, "nope")
    assert wrong.status_code == 303
    assert wrong.headers["location"] == "/login?failed=1"
    assert "set-cookie" not in wrong.headers
    right = await login(http)
    assert right.status_code == 200
    cookie = right.headers["set-cookie"]
    assert cookie.startswith(f"{KEYS.cookie_name}={KEYS.cookie_value};")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert TOKEN not in cookie
    assert f'content="{KEYS.csrf}"' in right.text


async def test_a_login_from_another_origin_is_refused(
    local: tuple[Target, httpx.AsyncClient],
) -> None:
    """A form on another site posting a guessed token gets 403, before the token is compared."""
    _, http = local
    answer = await http.post(
        "/login", content=f"token={TOKEN}", headers={**FORM, "Origin": "http://evil.example"}
    )
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


async def test_only_the_login_takes_a_form_body(local: tuple[Target, httpx.AsyncClient]) -> None:
    """A form body anywhere else is 415 even with the token; a bloated login form is 400/413."""
    _, http = local
    answer = await http.post(
        "/kill-switch",
        content="engage=true",
        headers={**FORM, "Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 415
    flood = "&".join(f"f{n}=1" for n in range(50))
    assert (await http.post("/login", content=flood, headers=FORM)).status_code == 400
    huge = "token=" + "a" * 10_000
    assert (await http.post("/login", content=huge, headers=FORM)).status_code == 413


async def test_remote_mode_needs_credentials_for_every_request() -> None:
    """Bound beyond loopback: /status, /metrics and the stream need the token or the cookie; the
    page sends a browser to the login form, which (with its files) is open; any Host passes."""
    target = Target()
    async with client(target, remote=True, host="192.0.2.7:8080") as http:
        for path in ("/status", "/metrics", "/api/snapshot", "/api/events", "/api/session"):
            assert (await http.get(path)).status_code == 401, path
        page = await http.get("/")
        assert page.status_code == 303
        assert page.headers["location"] == "/login"
        assert (await http.get("/login")).status_code == 200
        assert (await http.get("/static/style.css")).status_code == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (await http.get("/status", headers=bearer)).status_code == 200
        assert (await http.get("/metrics", headers=bearer)).status_code == 200
        cookie = {"Cookie": f"{KEYS.cookie_name}={KEYS.cookie_value}"}
        assert (await http.get("/", headers=cookie)).status_code == 200
        session = await http.get("/api/session", headers=cookie)
        assert session.json() == {"auth": "session", "remote": True}
        other = await http.get("/status", headers={**bearer, "Origin": "http://evil.example"})
        assert other.status_code == 403


def test_a_non_loopback_bind_needs_the_explicit_setting(tmp_path: Path) -> None:
    """app.control_host 0.0.0.0 without app.control_remote is refused naming both settings."""
    with pytest.raises(ValueError, match="control_remote=true"):
        Settings(app={"control_host": "0.0.0.0"})
    Settings(app={"control_host": "0.0.0.0", "control_remote": True})
    with pytest.raises(ConfigError, match="control_remote"):
        ControlServer(Target(), port=0, directory=tmp_path, host="0.0.0.0")


async def test_a_remote_bind_listens_everywhere_and_names_loopback_for_local_clients(
    tmp_path: Path,
) -> None:
    """host 0.0.0.0 with remote: control.json names 127.0.0.1, and reads there need the token."""
    server = ControlServer(Target(), port=0, directory=tmp_path, host="0.0.0.0", remote=True)
    async with serving(server.serve()):
        await server.ready.wait()
        url = json.loads((tmp_path / "control.json").read_text())["url"]
        assert url.startswith("http://127.0.0.1:")
        assert server.address is not None
        assert server.address[0] == "0.0.0.0"
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/status")).status_code == 401
            bearer = {"Authorization": f"Bearer {server.token}"}
            assert (await http.get("/status", headers=bearer)).status_code == 200


@contextlib.asynccontextmanager
async def serving(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``work`` in a task for the block; cancel it and wait for it after."""
    task = asyncio.ensure_future(work)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])
