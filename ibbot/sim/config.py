"""How a simulated gateway is set up: where it listens, which world it simulates, how fast time runs."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from ibbot.clock import ensure_utc
from ibbot.errors import ConfigError
from ibbot.sim.universe import DEFAULT_UNIVERSE, Universe
from ibbot.sim.wire import MAX_FRAME_LENGTH

__all__ = ["SimConfig", "is_loopback"]

_MAX_FRAME_TIMEOUT = 3600.0


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Settings of one simulated gateway; invalid values raise :class:`ConfigError` on creation.

    ``port`` and ``control_port`` 0 pick a free ephemeral port; ``control_port`` None turns the
    control interface off. ``start`` is the simulated instant the clock starts at (None: now), and
    ``time_scale`` how many simulated seconds pass per wall-clock second; the pacing windows (10
    minutes, 15 s, 2 s) are measured in simulated time, so they shrink with it. ``symbols`` restricts
    the universe (empty: all). ``unavailable_fundamentals`` entries are ``"SYMBOL"``, ``"ReportType"``
    or ``"SYMBOL:ReportType"``; matching requests get error 430. ``max_messages_per_second`` is IB's
    default API message rate (error 100 beyond it, disconnect at the third strike; 0 disables it).
    ``pacing`` turns the historical/fundamentals/real-time-bar pacing rules on or off;
    ``strict_pacing`` applies IB's small-bar historical rules (60 per 10 minutes, 6 per 2 s for one
    contract, identical requests 15 s apart) to every bar size, as IB did before lifting them for
    bars of 1 minute and more.

    Limits that keep one peer from exhausting the gateway: ``max_connections`` open sockets at once
    (IB: "each TWS session can receive up to 32 different client applications simultaneously"; more
    are closed at once), ``max_buffered_bytes`` of incomplete request frames across all connections
    (past it the connections holding the most are dropped), and ``frame_timeout`` wall-clock seconds
    for a started frame to arrive whole (a peer that stalls mid-frame is dropped).

    ``max_tick_by_tick`` is the account's limit of simultaneous tick-by-tick subscriptions, across
    all its clients (error 10190 past it). IB sizes it with the market depth formula; paper and
    small live accounts report 5 (issue 13).

    ``session`` seeds the permIds and execIds beside the account: IB never gives an execId twice,
    so a gateway that may follow another for the same account (``ibbot sim`` restarted, the
    embedded simulator of every run) passes one of its own; "" gives the same ids every time.
    """

    host: str = "127.0.0.1"
    port: int = 4002
    control_port: int | None = 0
    seed: int = 42
    time_scale: float = 1.0
    start: datetime | None = None
    symbols: tuple[str, ...] = ()
    unavailable_fundamentals: tuple[str, ...] = ()
    account: str = "DU1234567"
    starting_cash: float = 1_000_000.0
    slippage_bps: float = 1.0
    allow_remote: bool = False
    max_messages_per_second: int = 50
    pacing: bool = True
    strict_pacing: bool = False
    max_connections: int = 32
    max_buffered_bytes: int = 16 * MAX_FRAME_LENGTH
    frame_timeout: float = 10.0
    max_tick_by_tick: int = 5
    session: str = ""
    universe: Universe = field(default_factory=lambda: DEFAULT_UNIVERSE, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.allow_remote and not is_loopback(self.host):
            raise ConfigError(
                "sim.host", self.host, "not a loopback address; pass --allow-remote to expose it"
            )
        for key, port in (("sim.port", self.port), ("sim.control_port", self.control_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(key, port, "a TCP port is 0..65535 (0 = any free port)")
        if not self.time_scale > 0:
            raise ConfigError("sim.time_scale", self.time_scale, "must be positive")
        if self.start is not None:
            try:
                object.__setattr__(self, "start", ensure_utc(self.start, field="sim.start"))
            except ValueError as exc:
                raise ConfigError("sim.start", self.start, str(exc)) from exc
        if not self.account or "," in self.account:
            raise ConfigError("sim.account", self.account, "one account code without commas")
        if self.starting_cash < 0:
            raise ConfigError("sim.starting_cash", self.starting_cash, "cannot be negative")
        if self.slippage_bps < 0:
            raise ConfigError("sim.slippage_bps", self.slippage_bps, "cannot be negative")
        if self.max_messages_per_second < 0:
            raise ConfigError(
                "sim.max_messages_per_second", self.max_messages_per_second, "cannot be negative"
            )
        if self.max_connections < 1:
            raise ConfigError("sim.max_connections", self.max_connections, "must be at least 1")
        if self.max_buffered_bytes < MAX_FRAME_LENGTH:
            raise ConfigError(
                "sim.max_buffered_bytes",
                self.max_buffered_bytes,
                f"must hold at least one whole frame ({MAX_FRAME_LENGTH} bytes)",
            )
        if not 0 < self.frame_timeout <= _MAX_FRAME_TIMEOUT:
            raise ConfigError(
                "sim.frame_timeout",
                self.frame_timeout,
                f"must be more than 0 and at most {_MAX_FRAME_TIMEOUT:g} seconds",
            )
        if self.max_tick_by_tick < 0:
            raise ConfigError("sim.max_tick_by_tick", self.max_tick_by_tick, "cannot be negative")
        unknown = [s for s in self.symbols if s not in self.universe]
        if unknown:
            known = ", ".join(self.universe)
            raise ConfigError("sim.symbols", ",".join(unknown), f"not simulated; known: {known}")

    @property
    def active_universe(self) -> Universe:
        """The securities this gateway knows: the configured subset, or the whole universe."""
        return self.universe.subset(self.symbols) if self.symbols else self.universe

    def fundamentals_unavailable(self, symbol: str, report_type: str) -> bool:
        """True when the configuration makes this symbol/report combination answer error 430."""
        for entry in self.unavailable_fundamentals:
            left, sep, right = entry.partition(":")
            if sep:
                if left == symbol and right == report_type:
                    return True
            elif entry in (symbol, report_type):
                return True
        return False
