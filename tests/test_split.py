"""Splits by file or subject, never by frame."""

from hypothesis import given
from hypothesis import strategies as st

from depthrefine.markers.split import assign_splits

TRIALS = [f"data/{s:03d}/{s:02d}_{t:02d}" for s in range(1, 31) for t in range(1, 5)]


def test_subjects_are_never_split():
    splits = assign_splits(TRIALS, by="subject", val_fraction=0.1, test_fraction=0.2, seed=3)
    by_subject = {}
    for trial, split in splits.items():
        by_subject.setdefault(trial.split("/")[-1].split("_")[0], set()).add(split)
    assert all(len(s) == 1 for s in by_subject.values())
    counts = {k: sum(1 for s in by_subject.values() if k in s) for k in ("train", "val", "test")}
    assert counts == {"train": 21, "val": 3, "test": 6}


def test_forced_patterns_and_determinism():
    a = assign_splits(TRIALS, by="file", test_patterns=["data/001/*"], val_patterns=["data/002/02_01"], seed=1)
    b = assign_splits(
        list(reversed(TRIALS)), by="file", test_patterns=["data/001/*"], val_patterns=["data/002/02_01"], seed=1
    )
    assert a == b
    assert all(a[f"data/001/01_{t:02d}"] == "test" for t in range(1, 5))
    assert a["data/002/02_01"] == "val"
    assert assign_splits(TRIALS, by="file", seed=2) != a


@given(
    st.lists(st.text("abc_0123456789", min_size=1, max_size=8), min_size=3, max_size=40, unique=True),
    st.integers(0, 99),
)
def test_every_trial_gets_exactly_one_split(trials, seed):
    splits = assign_splits(trials, by="subject", seed=seed)
    assert set(splits) == set(trials)
    assert set(splits.values()) <= {"train", "val", "test"}
    assert "test" in splits.values() and "val" in splits.values()
