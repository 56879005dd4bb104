"""data/README.md names every file and audit kind ibbot writes under the store."""

from __future__ import annotations

from pathlib import Path

from ibbot.broker.executor import AUDIT_FILLS
from ibbot.live.control import CONTROL_FILE, TOKEN_FILE
from ibbot.live.state import BOOK_STATE
from ibbot.settings import Settings
from ibbot.store import AuditKind
from tests.data_readme import DATA_README, documented_audit_kinds, documented_entries


def test_every_audit_kind_is_documented() -> None:
    """Each kind ibbot audits under has its bullet in the audit section."""
    assert {kind.value for kind in AuditKind} | {AUDIT_FILLS} <= documented_audit_kinds()


def test_the_default_paths_under_data_are_documented() -> None:
    """Files whose place under data/ comes from settings or constants have their section."""
    settings = Settings()
    names = {
        Path(settings.risk.kill_switch_file).name,
        Path(settings.fundamentals.sec_cache_dir).name,
        CONTROL_FILE,
        TOKEN_FILE,
        "prices",
        "fundamentals",
        "events",
        "contracts",
        "state",
        "audit",
        "backtests",
        "smoke",
    }
    assert names <= documented_entries()
    assert f"state/{BOOK_STATE}.json" in DATA_README.read_text(encoding="utf-8")
