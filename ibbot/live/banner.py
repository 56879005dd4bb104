"""The start banner of a run: what ibbot is connected to, where its data goes, how to stop it.

A few lines on the console (:func:`ibbot.logs.show_banner`) once the gateway has named the account,
before the history is loaded: SIMULATED, PAPER or LIVE first, so nobody mistakes one for another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ibbot.console import MARKET_ZONE

__all__ = ["RunFacts", "banner_lines"]


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the banner says. ``account`` is already masked; ``simulator`` describes the embedded
    simulated gateway (None against a gateway); ``duration`` is ``--duration``'s seconds."""

    version: str
    simulator: str | None
    gateway: str
    paper: bool
    allow_live: bool
    read_only: bool
    account: str
    market_now: datetime
    store: Path
    strategies: Sequence[str]
    duration: float | None


def banner_lines(facts: RunFacts) -> list[str]:
    """The banner, line by line."""
    if facts.simulator is not None:
        mode = f"SIMULATED market: {facts.simulator}"
    elif facts.paper:
        mode = f"PAPER trading through {facts.gateway}"
    elif facts.allow_live:
        mode = f"LIVE TRADING with real money through {facts.gateway}"
    else:
        mode = (
            f"LIVE account through {facts.gateway}: orders refused (ib.allow_live_trading is false)"
        )
    if facts.read_only:
        mode += "; read-only: no order is sent"
    now = facts.market_now.astimezone(MARKET_ZONE)
    stop = "stop: Ctrl-C (gracefully; a second Ctrl-C stops at once)"
    if facts.duration is not None:
        stop = (
            f"stops {facts.duration:g} s after the live feed opens, or at Ctrl-C (gracefully; a "
            "second Ctrl-C stops at once)"
        )
    return [
        f"ibbot {facts.version}  {mode}",
        f"account {facts.account}; strategies: {', '.join(facts.strategies) or 'none'}",
        f"market time {now:%Y-%m-%d %H:%M:%S} New York ({now:%A}); the times below are market time",
        f"data: {facts.store}/ (audit trail in {facts.store / 'audit'}/)",
        f"{stop}; audit: ibbot audit decisions|orders|fills|risk",
    ]
