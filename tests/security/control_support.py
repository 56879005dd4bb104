"""A running service with its control endpoint on, and a client that speaks to it as a local
process would: the address from ``control.json``, the token from the file beside it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ibbot.app import Orchestrator
from ibbot.settings import Settings
from tests.integration.app_support import DEADLINE, app_settings, strategy

if TYPE_CHECKING:
    from pathlib import Path


TOKEN_FILE = "control.token"


@dataclass
class Service:
    """An orchestrator running in its own task, and where its endpoint listens."""

    orchestrator: Orchestrator
    run: asyncio.Task[int]
    settings: Settings
    url: str
    port: int

    @property
    def token(self) -> str:
        """The run's token ("" when the service writes none)."""
        path = self.settings.store.path / TOKEN_FILE
        return path.read_text().strip() if path.exists() else ""

    def client(self, *, token: bool = True, **headers: str) -> httpx.AsyncClient:
        """A client of the endpoint; with the token unless ``token`` is false."""
        sent = {"Authorization": f"Bearer {self.token}"} if token and self.token else {}
        return httpx.AsyncClient(base_url=self.url, timeout=DEADLINE, headers={**sent, **headers})

    async def assert_alive(self) -> dict[str, Any]:
        """The service still runs and answers GET /status; its status."""
        assert not self.run.done(), f"the service ended: {self.run}"
        async with self.client() as client:
            answer = await client.get("/status")
        assert answer.status_code == 200, answer.text
        status: dict[str, Any] = answer.json()
        assert status["state"] == "running"
        return status


async def start_service(root: Path, **sections: Any) -> Service:
    """The embedded simulator and one running strategy ("first"), control endpoint on a free port."""
    app = {"control_port": 0, **sections.pop("app", {})}
    settings = app_settings(
        root, strategies=[strategy("first", "HoldQuantity")], app=app, **sections
    )
    orchestrator = Orchestrator(settings)
    run = asyncio.ensure_future(orchestrator.run(handle_signals=False))
    started = asyncio.ensure_future(orchestrator.started.wait())
    async with asyncio.timeout(DEADLINE):
        await asyncio.wait((run, started), return_when=asyncio.FIRST_COMPLETED)
    if run.done():
        started.cancel()
        run.result()
        raise AssertionError("the service ended before it started")
    url = json.loads((settings.store.path / "control.json").read_text())["url"]
    return Service(orchestrator, run, settings, url, int(url.rpartition(":")[2]))


async def stop_service(service: Service) -> None:
    """Stop gracefully; it must exit 0."""
    service.orchestrator.stop("the tests are done")
    async with asyncio.timeout(DEADLINE):
        assert await service.run == 0
