"""Run ids: what tells the records of one run of ibbot from another's.

Every run of ``ibbot run`` (and every command that writes to a store) gets a new id, written into
every audit line, every batch of events and every saved state. It also qualifies the ids a run
makes: a decision id is unique within a strategy only while the strategy's sequence counter lives,
and the embedded simulator opens a fresh account at the same simulated instant every run, so the
same strategy decides on the same bars with the same counter again; ``<decision id>@<run id>`` is
unique across runs, and so is the ``orderRef`` made of it. The id starts with the wall-clock
instant the run began (UTC), so run ids sort in the order the runs started, followed by random hex
digits for two runs started in the same second.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Final

from ibbot.clock import ensure_utc

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["RUN_ID_SEPARATOR", "is_run_id", "new_run_id", "qualify_decision_id"]

RUN_ID_SEPARATOR: Final = "@"
"""Between a strategy's own decision id and the run that made it: ``<decision id>@<run id>``."""

_RANDOM_HEX: Final = 4
_RUN_ID: Final = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}")


def new_run_id(started: datetime) -> str:
    """``"20260601T101010Z-3fa2"``: the run's wall-clock start (UTC) and four random hex digits."""
    return f"{ensure_utc(started, field='started'):%Y%m%dT%H%M%SZ}-{secrets.token_hex(_RANDOM_HEX // 2)}"


def is_run_id(text: str) -> bool:
    """True for a value :func:`new_run_id` returns."""
    return _RUN_ID.fullmatch(text) is not None


def qualify_decision_id(decision_id: str, run_id: str) -> str:
    """``decision_id`` made unique across runs: ``<decision id>@<run id>`` (once; "" stays "")."""
    if not decision_id or not run_id or decision_id.endswith(RUN_ID_SEPARATOR + run_id):
        return decision_id
    return f"{decision_id}{RUN_ID_SEPARATOR}{run_id}"
