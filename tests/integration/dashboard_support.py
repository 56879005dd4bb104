"""A running service with its control endpoint and dashboard, and what tests need around it: a
client with or without the token, the sim's market held still, the lifecycle audit."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from ibbot.app import Orchestrator
from ibbot.settings import Settings
from tests.integration.app_support import DEADLINE, app_settings

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


@dataclass
class Service:
    """An orchestrator running in its own task, and where its endpoint listens."""

    orchestrator: Orchestrator
    run: asyncio.Task[int]
    settings: Settings
    url: str

    @property
    def token(self) -> str:
        """The run's token."""
        return (self.settings.store.path / "control.token").read_text().strip()

    def client(self, *, token: bool = True) -> httpx.AsyncClient:
        """A client of the endpoint; with the token unless ``token`` is false."""
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, timeout=DEADLINE, headers=headers)

    async def status(self) -> dict[str, Any]:
        """GET /status."""
        async with self.client(token=False) as client:
            answer = await client.get("/status")
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def lifecycle(self) -> list[dict[str, Any]]:
        """The lifecycle audit records written so far."""
        parts = self.orchestrator._parts
        assert parts is not None, "the service is not running"
        await parts.lifecycle.flush()
        return [entry.record for entry in await parts.store.read_audit("lifecycle")]


async def start_service(
    root: Path, strategies: Iterable[dict[str, Any]], **sections: Any
) -> Service:
    """The embedded simulator, ``strategies``, the control endpoint on a free port."""
    app = {"control_port": 0, **sections.pop("app", {})}
    settings = app_settings(root, strategies=strategies, app=app, **sections)
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
    return Service(orchestrator, run, settings, url)


async def stop_service(service: Service) -> None:
    """Stop gracefully; it must exit 0."""
    service.orchestrator.stop("the tests are done")
    async with asyncio.timeout(DEADLINE):
        assert await service.run == 0
