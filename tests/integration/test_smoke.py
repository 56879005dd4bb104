"""`ibbot smoke`: the paper-trading checklist against the simulated gateway, passing and failing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tomli_w

from ibbot import cli
from ibbot.live.smoke import (
    CHECKS,
    CONNECT,
    MARKET_DATA,
    SHUTDOWN,
    TEST_ORDER,
    CheckStatus,
    run_smoke,
)
from tests.integration.app_support import (
    TRADING_START,
    app_settings,
    running_gateway,
)

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from ibbot.exchange.orders import OrderRequest
    from ibbot.live.smoke import Check
    from ibbot.sim.gateway import SimulatedGateway


def statuses(checks: list[Check]) -> dict[str, CheckStatus]:
    """Each check's status, by name."""
    return {check.name: check.status for check in checks}


def config_file(tmp_path: Path, **overrides: object) -> Path:
    """A settings file for the CLI: the embedded simulator, market open, two symbols."""
    settings = app_settings(tmp_path, strategies=[], **overrides)
    document = settings.model_dump(mode="json", exclude_none=True)
    document["sim"]["control_port"] = "off"
    document["app"]["control_port"] = "off"
    path = tmp_path / "settings.toml"
    path.write_text(tomli_w.dumps(document))
    return path


def test_every_check_passes_on_the_simulator_with_a_test_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ibbot smoke --place-test-order`: seven PASS lines, a log and a summary, exit 0."""
    out = tmp_path / "smoke"
    config = config_file(tmp_path, sim={"start": TRADING_START.isoformat()})
    code = cli.main(["smoke", "--config", str(config), "--place-test-order", "--out", str(out)])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0, printed
    assert [line.split()[0] for line in printed[: len(CHECKS)]] == ["PASS"] * len(CHECKS)
    assert "BUY 1 AAPL filled at" in printed[CHECKS.index(TEST_ORDER)]
    assert printed[-1].startswith("all checks passed")
    summary = (out / "summary.md").read_text()
    assert "- result: PASS" in summary
    assert f"| {TEST_ORDER} | PASS |" in summary
    assert (out / "smoke.log").read_text().count("\n") > 10
    assert (out / "data" / "state" / "smoke-probe.json").exists()


def test_without_a_gateway_the_connect_check_fails_and_the_rest_are_not_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens at ib.port: FAIL on connect with the reason, exit 1."""
    config = config_file(tmp_path, ib={"simulate": False, "port": 1})
    code = cli.main(["smoke", "--config", str(config), "--out", str(tmp_path / "smoke")])
    printed = capsys.readouterr().out.splitlines()
    assert code == 1
    assert printed[0].startswith(f"FAIL  {CONNECT}: ConnectionFailed")
    assert all(line.startswith("FAIL") for line in printed[1 : len(CHECKS)])
    assert printed[-1].startswith("some checks FAILED")


async def test_a_rejected_test_order_is_the_failing_check(tmp_path: Path) -> None:
    """The gateway rejects the order: only the test-order check fails, with IB's reason."""
    async with running_gateway() as gateway:
        gateway.reject_next_orders(5, code=201, message="Order rejected - reason: smoke test")
        settings = app_settings(tmp_path, strategies=[], port=gateway.port)
        checks = await run_smoke(
            settings,
            store=tmp_path / "smoke",
            place_test_order=True,
            timeout=20.0,
            market_clock=gateway.clock,
        )
    failed = {c.name: c.evidence for c in checks if c.status is CheckStatus.FAIL}
    assert list(failed) == [TEST_ORDER]
    assert "rejected" in failed[TEST_ORDER]
    assert "smoke test" in failed[TEST_ORDER]


async def test_withheld_market_data_is_the_failing_check(tmp_path: Path) -> None:
    """The gateway lists MSFT but sends it no live data (subscriptions accepted, announced frozen,
    then silence): after its bounded wait the market data check fails naming MSFT alone, while
    AAPL goes through every other check. History (the warm-up, bars backfilled from IB) does not
    count as market data."""
    async with running_gateway() as gateway:
        gateway.withhold_market_data("MSFT")
        settings = app_settings(tmp_path, strategies=[], port=gateway.port)
        assert settings.collector.watchlist == ["AAPL", "MSFT"]
        checks = await run_smoke(
            settings,
            store=tmp_path / "smoke",
            place_test_order=True,
            timeout=10.0,  # the whole wait: MSFT never answers
            market_clock=gateway.clock,
        )
        assert gateway.truth()["faults"]["no_data"] == ["MSFT"]
    assert statuses(checks) == {
        name: CheckStatus.FAIL if name == MARKET_DATA else CheckStatus.PASS for name in CHECKS
    }
    market_data = checks[CHECKS.index(MARKET_DATA)]
    assert market_data.line.startswith(
        f"FAIL  {MARKET_DATA}: no live tick or bar within 10 s for MSFT ("
    )
    silent, got = market_data.evidence.split("; got: ")
    assert "AAPL" not in silent
    assert got.startswith("AAPL ")
    assert "MSFT" not in got
    order = checks[CHECKS.index(TEST_ORDER)].evidence
    assert order.startswith("BUY 1 AAPL filled at")


def reject_after_the_first_order(
    gateway: SimulatedGateway, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """The gateway takes the test order's BUY, then rejects the next ``count`` orders (IB's 201)."""
    exchange = gateway.hub.exchange
    submit = exchange.submit
    seen: list[OrderRequest] = []

    def submit_then_reject(request: OrderRequest, *args: Any, **kwargs: Any) -> Any:
        events = submit(request, *args, **kwargs)
        seen.append(request)
        if len(seen) == 1:
            exchange.reject_next(count, message="Order rejected - reason: no closing today")
        return events

    monkeypatch.setattr(exchange, "submit", submit_then_reject)


def held(gateway: SimulatedGateway, symbol: str) -> float:
    """The simulated account's position in ``symbol``."""
    positions = gateway.truth()["exchange"]["positions"]
    return sum(p["quantity"] for p in positions if p["symbol"] == symbol)


async def test_the_smoke_test_closes_what_its_test_order_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's closing SELL is rejected: the smoke test sells the share back itself at the end,
    the account is flat, and the check says how it was closed."""
    async with running_gateway() as gateway:
        reject_after_the_first_order(gateway, monkeypatch, count=1)
        settings = app_settings(tmp_path, strategies=[], port=gateway.port)
        checks = await run_smoke(
            settings,
            store=tmp_path / "smoke",
            place_test_order=True,
            timeout=20.0,
            market_clock=gateway.clock,
        )
        assert held(gateway, "AAPL") == 0
    order = checks[CHECKS.index(TEST_ORDER)]
    assert order.status is CheckStatus.PASS, order.line
    assert order.evidence.startswith("BUY 1 AAPL filled at")
    assert "sold back" not in order.evidence
    assert " for AAPL was rejected: " in order.evidence
    assert "no closing today" in order.evidence
    assert "the smoke test's closing order SELL 1 AAPL ended filled at" in order.evidence
    assert order.evidence.endswith("the account holds no AAPL, as before the test")
    assert statuses(checks)[SHUTDOWN] is CheckStatus.PASS


async def test_the_smoke_test_fails_unless_the_account_is_flat_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every order after the BUY is rejected, the clean-up's too: the test order check fails,
    saying the account still holds the share."""
    async with running_gateway() as gateway:
        reject_after_the_first_order(gateway, monkeypatch, count=10)
        settings = app_settings(tmp_path, strategies=[], port=gateway.port)
        checks = await run_smoke(
            settings,
            store=tmp_path / "smoke",
            place_test_order=True,
            timeout=20.0,
            market_clock=gateway.clock,
        )
        assert held(gateway, "AAPL") == 1
    order = checks[CHECKS.index(TEST_ORDER)]
    assert order.status is CheckStatus.FAIL
    assert "the account still holds 1 AAPL (0 before the test)" in order.evidence
    assert order.evidence.endswith("; close it by hand")
