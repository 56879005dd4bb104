"""Logging: JSON or console rendering, levels, stdlib records routed through structlog, redaction."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

import pytest
import structlog

from ibbot.logs import (
    MASK,
    IBErrorDemoter,
    Redactor,
    configure_logging,
    log_console,
    progress_console,
    reset_logging,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

log = structlog.get_logger("ibbot.test")


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


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_auto_format_is_json_when_not_a_terminal() -> None:
    """On a non-terminal stream each record is one JSON object with level, logger and UTC time."""
    out = io.StringIO()
    configure_logging("INFO", "auto", stream=out)
    log.info("component.something_happened", count=3, symbol="AAPL")
    [record] = json_lines(out)
    assert record["event"] == "component.something_happened"
    assert record["count"] == 3
    assert record["symbol"] == "AAPL"
    assert record["level"] == "info"
    assert record["logger"] == "ibbot.test"
    assert record["timestamp"].endswith("Z")


def test_auto_format_is_coloured_console_on_a_terminal() -> None:
    """On a terminal records are console lines with ANSI colours, not JSON."""
    out = TtyStream()
    configure_logging("INFO", "auto", stream=out)
    log.info("component.started", port=4002)
    text = out.getvalue()
    assert "component.started" in text
    assert "\x1b[" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_forced_formats() -> None:
    """format=console renders console lines (uncoloured off a terminal); json forces JSON on a TTY."""
    out = io.StringIO()
    configure_logging("INFO", "console", stream=out)
    log.info("component.started", port=4002)
    assert "component.started" in out.getvalue()
    assert "port=4002" in out.getvalue()
    assert "\x1b[" not in out.getvalue()

    tty = TtyStream()
    configure_logging("INFO", "json", stream=tty)
    log.info("component.started", port=4002)
    assert json_lines(tty)[0]["port"] == 4002


def test_level_filters_both_structlog_and_stdlib_records() -> None:
    """Records below the configured level are dropped, whichever API produced them."""
    out = io.StringIO()
    configure_logging("WARNING", "json", stream=out)
    log.info("component.chatty")
    logging.getLogger("ib_async.client").info("chatty too")
    log.warning("component.careful")
    logging.getLogger("ib_async.client").error("broken")
    assert [record["event"] for record in json_lines(out)] == ["component.careful", "broken"]


def test_stdlib_records_come_out_through_structlog() -> None:
    """ib_async's and asyncio's stdlib loggers render like ibbot's own events, args formatted."""
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out)
    logging.getLogger("ib_async.client").info(
        "Connecting to %s:%d with clientId %d...", "127.0.0.1", 4002, 1
    )
    logging.getLogger("asyncio").debug("Using selector: %s", "EpollSelector")
    first, second = json_lines(out)
    assert first["event"] == "Connecting to 127.0.0.1:4002 with clientId 1..."
    assert first["logger"] == "ib_async.client"
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert second["logger"] == "asyncio"
    assert second["level"] == "debug"


def test_exceptions_are_rendered_and_redacted() -> None:
    """An exception's traceback is rendered as text, with registered secrets masked in it."""
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out, secrets=["DU7654321"])
    try:
        raise RuntimeError("order for DU7654321 failed")
    except RuntimeError:
        log.exception("component.failed")
    [record] = json_lines(out)
    assert "RuntimeError: order for *** failed" in record["exception"]
    assert "DU7654321" not in out.getvalue()


def test_secret_keys_are_masked_at_any_depth() -> None:
    """Values under secret-looking keys are masked in nested dicts and lists; others are kept."""
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    log.info(
        "component.connected",
        password="hunter22",
        account="DU1111111",
        managed_accounts=["DU1111111", "DU2222222"],
        detail={"api_key": "k-123", "items": [{"user_agent": "me@example.com", "symbol": "KO"}]},
        host="127.0.0.1",
        account_count=2,
    )
    [record] = json_lines(out)
    assert record["password"] == MASK
    assert record["account"] == MASK
    assert record["managed_accounts"] == MASK
    assert record["detail"] == {"api_key": MASK, "items": [{"user_agent": MASK, "symbol": "KO"}]}
    assert record["host"] == "127.0.0.1"
    assert (
        record["account_count"] == MASK
    )  # a word "account" in the key is enough: mask rather than leak


