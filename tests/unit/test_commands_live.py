"""The live commands' offline parts: `ibbot audit` tables, `ibbot kill`, the control endpoint's
request handling and the signal handlers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ibbot import cli
from ibbot.errors import ConfigError, IbbotError
from ibbot.live import (
    CONTROL_FILE,
    TOKEN_FILE,
    ControlEndpoint,
    ControlServer,
    read_control_file,
    shutdown_signals,
)
from ibbot.models import Decision, Fill, Order, OrderResult, OrderSide, OrderStatus, to_dict
from ibbot.store import AuditKind, ParquetStore

if TYPE_CHECKING:
    from pathlib import Path

    from ibbot.settings import StrategySettings

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def store_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run the CLI in an empty directory, on a store under tmp_path."""
    monkeypatch.chdir(tmp_path)
    return [
        "--set",
        f"store.path={tmp_path / 'data'}",
        "--set",
        f"risk.kill_switch_file={tmp_path / 'KILL'}",
    ]


def fill_store(path: Path) -> None:
    """Two decisions, an order in three states, a fill and a blocked order."""
    with ParquetStore(path) as store:
        for symbol, action, outcome in (("AAPL", "buy", "sent"), ("MSFT", "exit", "blocked")):
            decision = Decision(
                symbol,
                action,
                0.2,
                1.0,
                f"{symbol} reasoning",
                strategy_name="s",
                decision_id=f"d-{symbol}",
                timestamp=NOW,
            )
            store.log_audit(
                AuditKind.DECISIONS,
                {**to_dict(decision), "outcome": outcome, "detail": "sized"},
                strategy="s",
                symbol=symbol,
            )
        order = Order("s", "AAPL", OrderSide.BUY, 10, decision_id="d-AAPL", created_at=NOW)
        for status, filled in (
            (OrderStatus.PENDING, 0),
            (OrderStatus.SUBMITTED, 0),
            (OrderStatus.FILLED, 10),
        ):
            result = OrderResult(
                1,
                status,
                fill_price=100.5 if filled else None,
                fill_quantity=filled,
                symbol="AAPL",
                strategy_name="s",
                decision_id="d-AAPL",
                timestamp=NOW,
            )
            store.log_order("s", order, result)
        store.log_audit(
            "orders",
            {
                "order_ref": "s:adopted",
                **to_dict(OrderResult(2, OrderStatus.SUBMITTED, symbol="KO", timestamp=NOW)),
            },
            strategy="s",
            symbol="KO",
        )
        store.log_audit(
            "fills",
            to_dict(Fill("e1", 1, 1, "AAPL", OrderSide.BUY, 10, 100.5, NOW, 1.0, "s", "d-AAPL")),
            strategy="s",
            symbol="AAPL",
        )
        store.log_audit(
            AuditKind.RISK,
            {"rule": "max_position", "message": "too big", "at": NOW.isoformat()},
            strategy="s",
            symbol="MSFT",
        )


