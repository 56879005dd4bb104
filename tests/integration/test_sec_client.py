"""The EDGAR client against a fake SEC server on loopback: lookups, cache, retries, bad answers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from ibbot.clock import SimulatedClock
from ibbot.errors import ConfigError
from ibbot.fundamentals.errors import (
    MalformedResponse,
    NoXbrlFacts,
    SecRequestFailed,
    SourceUnavailable,
    UnknownTicker,
)
from ibbot.fundamentals.sec import EdgarClient
from ibbot.fundamentals.sec.cache import ResponseCache
from ibbot.fundamentals.sec.fake import TICKERS_PATH, FakeSecServer, Fault, company_facts_path
from tests.integration.sec_helpers import ACME_CIK, USER_AGENT, acme_facts, edgar_client

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

FACTS = company_facts_path(ACME_CIK)


def forget_etag(cache_dir: Path, url: str) -> None:
    """Make the cached answer look as if the server had sent no ETag."""
    cache = ResponseCache(cache_dir)
    entry = cache.load(url)
    assert entry is not None
    cache.save(replace(entry, etag=None))


def rewrite_cache(cache_dir: Path, change: Callable[[bytes], bytes]) -> None:
    """Damage ACME's cache file with ``change``."""
    path = next(cache_dir.glob("*CIK0000000042*"))
    path.write_bytes(change(path.read_bytes()))


@pytest.fixture
async def sec() -> AsyncIterator[FakeSecServer]:
    async with FakeSecServer() as server:
        server.add_company("ACME", ACME_CIK, "ACME CORP", acme_facts())
        server.add_company("NOFACTS", 77, "SOME FUND TRUST", None)
        yield server


async def test_ticker_lookup_declares_the_user_agent(sec: FakeSecServer, tmp_path: Path) -> None:
    """Tickers resolve to CIKs from one download of the map, sent with the declared User-Agent."""
    async with edgar_client(sec, tmp_path) as client:
        acme = await client.company("acme")
        again = await client.company("ACME")
        with pytest.raises(UnknownTicker, match="ZZZZ: not in the SEC's ticker map"):
            await client.company("ZZZZ")
    assert (acme.cik, acme.cik10, acme.title) == (ACME_CIK, "0000000042", "ACME CORP")
    assert again == acme
    assert sec.count(TICKERS_PATH) == 1
    assert sec.requests[0].headers["user-agent"] == USER_AGENT


async def test_company_facts_are_parsed(sec: FakeSecServer, tmp_path: Path) -> None:
    """The company-facts document comes back as typed facts by concept."""
    async with edgar_client(sec, tmp_path) as client:
        facts = await client.company_facts(ACME_CIK)
    assert facts.entity_name == "ACME CORP"
    revenue = facts.of("us-gaap:Revenues")
    assert revenue
    assert {fact.form for fact in revenue} == {"10-Q", "10-K"}
    assert facts.of("dei:EntityCommonStockSharesOutstanding")[0].unit == "shares"


async def test_cache_hit_makes_no_second_request(sec: FakeSecServer, tmp_path: Path) -> None:
    """Within the revalidation window the disk cache answers, even for a new client (a restart)."""
    async with edgar_client(sec, tmp_path) as client:
        first = await client.company_facts(ACME_CIK)
        second = await client.company_facts(ACME_CIK)
        assert client.stats.cache_hits == 1
    async with edgar_client(sec, tmp_path) as restarted:
        third = await restarted.company_facts(ACME_CIK)
        assert restarted.stats.requests == 0
    assert first == second == third
    assert sec.count(FACTS) == 1


