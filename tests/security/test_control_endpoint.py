"""Attacks on the running service's control endpoint (issue 12): none may kill or steer it.

One service runs for the whole module (starting one takes seconds); every test attacks it and then
checks that it still runs and answers ``GET /status``.
"""

from __future__ import annotations

import json
import stat
import sys
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from tests.integration.app_support import strategy
from tests.security.control_support import TOKEN_FILE, Service, start_service, stop_service

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.asyncio(loop_scope="module")

JSON = {"Content-Type": "application/json"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    """One running service for the module's attacks."""
    running = await start_service(tmp_path_factory.mktemp("control"))
    try:
        yield running
    finally:
        await stop_service(running)


async def add(service: Service, body: object) -> tuple[int, str]:
    """POST /strategies with ``body`` as JSON and the token: the status and the error, if any."""
    async with service.client() as client:
        answer = await client.post("/strategies", content=json.dumps(body), headers=JSON)
    return answer.status_code, answer.json().get("error", "")


async def test_a_body_of_100000_brackets_is_refused(service: Service) -> None:
    """POST /strategies with 100,000 '[' is a 400 (too deep), not a RecursionError that ends ibbot."""
    async with service.client() as client:
        answer = await client.post("/strategies", content=b"[" * 100_000, headers=JSON)
    assert answer.status_code == 400
    assert "nested deeper than 32 levels" in answer.json()["error"]
    await service.assert_alive()


async def test_a_class_outside_the_strategy_sources_is_refused(service: Service) -> None:
    """class_path decimal.Decimal is refused (400), not constructed into a TypeError."""
    status, error = await add(service, strategy("dec", "decimal.Decimal", capital=1_000))
    assert status == 400
    assert "decimal is not an allowed strategy module" in error
    assert "dec" not in (await service.assert_alive())["strategies"]


@pytest.mark.parametrize(
    "class_path",
    [
        "tests.integration.app_strategies.BuyOnContract",  # its constructor raises ValueError
        "ibbot.strategies.smoke_probe.SmokeProbe",
        "ibbot.strategies.sma_cross.SmaCrossStrategy",
    ],
)
async def test_bad_params_refuse_that_strategy_only(service: Service, class_path: str) -> None:
    """params {"quantity": "abc"} refuse the strategy (400 naming it); the others keep running."""
    status, error = await add(service, strategy("abc", class_path, quantity="abc"))
    assert status == 400
    assert "strategies.abc" in error
    assert "'abc'" in error
    status = await service.assert_alive()
    assert "abc" not in status["strategies"]
    assert status["strategies"]["first"]["state"] == "running"


async def test_unittest_main_is_refused_without_being_imported(service: Service) -> None:
    """class_path unittest.__main__.X is refused by name: the module (which exits) never runs."""
    assert "unittest.__main__" not in sys.modules
    status, error = await add(service, strategy("ut", "unittest.__main__.X"))
    assert status == 400
    assert "unittest.__main__ is not an allowed strategy module" in error
    assert "unittest.__main__" not in sys.modules
    await service.assert_alive()


@pytest.mark.parametrize("path", ["/strategies", "/stop"])
async def test_a_cross_origin_simple_request_is_refused(service: Service, path: str) -> None:
    """A web page's "simple" POST (text/plain, Origin evil.example) neither adds nor stops: 403."""
    body = json.dumps(strategy("evil", "HoldQuantity"))
    headers = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    async with service.client(token=False) as client:
        answer = await client.post(path, content=body, headers=headers)
    assert answer.status_code == 403
    assert answer.json() == {"error": "cross-origin requests are refused"}
    assert "evil" not in (await service.assert_alive())["strategies"]


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-of-some-length", "Basic x"])
async def test_changes_need_the_token(service: Service, authorization: str | None) -> None:
    """Without the run's token no request adds, removes or stops (401); with it they work."""
    headers = {} if authorization is None else {"Authorization": authorization}
    async with service.client(token=False, **headers) as client:
        answers = [
            await client.post(
                "/strategies",
                content=json.dumps(strategy("intruder", "HoldQuantity")),
                headers=JSON,
            ),
            await client.delete("/strategies/first"),
            await client.post("/stop"),
        ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all(a.headers["WWW-Authenticate"] == "Bearer" for a in answers)
    status = await service.assert_alive()
    assert set(status["strategies"]) == {"first"}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", ""])
async def test_a_foreign_host_is_refused(service: Service, host: str) -> None:
    """A Host other than 127.0.0.1:PORT or localhost:PORT (DNS rebinding) is refused, even reads."""
    async with service.client(Host=host.format(port=service.port)) as client:
        answer = await client.get("/status")
    assert answer.status_code in (400, 421)
    assert "state" not in answer.json()
    async with service.client(Host=f"localhost:{service.port}") as client:
        assert (await client.get("/status")).status_code == 200
    await service.assert_alive()


async def test_the_control_files_are_private(service: Service) -> None:
    """control.json and the token file are 0600: other local users can read neither."""
    directory = service.settings.store.path
    for name in ("control.json", TOKEN_FILE):
        mode = stat.S_IMODE((directory / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {mode:o}"
    assert not list(directory.glob(".control*")), "a temporary file was left behind"


async def test_an_oversized_body_is_refused_before_it_is_read(service: Service) -> None:
    """A declared body over 1 MB is a 413 before any of it is read; a body without JSON type a 415."""
    async with service.client() as client:
        large = await client.post("/strategies", content=b" " * 1_000_001, headers=JSON)
        typed = await client.post("/strategies", content=b"{}", headers={"Content-Type": "a/b"})
    assert (large.status_code, typed.status_code) == (413, 415)
    await service.assert_alive()


async def test_the_token_opens_the_endpoint(service: Service) -> None:
    """With the token, a strategy is added and removed as before (the gate is not a wall)."""
    status, error = await add(service, strategy("late", "HoldQuantity", capital=5_000))
    assert (status, error) == (200, "")
    assert "late" in (await service.assert_alive())["strategies"]
    async with service.client() as client:
        removed = await client.delete("/strategies/late")
    assert removed.json() == {"removed": "late"}
    assert "late" not in (await service.assert_alive())["strategies"]