def test_registered_secrets_are_masked_inside_any_string() -> None:
    """Registered values are masked in messages, nested strings and object reprs, also when added later."""
    out = io.StringIO()
    redactor = configure_logging("INFO", "json", stream=out, secrets=["DU7654321", "abc"])
    redactor.add("tok-98765")
    logging.getLogger("ib_async.wrapper").info("managed accounts: DU7654321")
    log.info(
        "component.event",
        note=("sent with tok-98765", 1),
        obj=_Holder("DU7654321"),
        plain=_Holder("nothing secret"),
        short="abc",
    )
    first, second = json_lines(out)
    assert first["event"] == "managed accounts: ***"
    assert second["note"] == ["sent with ***", 1]
    assert second["obj"] == "_Holder('***')"
    assert second["plain"] == "_Holder('nothing secret')"
    assert second["short"] == "abc"  # shorter than 4 characters: would mask ordinary words


def test_redactor_keeps_values_without_secrets_unchanged() -> None:
    """Without registered secrets the redactor only masks secret keys and keeps other objects as they are."""
    redactor = Redactor()
    holder = _Holder("DU7654321")
    event = redactor(
        None, "info", {"event": "x", "obj": holder, "n": 1.5, "none": None, "token": ""}
    )
    assert event == {"event": "x", "obj": holder, "n": 1.5, "none": None, "token": ""}
    assert redactor.redact(frozenset({"a"})) == frozenset({"a"})


def test_configure_is_idempotent() -> None:
    """Configuring again replaces the handler: records go once, to the new stream, at the new level."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", stream=first)
    configure_logging("DEBUG", "json", stream=second)
    log.debug("component.debugging")
    logging.getLogger("ib_async").debug("debugging too")
    assert first.getvalue() == ""
    assert [record["event"] for record in json_lines(second)] == [
        "component.debugging",
        "debugging too",
    ]
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_IbbotHandler"]
    assert len(ours) == 1


def test_reset_removes_the_handler() -> None:
    """After reset_logging nothing more is written to the configured stream."""
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    reset_logging()
    logging.getLogger("ib_async").warning("after reset")
    assert out.getvalue() == ""
    assert logging.getLogger().level == logging.WARNING


class _Holder:
    """An object whose repr contains its value."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"_Holder({self.value!r})"


def test_ib_async_lines_for_codes_ibbot_logs_are_demoted_to_debug() -> None:
    """ib_async's "Error 430"/"Warning 2104"/"Error 162" lines drop below INFO; others stay."""
    wrapper = logging.getLogger("ib_async.wrapper")
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    wrapper.error("Error 430, reqId 7: We are sorry, but fundamentals data ... is not available.")
    wrapper.info("Warning 2104, reqId -1: Market data farm connection is OK:usfarm")
    wrapper.error("Error 162, reqId 9: Historical Market Data Service error message:HMDS query")
    wrapper.error("Error 201, reqId 3: Order rejected - reason:")
    wrapper.warning("IBKR API validation warning: Trade(...)")
    assert [(r["level"], r["event"][:9]) for r in json_lines(out)] == [
        ("error", "Error 201"),
        ("warning", "IBKR API "),
    ]
    debug = io.StringIO()
    configure_logging("DEBUG", "json", stream=debug)
    wrapper.error("Error 430, reqId 7: We are sorry, but fundamentals data ... is not available.")
    assert [(r["level"], r["event"][:9]) for r in json_lines(debug)] == [("debug", "Error 430")]


def test_reset_removes_the_ib_async_demoter() -> None:
    """Configured twice there is one demoter on ib_async's logger; after reset there is none."""
    wrapper = logging.getLogger("ib_async.wrapper")
    configure_logging("INFO", "json", stream=io.StringIO())
    configure_logging("INFO", "json", stream=io.StringIO())
    assert [type(f) for f in wrapper.filters] == [IBErrorDemoter]
    reset_logging()
    assert wrapper.filters == []


def test_no_progress_console_when_stderr_is_no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch run (stderr a pipe or a file) gets no progress bar, and no rich console built."""
    monkeypatch.delenv("FORCE_TERMINAL", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_console() is None


def test_progress_console_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the bar draws on the log's own console; a forced terminal gets one too."""
    configure_logging("INFO", "console", stream=TtyStream())
    assert progress_console() is log_console()
    reset_logging()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    console = progress_console()
    assert console is not None
    assert console.is_terminal