async def test_conditional_request_gets_304_then_new_version(
    sec: FakeSecServer, tmp_path: Path
) -> None:
    """After the window a conditional GET costs a 304; a new filing brings the new document."""
    clock = SimulatedClock()
    async with edgar_client(sec, tmp_path, clock=clock) as client:
        await client.company_facts(ACME_CIK)
        clock.advance(timedelta(hours=13).total_seconds())
        unchanged = await client.company_facts(ACME_CIK)
        revalidation = sec.requests[-1]
        assert revalidation.headers["if-none-match"].startswith('"')
        assert "if-modified-since" in revalidation.headers
        assert client.stats.not_modified == 1
        assert unchanged.of("us-gaap:Revenues")
        await client.company_facts(ACME_CIK)  # just confirmed: no request
        assert sec.count(FACTS) == 2
        sec.set_facts(ACME_CIK, acme_facts(years=3))
        clock.advance(timedelta(hours=13).total_seconds())
        newer = await client.company_facts(ACME_CIK)
    assert sec.count(FACTS) == 3
    assert len(newer.of("us-gaap:Revenues")) > len(unchanged.of("us-gaap:Revenues"))


async def test_if_modified_since_alone_also_revalidates(sec: FakeSecServer, tmp_path: Path) -> None:
    """A server that sent no ETag is revalidated with If-Modified-Since."""
    clock = SimulatedClock()
    async with edgar_client(sec, tmp_path, clock=clock) as client:
        await client.company_facts(ACME_CIK)
        forget_etag(tmp_path, sec.url + FACTS)
        clock.advance(timedelta(hours=13).total_seconds())
        await client.company_facts(ACME_CIK)
        assert "if-none-match" not in sec.requests[-1].headers
        assert client.stats.not_modified == 1


async def test_429_waits_what_retry_after_asks(sec: FakeSecServer, tmp_path: Path) -> None:
    """A 429 with Retry-After: 7 is retried after exactly 7 seconds, then succeeds."""
    clock = SimulatedClock()
    sec.fail(FACTS, Fault(429, {"Retry-After": "7"}))
    async with edgar_client(sec, tmp_path, clock=clock) as client, asyncio.TaskGroup() as tg:
        task = tg.create_task(client.company_facts(ACME_CIK))
        await clock.wait_for_sleepers(1)
        assert clock.next_deadline() == pytest.approx(7.0)
        assert sec.count(FACTS) == 1
        clock.advance(7.0)
    assert task.result().entity_name == "ACME CORP"
    assert sec.count(FACTS) == 2


async def test_retry_after_as_http_date(sec: FakeSecServer, tmp_path: Path) -> None:
    """Retry-After may be an HTTP date: the wait is until then."""
    clock = SimulatedClock()
    when = clock.now() + timedelta(seconds=30)
    sec.fail(FACTS, Fault(429, {"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")}))
    async with edgar_client(sec, tmp_path, clock=clock) as client, asyncio.TaskGroup() as tg:
        task = tg.create_task(client.company_facts(ACME_CIK))
        await clock.wait_for_sleepers(1)
        assert clock.next_deadline() == pytest.approx(30.0)
        clock.advance(30.0)
    assert task.result().cik == ACME_CIK


async def test_503_is_retried_with_exponential_backoff(sec: FakeSecServer, tmp_path: Path) -> None:
    """Two 503s are retried after 1 s then 2 s; the third attempt succeeds."""
    clock = SimulatedClock()
    sec.fail(FACTS, Fault(503), Fault(503))
    async with (
        edgar_client(sec, tmp_path, clock=clock, backoff_initial=1.0, backoff_max=60.0) as client,
        asyncio.TaskGroup() as tg,
    ):
        task = tg.create_task(client.company_facts(ACME_CIK))
        for expected in (1.0, 2.0):
            await clock.wait_for_sleepers(1)
            assert clock.next_deadline() == pytest.approx(expected)
            clock.advance(expected)
    assert task.result().entity_name == "ACME CORP"
    assert sec.count(FACTS) == 3
    assert client.stats.retries == 2


