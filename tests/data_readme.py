"""What data/README.md documents: the names it gives a section, and the audit kinds it lists.

Tests compare what ibbot really writes with these, so the reference cannot silently go stale.
"""

from __future__ import annotations

import re
from pathlib import Path

DATA_README = Path(__file__).resolve().parents[1] / "data" / "README.md"


def documented_entries() -> set[str]:
    """Top-level names under data/ that have a section (``### `prices/```)."""
    text = DATA_README.read_text(encoding="utf-8")
    return set(re.findall(r"^### `([^`/]+)/?`", text, flags=re.MULTILINE))


def documented_audit_kinds() -> set[str]:
    """Audit kinds listed in the audit section (``- `decisions`: ...``)."""
    text = DATA_README.read_text(encoding="utf-8")
    return set(re.findall(r"^- `([a-z_]+)`:", text, flags=re.MULTILINE))


def undocumented(data_dir: Path) -> list[str]:
    """What ``data_dir`` holds that data/README.md does not describe (empty when all is)."""
    entries = documented_entries()
    missing = [p.name for p in data_dir.iterdir() if p.name not in entries]
    audit = data_dir / "audit"
    if audit.is_dir():
        kinds = documented_audit_kinds()
        missing += [f"audit/{p.name}" for p in audit.iterdir() if p.name not in kinds]
    return sorted(missing)
