"""`python -m ibbot.sim` (the `ibbot sim` command) as a real process: line, clients, signals, exit."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys

from ib_async import IB

from tests.integration.sim_support import WAIT

LINE = re.compile(r"TWS API on 127\.0\.0\.1:(\d+), control http://127\.0\.0\.1:(\d+)/")


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ibbot.sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_standalone_gateway_serves_until_sigint() -> None:
    """It prints one line with both addresses, serves ib_async and HTTP, and exits 0 on SIGINT.

    Its logs are ibbot's: JSON lines on stderr (not a terminal here), with level and logger.
    """
    proc = await _spawn(
        "--port",
        "0",
        "--control-port",
        "0",
        "--seed",
        "3",
        "--start",
        "2026-03-02T15:00:00+00:00",
        "--symbols",
        "AAPL,JPM",
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(WAIT * 2):
            line = (await proc.stdout.readline()).decode()
        match = LINE.search(line)
        assert match, line
        port, control_port = int(match.group(1)), int(match.group(2))
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=1, timeout=WAIT)
        assert ib.managedAccounts() == ["DU1234567"]
        ib.disconnect()
        reader, writer = await asyncio.open_connection("127.0.0.1", control_port)
        writer.write(b"GET /truth HTTP/1.1\r\n\r\n")
        async with asyncio.timeout(WAIT):
            response = await reader.read()
        writer.close()
        assert response.startswith(b"HTTP/1.1 200")
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT):
            assert await proc.wait() == 0
        assert await proc.stdout.read() == b""  # one line, nothing else on stdout
        assert proc.stderr is not None
        logs = [json.loads(line) for line in (await proc.stderr.read()).splitlines()]
        assert {"sim.gateway.started", "sim.session.api_started"} <= {e["event"] for e in logs}
        assert all({"level", "logger", "timestamp"} <= e.keys() for e in logs)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sigterm_also_stops_it_cleanly() -> None:
    """SIGTERM ends the gateway with status 0 too."""
    proc = await _spawn("--port", "0", "--no-control")
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(WAIT * 2):
            line = (await proc.stdout.readline()).decode()
        assert "control off" in line
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_non_loopback_host_is_refused_without_allow_remote() -> None:
    """A non-loopback --host exits with status 2 and says to pass --allow-remote."""
    proc = await _spawn("--host", "10.1.2.3", "--port", "0")
    async with asyncio.timeout(WAIT * 2):
        out, err = await proc.communicate()
    assert proc.returncode == 2
    assert out == b""
    assert b"--allow-remote" in err
