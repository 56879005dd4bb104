"""``GET /metrics`` during a run (issue 17): Prometheus' own parser reads it, and every metric the
issue names is there and moves while the service trades, is rejected, is paced and reconnects."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ibbot.bus import OverflowPolicy
from ibbot.live.metrics import METRIC_NAMES
from ibbot.models import EventType
from tests.integration.app_support import (
    app_settings,
    running,
    running_gateway,
    strategy,
)

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.models import Event

Scrape = dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]
RUN_BOUND = 45.0  # seconds for everything to have moved, on a loaded machine


async def scrape(http: httpx.AsyncClient) -> Scrape:
    """One scrape, parsed by prometheus_client's parser: family -> sample key -> value."""
    answer = await http.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    parsed: Scrape = {}
    for family in text_string_to_metric_families(answer.text):
        samples = parsed.setdefault(family.name, {})
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


def moved(scrapes: list[Scrape], name: str) -> bool:
    """True when some sample of family ``name`` took two different values (or came or went)."""
    keys = {key for s in scrapes for key in s.get(name, {})}
    return any(len({s.get(name, {}).get(key) for s in scrapes}) > 1 for key in keys)


def value(scrape: Scrape, name: str, sample: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return scrape.get(name, {}).get((sample, tuple(sorted(labels.items()))), 0.0)


async def test_every_metric_is_served_parsed_and_moving(tmp_path: Path) -> None:
    """Trading, a rejection (201), a slow subscriber, a pacing violation and a restart of the
    gateway move every metric family; the parser reads every scrape."""
    async with running_gateway() as gateway:
        settings = app_settings(
            tmp_path,
            port=gateway.port,
            watchlist=("AAPL",),
            strategies=[strategy("flip", "Flipper", quantity=5), strategy("boom", "Exploding")],
            app={"control_port": 0, "max_strategy_failures": 3},
        )
        async with running(settings, gateway) as orchestrator:
            assert orchestrator.bus is not None
            url = json.loads((settings.store.path / "control.json").read_text())["url"]
            # A subscriber that never keeps up: its queue fills and its drops are counted.
            release = asyncio.Event()

            async def stuck(event: Event) -> None:
                del event
                await release.wait()

            slow = orchestrator.bus.subscribe(
                [EventType.TICK],
                stuck,
                name="test-slow",
                maxsize=1,
                overflow=OverflowPolicy.DROP_NEWEST,
            )
            async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
                scrapes = [await scrape(http)]
                gateway.reject_next_orders(1, code=201)
                gateway.delay_replies(150)  # orders stay open long enough to be seen open
                restarted = False
                missing: list[str] = list(METRIC_NAMES)
                try:
                    async with asyncio.timeout(RUN_BOUND):
                        while missing:
                            scrapes.append(await scrape(http))
                            last = scrapes[-1]
                            fills = sum(
                                v
                                for (n, _), v in last.get("ibbot_fills", {}).items()
                                if n == "ibbot_fills_total"
                            )
                            if not restarted and fills >= 2:
                                gateway.force_pacing_violations(1)
                                await gateway.restart(1.0)
                                restarted = True
                            missing = [n for n in METRIC_NAMES if not moved(scrapes, n)]
                            await asyncio.sleep(0.05)
                except TimeoutError:
                    raise AssertionError(f"these metrics never moved: {missing}") from None
                finally:
                    release.set()
                    orchestrator.bus.unsubscribe(slow)
                    gateway.clear_faults()
    last = scrapes[-1]
    for name in METRIC_NAMES:
        assert name in last, f"{name} is not served"
    assert value(last, "ibbot_order_rejections", "ibbot_order_rejections_total", code="201") == 1
    assert value(last, "ibbot_reconnects", "ibbot_reconnects_total") >= 1
    assert value(last, "ibbot_disconnected_seconds", "ibbot_disconnected_seconds_total") > 0
    assert value(last, "ibbot_pacing_violations", "ibbot_pacing_violations_total") >= 1
    assert value(last, "ibbot_bus_dropped", "ibbot_bus_dropped_total", subscriber="test-slow") > 0
    assert (
        value(
            last, "ibbot_strategy_state", "ibbot_strategy_state", strategy="boom", state="disabled"
        )
        == 1
    )
    assert (
        value(last, "ibbot_decision_to_fill_seconds", "ibbot_decision_to_fill_seconds_count") >= 2
    )
    assert value(last, "ibbot_equity_dollars", "ibbot_equity_dollars") > 0
    assert {v for s in scrapes for (n, _), v in s["ibbot_connected"].items()} == {0.0, 1.0}
