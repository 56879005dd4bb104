"""The console a trader reads: one line per decision, order outcome and fill, in market time; the
plumbing and other libraries' INFO lines at DEBUG only; progress bars and log lines sharing the
terminal; the JSON log keeping every record."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from ibbot.clock import SimulatedClock
from ibbot.live.banner import RunFacts, banner_lines
from ibbot.logs import (
    configure_logging,
    log_console,
    market_time,
    mask_id,
    reset_logging,
    show_banner,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

log = structlog.get_logger("ibbot.live.trader")
executor_log = structlog.get_logger("ibbot.broker.executor")
# 10:05:00 in New York on a Wednesday.
MARKET = datetime(2026, 3, 4, 15, 5, tzinfo=UTC)
REASONING = "crossover PASS: SMA(5) 63.15 crossed above SMA(20) 63.14 (+0.0%) | " + "x" * 300
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class TtyStream(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test starts and ends without ibbot's logging configuration."""
    reset_logging()
    yield
    reset_logging()


def a_trade() -> None:
    """What the trader and the executor log for one market order that fills (as a run does)."""
    log.info(
        "trade.decision",
        reasoning=REASONING,
        detail="target 0.200 x capital 100,000.00 / price 63.18 = 316 shares; holding 0: BUY 316",
        outcome="sent",
        action="buy",
        symbol="KO",
        strategy="sma_cross",
    )
    ref = "sma_cross:sma_cross-KO-20260304T150500Z-000189"
    executor_log.info("executor.placed", order_id=86, order_ref=ref, symbol="KO", side="BUY")
    for status in ("pending", "submitted", "filled"):
        executor_log.info("executor.order_status", order_id=86, status=status, strategy="sma_cross")
    executor_log.info("executor.fill", exec_id="e1", price=63.2063, quantity=316.0, symbol="KO")
    executor_log.info("executor.submitted", order_id=86, status="filled", order_ref=ref)
    log.info(
        "trade.order_done",
        order_ref=ref,
        symbol="KO",
        side="BUY",
        quantity=316,
        status="filled",
        filled=316.0,
        price=63.2063,
        message=None,
    )
    log.info(
        "trade.fill",
        strategy="sma_cross",
        symbol="KO",
        side="BUY",
        quantity=316.0,
        price=63.2063,
        commission=1.58,
        position=316.0,
    )


def console_lines(level: str = "INFO") -> tuple[io.StringIO, Any]:
    out = io.StringIO()
    configure_logging(level, "console", stream=out)  # type: ignore[arg-type]
    return out, market_time(SimulatedClock(MARKET))


def test_a_trade_is_three_lines_starting_with_time_strategy_symbol_action() -> None:
    """Decision, order outcome, fill: one line each, market time, strategy, symbol, action first;
    the decision's sizing and reasoning after them, whatever order the call gave its keys in."""
    out, clock = console_lines()
    with clock:
        a_trade()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    decision, order, fill = lines
    assert re.match(r"10:05:00  sma_cross\s+KO\s+BUY\s+sent: target 0.200", decision), decision
    assert decision.endswith("| " + REASONING)
    assert re.match(r"10:05:00  sma_cross\s+KO\s+BUY\s+order filled: 316 at 63.2063", order)
    assert order.endswith("sma_cross-KO-20260304T150500Z-000189")
    assert re.match(
        r"10:05:00  sma_cross\s+KO\s+BUY\s+fill 316 at 63.2063, commission 1.58, position \+316$",
        fill,
    )


def test_the_plumbing_is_shown_at_debug() -> None:
    """--log-level DEBUG shows the executor's order states too."""
    out, clock = console_lines("DEBUG")
    with clock:
        a_trade()
    text = out.getvalue()
    assert text.count("executor.order_status") == 3
    assert "executor.placed" in text


def test_other_libraries_info_lines_only_at_debug() -> None:
    """httpx's and ib_async's INFO lines stay off the console at INFO; their warnings show."""
    out, _ = console_lines()
    logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1/status "HTTP/1.1 200 OK"')
    logging.getLogger("ib_async.wrapper").info("position: Position(account='x', position=1.0)")
    logging.getLogger("ib_async.wrapper").info("execDetails Execution(execId='1')")
    logging.getLogger("ib_async.client").warning("Peer closed connection.")
    assert [ANSI.sub("", line)[10:] for line in out.getvalue().splitlines()] == [
        "WARNING ib_async.client: Peer closed connection."
    ]
    debug = io.StringIO()
    configure_logging("DEBUG", "console", stream=debug)
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1/status")
    assert "httpx: HTTP Request" in debug.getvalue()