def ibbot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_audit_prints_each_trail_as_a_table(
    tmp_path: Path, store_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """decisions with outcome and reasoning; orders at their latest state; fills; blocks."""
    fill_store(tmp_path / "data")
    code, out, _ = ibbot(capsys, *store_args, "audit", "decisions")
    assert code == 0
    assert "AAPL reasoning" in out
    assert "blocked" in out
    assert "2 of 2 decisions" in out
    _, out, _ = ibbot(capsys, *store_args, "audit", "orders")
    assert "filled" in out
    assert "100.5" in out
    assert "2 of 2 orders" in out  # three states of one order, and one adopted
    _, out, _ = ibbot(capsys, *store_args, "audit", "fills")
    assert "e1" in out
    _, out, _ = ibbot(capsys, *store_args, "audit", "risk")
    assert "max_position" in out


def test_audit_filters(
    tmp_path: Path, store_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--symbol, --strategy, --since and --last narrow the table; a bad --since is a usage error."""
    fill_store(tmp_path / "data")
    _, out, _ = ibbot(capsys, *store_args, "audit", "decisions", "--symbol", "msft")
    assert ("MSFT reasoning" in out, "AAPL reasoning" in out) == (True, False)
    _, out, _ = ibbot(capsys, *store_args, "audit", "decisions", "--strategy", "nobody")
    assert "0 of 0 decisions" in out
    _, out, _ = ibbot(capsys, *store_args, "audit", "decisions", "--since", "2999-01-01")
    assert "0 of 0 decisions" in out
    _, out, _ = ibbot(capsys, *store_args, "audit", "decisions", "--last", "1")
    assert "1 of 2 decisions" in out
    code, _, err = ibbot(capsys, *store_args, "audit", "decisions", "--since", "yesterday")
    assert (code, "expected a date or an ISO date-time" in err) == (2, True)
    code, _, err = ibbot(capsys, *store_args, "audit", "decisions", "--last", "0")
    assert code == 2


def test_kill_engages_and_releases_the_switch(
    tmp_path: Path, store_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`ibbot kill` creates the file with the reason; --release removes it; releasing twice is fine."""
    code, out, _ = ibbot(capsys, *store_args, "kill", "--reason", "market is mad")
    assert code == 0
    assert "kill switch engaged" in out
    assert "open orders are cancelled" in out
    assert "market is mad" in (tmp_path / "KILL").read_text()
    code, out, _ = ibbot(capsys, *store_args, "kill", "--release")
    assert (code, "kill switch released" in out, (tmp_path / "KILL").exists()) == (0, True, False)
    code, out, _ = ibbot(capsys, *store_args, "kill", "--release")
    assert (code, "not engaged" in out) == (0, True)
    code, out, _ = ibbot(
        capsys, *store_args, "--set", "risk.cancel_open_orders_on_kill=false", "kill"
    )
    assert "left working" in out


def test_kill_reports_a_file_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A kill switch path under a regular file: one clear error line, exit 1."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    code, _, err = ibbot(
        capsys, "--set", f"risk.kill_switch_file={tmp_path / 'file' / 'KILL'}", "kill"
    )
    assert code == 1
    assert "cannot change the kill switch file" in err


class Target:
    """What the control endpoint drives."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def status(self) -> dict[str, Any]:
        return {"state": "running"}

    async def add_strategy(self, config: StrategySettings) -> None:
        raise ConfigError("strategies.name", config.name, "taken")

    async def remove_strategy(self, name: str) -> None:
        if name == "boom":
            raise RuntimeError("a bug, not a refusal")

    def stop(self, reason: str) -> None:
        self.stopped.append(reason)


async def raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes to the endpoint; return the status and the body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_the_control_endpoint_refuses_malformed_requests(tmp_path: Path) -> None:
    """Bad request lines, headers and bodies get a 4xx (with the reason once it is HTTP); the
    files are removed when it stops."""
    target = Target()
    server = ControlServer(target, port=0, directory=tmp_path)
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve())
        await server.ready.wait()
        assert server.address is not None
        port = server.address[1]
        endpoint = read_control_file(tmp_path)
        assert endpoint == ControlEndpoint(f"http://127.0.0.1:{port}", server.token)
        head = (
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {server.token}\r\n"
            "Connection: close\r\n"
        ).encode()
        json_head = head + b"Content-Type: application/json\r\n"
        protocol_errors = [
            b"HELLO\r\n\r\n",
            b"GET /status HTTP/1.1\r\nbroken header\r\n\r\n",
            b"POST /strategies HTTP/1.1\r\n" + head + b"Content-Length: x\r\n\r\n",
        ]
        for request in protocol_errors:
            assert (await raw(port, request))[0] == 400, request
        huge = b"GET /status HTTP/1.1\r\n" + head + b"X: " + b"y" * 1_000_000 + b"\r\n\r\n"
        with contextlib.suppress(ConnectionResetError):  # refused before it was all sent
            assert (await raw(port, huge))[0] == 400
        cases = {
            b"POST /strategies HTTP/1.1\r\n" + json_head + b"Content-Length: 2000000\r\n\r\n": (
                413,
                "at most",
            ),
            b"POST /strategies HTTP/1.1\r\n" + json_head + b"Content-Length: 2\r\n\r\n[]": (
                400,
                "must be a JSON object",
            ),
            b"POST /strategies HTTP/1.1\r\n" + head + b"Content-Length: 2\r\n\r\n{}": (
                415,
                "must be application/json",
            ),
        }
        for request, (code, reason) in cases.items():
            status, answer = await raw(port, request)
            assert (status, reason in json.loads(answer)["error"]) == (code, True), request
        body = json.dumps({"name": "x", "class_path": "a.B", "allocated_capital": 1})
        status, answer = await raw(
            port,
            b"POST /strategies HTTP/1.1\r\n"
            + json_head
            + f"Content-Length: {len(body)}\r\n\r\n{body}".encode(),
        )
        assert (status, "taken" in json.loads(answer)["error"]) == (400, True)
        status, answer = await raw(port, b"POST /stop HTTP/1.1\r\n" + head + b"\r\n")
        assert json.loads(answer) == {"stopping": True}
        assert target.stopped == ["control request"]
        serving.cancel()
    assert not (tmp_path / CONTROL_FILE).exists()
    assert not (tmp_path / TOKEN_FILE).exists()


async def test_an_unexpected_error_is_one_answer_and_one_log_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A route raising what nobody expected gets a JSON 500 and one log line; the endpoint goes on."""
    server = ControlServer(Target(), port=0, directory=tmp_path)
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(server.serve())
        await server.ready.wait()
        endpoint = read_control_file(tmp_path)
        headers = {"Authorization": f"Bearer {endpoint.token}"}
        async with httpx.AsyncClient(base_url=endpoint.url, headers=headers) as client:
            failed = await client.delete("/strategies/boom")
            after = await client.get("/status")
        serving.cancel()
    assert failed.status_code == 500
    assert failed.json() == {"error": "internal error (RuntimeError); see the service's log"}
    assert after.json() == {"state": "running"}
    lines = [line for line in capsys.readouterr().out.splitlines() if "control_failed" in line]
    assert len(lines) == 1
    assert "RuntimeError: a bug, not a refusal" in lines[0]


async def test_a_taken_control_port_is_a_config_error(tmp_path: Path) -> None:
    """The endpoint cannot listen: ConfigError naming app.control_port."""
    first = ControlServer(Target(), port=0, directory=tmp_path / "a")
    async with asyncio.TaskGroup() as tasks:
        serving = tasks.create_task(first.serve())
        await first.ready.wait()
        assert first.address is not None
        second = ControlServer(Target(), port=first.address[1], directory=tmp_path / "b")
        with pytest.raises(ConfigError, match=r"app\.control_port"):
            await second.serve()
        serving.cancel()


def test_read_control_file_says_why_it_cannot(tmp_path: Path) -> None:
    """No file, garbage, or no url: one clear error each."""
    with pytest.raises(IbbotError, match="no running ibbot found"):
        read_control_file(tmp_path)
    (tmp_path / CONTROL_FILE).write_text("{nope")
    with pytest.raises(IbbotError, match="cannot read"):
        read_control_file(tmp_path)
    (tmp_path / CONTROL_FILE).write_text("{}")
    with pytest.raises(IbbotError, match="names no loopback url"):
        read_control_file(tmp_path)
    (tmp_path / CONTROL_FILE).write_text('{"url": "http://evil.example:80"}')
    with pytest.raises(IbbotError, match="names no loopback url"):
        read_control_file(tmp_path)
    (tmp_path / CONTROL_FILE).write_text("[" * 100_000)
    with pytest.raises(IbbotError, match="cannot read"):
        read_control_file(tmp_path)
    (tmp_path / CONTROL_FILE).write_text('{"url": "http://127.0.0.1:1"}')
    with pytest.raises(IbbotError, match="cannot read the control token"):
        read_control_file(tmp_path)
    (tmp_path / TOKEN_FILE).write_text("short\n")
    with pytest.raises(IbbotError, match="holds no control token"):
        read_control_file(tmp_path)


async def test_the_first_signal_is_graceful_and_the_second_forces() -> None:
    """SIGTERM then SIGINT to this process: graceful once, forced after; handlers removed after."""
    seen: list[str] = []
    forced = asyncio.Event()
    graceful = asyncio.Event()

    def on_graceful(name: str) -> None:
        seen.append(name)
        graceful.set()

    def on_forced(name: str) -> None:
        seen.append(name)
        forced.set()

    with shutdown_signals(on_graceful, on_forced):
        os.kill(os.getpid(), signal.SIGTERM)
        await graceful.wait()
        os.kill(os.getpid(), signal.SIGINT)
        await forced.wait()
    assert seen == ["SIGTERM", "SIGINT"]
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
