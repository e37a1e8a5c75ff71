"""Train/val/test assignment by file or by subject, decided before any corruption.

Never by frame: every frame of a file (and, with ``by: subject``, every file of a subject)
lands in one split, so held-out metrics measure people and motions the model never saw.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import PurePosixPath


def group_key(trial: str, by: str, subject_pattern: str) -> str:
    if by == "file":
        return trial
    if by == "subject":
        match = re.search(subject_pattern, PurePosixPath(trial).name)
        return f"subject:{match.group(1)}" if match else trial
    raise ValueError(f"split.by must be 'file' or 'subject', got {by!r}")


def assign_splits(
    trials: list[str],
    *,
    by: str = "subject",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    subject_pattern: str = r"^(\d+)_",
    test_patterns: list[str] = (),
    val_patterns: list[str] = (),
) -> dict[str, str]:
    """Map each trial to 'train', 'val' or 'test'; deterministic in (trials, settings, seed).

    Trials matching ``test_patterns`` / ``val_patterns`` (globs on the trial id) go there
    first (a whole group follows its first forced member). Remaining groups are ordered by a
    seeded hash and the first ones fill test, then val, to the requested fractions (at least
    one group each when the fraction is positive and three or more groups remain).
    """
    groups: dict[str, list[str]] = {}
    for t in sorted(trials):
        groups.setdefault(group_key(t, by, subject_pattern), []).append(t)
    forced: dict[str, str] = {}
    for key, members in groups.items():
        for t in members:
            if any(fnmatch.fnmatchcase(t, p) for p in test_patterns):
                forced.setdefault(key, "test")
            elif any(fnmatch.fnmatchcase(t, p) for p in val_patterns):
                forced.setdefault(key, "val")
    free = sorted(
        (k for k in groups if k not in forced), key=lambda k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest()
    )

    def count(fraction: float) -> int:
        n = round(fraction * len(groups))
        return max(n, 1) if fraction > 0 and len(free) >= 3 else n

    n_test = max(0, count(test_fraction) - sum(v == "test" for v in forced.values()))
    n_val = max(0, count(val_fraction) - sum(v == "val" for v in forced.values()))
    chosen = dict(forced)
    for i, key in enumerate(free):
        chosen[key] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return {t: chosen[key] for key, members in groups.items() for t in members}