async def test_persistent_503_fails_clearly(sec: FakeSecServer, tmp_path: Path) -> None:
    """After max_attempts 503s the request fails with the status and the URL."""
    sec.fail(FACTS, *[Fault(503)] * 3)
    async with edgar_client(sec, tmp_path, max_attempts=3) as client:
        with pytest.raises(SecRequestFailed, match="HTTP 503 after 3 attempts") as caught:
            await client.company_facts(ACME_CIK)
    assert caught.value.status == 503
    assert FACTS in caught.value.url


async def test_body_cut_short_is_retried(sec: FakeSecServer, tmp_path: Path) -> None:
    """A connection closed mid-body is a network error: retried, and the whole document arrives."""
    sec.fail(FACTS, Fault(truncate=True))
    async with edgar_client(sec, tmp_path) as client:
        facts = await client.company_facts(ACME_CIK)
    assert facts.of("us-gaap:Revenues")
    assert sec.count(FACTS) == 2


async def test_malformed_json_is_an_error_and_never_cached(
    sec: FakeSecServer, tmp_path: Path
) -> None:
    """A truncated JSON body is MalformedResponse; the next call fetches again and succeeds."""
    good = acme_facts().body()
    sec.fail(FACTS, Fault(body=good[: len(good) // 3]))
    async with edgar_client(sec, tmp_path) as client:
        with pytest.raises(MalformedResponse, match="not valid JSON"):
            await client.company_facts(ACME_CIK)
        facts = await client.company_facts(ACME_CIK)
    assert facts.entity_name == "ACME CORP"
    assert sec.count(FACTS) == 2


async def test_no_xbrl_facts_is_unavailable(sec: FakeSecServer, tmp_path: Path) -> None:
    """The SEC's 404 for a company without XBRL facts is NoXbrlFacts (a SourceUnavailable)."""
    async with edgar_client(sec, tmp_path) as client:
        fund = await client.company("NOFACTS")
        with pytest.raises(NoXbrlFacts, match="no XBRL company facts"):
            await client.company_facts(fund.cik)


async def test_empty_facts_document_is_no_xbrl(sec: FakeSecServer, tmp_path: Path) -> None:
    """A document with an empty ``facts`` object is NoXbrlFacts too."""
    sec.set_facts(99, b'{"cik": 99, "entityName": "SHELL CO", "facts": {}}')
    async with edgar_client(sec, tmp_path) as client:
        with pytest.raises(NoXbrlFacts, match="holds no facts"):
            await client.company_facts(99, ["us-gaap:Revenues"])


async def test_403_names_the_user_agent_rule(sec: FakeSecServer, tmp_path: Path) -> None:
    """The SEC's 403 for undeclared tools says to fix the User-Agent setting; not retried."""
    sec.fail(FACTS, Fault(403))
    async with edgar_client(sec, tmp_path) as client:
        with pytest.raises(SecRequestFailed, match="sec_user_agent") as caught:
            await client.company_facts(ACME_CIK)
    assert caught.value.status == 403
    assert sec.count(FACTS) == 1


async def test_other_http_errors_are_not_retried(sec: FakeSecServer, tmp_path: Path) -> None:
    """A 400 is reported at once with its status."""
    sec.fail(FACTS, Fault(400))
    async with edgar_client(sec, tmp_path) as client:
        with pytest.raises(SecRequestFailed, match="HTTP 400 Bad Request"):
            await client.company_facts(ACME_CIK)


async def test_network_failure_is_reported(tmp_path: Path) -> None:
    """No server at all: retried, then SecRequestFailed with no status."""
    async with FakeSecServer() as gone:
        url = gone.url
    client = EdgarClient(
        user_agent=USER_AGENT,
        clock=SimulatedClock(),
        cache_dir=tmp_path,
        base_url=url,
        www_url=url,
        max_attempts=1,
    )
    async with client:
        with pytest.raises(SecRequestFailed, match="ConnectError") as caught:
            await client.company("ACME")
    assert caught.value.status is None


async def test_at_most_ten_requests_in_any_second(sec: FakeSecServer, tmp_path: Path) -> None:
    """Fifteen concurrent fetches: ten go out at once, the rest only when a second has passed."""
    clock = SimulatedClock()
    for cik in range(1000, 1015):
        sec.set_facts(
            cik, b'{"cik": %d, "entityName": "C", "facts": {"dei": {"X": {"units": {}}}}}' % cik
        )
    async with edgar_client(sec, tmp_path, clock=clock) as client, asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(client.company_facts(cik)) for cik in range(1000, 1015)]
        await sec.wait_for_requests(10)
        await clock.wait_for_sleepers(1)
        assert len(sec.requests) == 10
        clock.advance(1.0)
        await sec.wait_for_requests(15)
    assert [task.result().cik for task in tasks] == list(range(1000, 1015))
    assert len(sec.requests) == 15


async def test_frames(sec: FakeSecServer, tmp_path: Path) -> None:
    """A frame is fetched and parsed; an unknown one is unavailable."""
    sec.set_frame(
        "us-gaap",
        "Assets",
        "USD",
        "CY2024Q4I",
        b'{"taxonomy": "us-gaap", "tag": "Assets", "ccp": "CY2024Q4I", "uom": "USD", "label": "A",'
        b' "data": [{"accn": "a", "cik": 42, "entityName": "ACME", "end": "2024-12-31", "val": 5}]}',
    )
    async with edgar_client(sec, tmp_path) as client:
        frame = await client.frame("us-gaap", "Assets", "USD", "CY2024Q4I")
        with pytest.raises(SourceUnavailable, match="no frame"):
            await client.frame("us-gaap", "Assets", "USD", "CY1990")
    assert frame.rows[0].entity_name == "ACME"


async def test_corrupt_cache_file_is_dropped_and_refetched(
    sec: FakeSecServer, tmp_path: Path
) -> None:
    """A damaged cache file is discarded with a warning and the document fetched again."""
    async with edgar_client(sec, tmp_path) as client:
        await client.company_facts(ACME_CIK)
    rewrite_cache(tmp_path, lambda _: b"garbage without header")
    async with edgar_client(sec, tmp_path) as client:
        facts = await client.company_facts(ACME_CIK)
    assert facts.entity_name == "ACME CORP"
    assert sec.count(FACTS) == 2


async def test_cached_body_that_no_longer_parses_is_refetched(
    sec: FakeSecServer, tmp_path: Path
) -> None:
    """A cached body that fails to parse (e.g. edited by hand) is dropped and fetched again."""
    async with edgar_client(sec, tmp_path) as client:
        await client.company_facts(ACME_CIK)
    rewrite_cache(tmp_path, lambda data: data.partition(b"\n")[0] + b"\n{not json")
    async with edgar_client(sec, tmp_path) as client:
        facts = await client.company_facts(ACME_CIK)
    assert facts.cik == ACME_CIK
    assert sec.count(FACTS) == 2


@pytest.mark.parametrize(
    ("user_agent", "reason"),
    [("", "required by the SEC source"), ("   ", "required"), ("ibbot", "contact e-mail")],
)
def test_missing_user_agent_refuses_to_start(tmp_path: Path, user_agent: str, reason: str) -> None:
    """Without a name and contact e-mail the client refuses to start, in one line."""
    with pytest.raises(ConfigError, match=reason) as caught:
        EdgarClient(user_agent=user_agent, clock=SimulatedClock(), cache_dir=tmp_path)
    assert caught.value.key == "fundamentals.sec_user_agent"
    assert "\n" not in str(caught.value)


def test_rate_above_the_secs_limit_is_refused(tmp_path: Path) -> None:
    """More than 10 requests per second would break the SEC's rule: refused."""
    with pytest.raises(ConfigError, match="fair-access"):
        EdgarClient(
            user_agent=USER_AGENT,
            clock=SimulatedClock(),
            cache_dir=tmp_path,
            max_requests_per_second=11,
        )