def test_json_logs_keep_every_record_with_its_data() -> None:
    """The JSON log is unfiltered: the executor's records and the libraries' INFO lines are there,
    and every key of the trader's records with its value."""
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    with market_time(SimulatedClock(MARKET)):
        a_trade()
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1/status")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records].count("executor.order_status") == 3
    assert records[-1]["logger"] == "httpx"
    decision = records[0]
    assert decision["event"] == "trade.decision"
    assert decision["reasoning"] == REASONING
    assert {k for k in decision if k not in ("event", "level", "logger", "timestamp")} == {
        "reasoning",
        "detail",
        "outcome",
        "action",
        "symbol",
        "strategy",
    }
    assert decision["timestamp"].startswith(f"{datetime.now(UTC):%Y-%m-%d}")  # wall clock, as ever


def test_market_time_is_the_run_s_and_ends_with_it() -> None:
    """Inside market_time the lines carry the market clock's New York time, and the date when the
    market day changes; outside, the local wall clock's."""
    out = io.StringIO()
    configure_logging("INFO", "console", stream=out)
    clock = SimulatedClock(MARKET)
    with market_time(clock):
        log.info("app.summary", decisions=1)
        clock.advance(timedelta(days=1).total_seconds())
        log.info("app.summary", decisions=2)
    log.info("app.stopped")
    first, day, second, after = out.getvalue().splitlines()
    assert first.startswith("10:05:00  app.summary")
    assert day == "-- 2026-03-05 Thursday (times are New York market time) --"
    assert second.startswith("10:05:00  app.summary")
    assert re.match(r"\d\d:\d\d:\d\d  app.stopped$", after)


def test_generic_lines_keep_the_call_s_key_order_with_strategy_and_symbol_first() -> None:
    """Keys are not sorted: as the call gave them, strategy and symbol first; warnings say so."""
    out, clock = console_lines()
    with clock:
        log.warning(
            "trade.blocked", rule="max_order_notional", symbol="KO", strategy="s", reason="x y"
        )
    assert out.getvalue().rstrip() == (
        "10:05:00  WARNING trade.blocked          strategy=s symbol=KO rule=max_order_notional "
        "reason='x y'"
    )


def test_log_lines_scroll_above_a_progress_bar() -> None:
    """On a terminal a progress bar on log_console() is cleared before a log line is printed and
    drawn again after it, so the line is not overwritten by the bar's next refresh."""
    from rich.progress import Progress  # noqa: PLC0415

    out = TtyStream()
    configure_logging("INFO", "auto", stream=out)
    with Progress(console=log_console(), auto_refresh=False) as progress:
        task = progress.add_task("backfill", total=10)
        progress.update(task, advance=3)
        progress.refresh()
        structlog.get_logger("ibbot.test").info("app.history_ready", bars=480)
    text = out.getvalue()
    line = text.index("app.history_ready")
    since_cleared = text[text.rindex("\x1b[2K", 0, line) : line]
    assert "━" not in since_cleared, repr(since_cleared)  # the bar was erased, then the line came
    assert "backfill" in text[line:]  # the bar is drawn again below the line


def test_the_banner_says_mode_account_data_stop_and_audit(tmp_path: Path) -> None:
    """The start banner: SIMULATED/PAPER/LIVE first, the account masked, where data goes, how to
    stop and audit; printed on the console only."""
    facts = RunFacts(
        version="0.1.0",
        simulator=None,
        gateway="127.0.0.1:4002",
        paper=False,
        allow_live=True,
        read_only=False,
        account=mask_id("U7654321"),
        market_now=MARKET,
        store=tmp_path / "data",
        strategies=["sma_cross"],
        duration=None,
    )
    lines = banner_lines(facts)
    assert lines[0] == "ibbot 0.1.0  LIVE TRADING with real money through 127.0.0.1:4002"
    assert lines[1] == "account U*****21; strategies: sma_cross"
    assert "market time 2026-03-04 10:05:00 New York (Wednesday)" in lines[2]
    assert f"data: {tmp_path / 'data'}/" in lines[3]
    assert "Ctrl-C" in lines[4]
    assert "ibbot audit decisions" in lines[4]
    assert mask_id("DU1234567") == "DU*****67"
    out = io.StringIO()
    configure_logging("INFO", "console", stream=out)
    show_banner(lines)
    assert lines[0] in out.getvalue()
    quiet = io.StringIO()
    configure_logging("INFO", "json", stream=quiet)
    show_banner(lines)
    assert quiet.getvalue() == ""
