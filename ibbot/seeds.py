"""Stable seeds from text: what makes the simulated market and the matching engine's ids reproducible.

Python's ``hash()`` of a string changes between processes; a seed taken from a cryptographic digest
of the same parts is the same in every process and on every machine.
"""

from __future__ import annotations

import hashlib

__all__ = ["seed_for"]


def seed_for(*parts: object) -> int:
    """A 128-bit seed from the parts' text (stable across processes, unlike ``hash()``)."""
    key = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "little")
