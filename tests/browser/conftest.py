"""The browser for the dashboard's tests: Debian's Chromium driven by Playwright for Python.

No browser is ever downloaded (``playwright install`` is not used): the tests drive
``/usr/bin/chromium`` from the OS packages, which ``.ci/run`` installs when it is missing. Outside
CI they are skipped, saying why, when it is not installed; in CI (``CI_REQUIRE_BROWSER=1``) a
missing browser fails them. Each run gets a fresh profile directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from playwright.async_api import async_playwright

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from playwright.async_api import BrowserContext

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip (or, in CI, fail) when Debian's Chromium is not installed."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CI_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (.ci/run installs chromium)")
    pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` to run the browser tests")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile, for the module."""
    require_chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (also copied to $IBBOT_ARTIFACTS when set)."""
    return tmp_path_factory.mktemp("screenshots")


def keep_artifact(path: Path) -> None:
    """Copy ``path`` to $IBBOT_ARTIFACTS, when set."""
    target = os.environ.get("IBBOT_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(target) / path.name)
