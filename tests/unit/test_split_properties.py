"""Property tests (hypothesis) for splitting and manifest parsing: for any input, nothing leaks across splits, the
CSV's splits win, old images keep their split when images are added, and a manifest round-trips."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graftline.data.manifest import COLUMNS, SPLITS, read_manifest, write_manifest
from graftline.data.splits import assign_splits

EXAMPLES = 300


@st.composite
def datasets(draw, max_rows: int = 60):
    """Rows with a class, a content (copies share one), perhaps a given split, and look-alike pairs."""
    n = draw(st.integers(1, max_rows))
    label = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), np.int32)
    content = np.array(draw(st.lists(st.integers(0, n), min_size=n, max_size=n)), np.int64)
    given = np.array(draw(st.lists(st.sampled_from([-1, -1, -1, 0, 1, 2]), min_size=n, max_size=n)), np.int8)
    for c in np.unique(content):  # a CSV gives copies of one image one split (or the rule rejects it)
        given[content == c] = given[content == c][0]
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    fractions = draw(st.sampled_from([(0.2, 0.5), (0.25, 0.25), (0.0, 0.3), (0.1, 0.1)]))
    return label, given, content, np.array(pairs, np.int64).reshape(-1, 2), fractions


def digests(content: np.ndarray) -> np.ndarray:
    return np.array([hashlib.sha256(int(c).to_bytes(8, "little")).digest() for c in content], "S32")


def split(label, given, content, pairs, fractions, seed=0, caps=(None, None)):
    return assign_splits(label, given, content, val_fraction=fractions[0], test_fraction=fractions[1], seed=seed,
                         train_per_class=caps[0], val_per_class=caps[1], together=pairs, digest=digests(content))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.integers(0, 3))
def test_no_leak_and_given_splits_win(data, seed):
    label, given_, content, pairs, fractions = data
    s, kept = split(label, given_, content, pairs, fractions, seed, caps=(2, None))
    assert s.dtype == np.int8 and set(np.unique(s)) <= {0, 1, 2}
    assert (s[given_ >= 0] == given_[given_ >= 0]).all()  # the CSV wins
    for c in np.unique(content):  # identical bytes: one split
        assert len(set(s[content == c].tolist())) == 1
    free = given_[pairs[:, 0]] < 0
    free &= given_[pairs[:, 1]] < 0
    assert (s[pairs[free, 0]] == s[pairs[free, 1]]).all()  # look-alikes with no given split: one split
    assert kept[s != SPLITS.index("train")].all()  # only the capped split is subsampled
    if fractions[0] == 0:
        assert not (s[given_ < 0] == SPLITS.index("val")).any()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(max_rows=40), datasets(max_rows=40))
def test_adding_images_never_moves_an_old_one(old, new):
    """Without look-alikes or given splits, appending any rows (new contents) leaves every old row where it was,
    unless a class needed its forced val/test/train image (a class of >= 3 contents that the hash left without one
    of its splits, before or after); a class that gains no rows never changes at all."""
    _, _, content, _, fractions = old
    _, _, content2, _, _ = new
    content2 = content2 + len(content) + 1  # new bytes
    label, label2 = (content % 3).astype(np.int32), (content2 % 3).astype(np.int32)  # one label per content
    none = np.zeros((0, 2), np.int64)
    base, _ = split(label, np.full(len(label), -1, np.int8), content, none, fractions)
    both_label = np.concatenate([label, label2])
    both_content = np.concatenate([content, content2])
    grown, _ = split(both_label, np.full(len(both_label), -1, np.int8), both_content, none, fractions)
    moved = base != grown[:len(label)]
    assert not (moved & ~np.isin(label, label2)).any()
    if not _forced_somewhere(label, content, fractions) and not _forced_somewhere(both_label, both_content,
                                                                                  fractions):
        assert not moved.any()


def _natural(content, fractions):
    from graftline.data.splits import split_keys

    key = split_keys(digests(content), 0)
    return np.where(key < fractions[1], 2, np.where(key < fractions[1] + fractions[0], 1, 0)).astype(np.int8)


def _forced_somewhere(label, content, fractions):
    nat = _natural(content, fractions)
    need = {0, 1, 2} if fractions[0] > 0 else {0, 2}
    for c in np.unique(label):
        groups = np.unique(content[label == c])
        if len(groups) >= 3 and not need <= set(nat[label == c].tolist()):
            return True
    return False


# Any text sources let through: valid UTF-8 (no lone surrogates), no control characters (check_name refuses both).
names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(names, names, st.sampled_from(SPLITS)), min_size=1, max_size=20, unique_by=lambda r: r[0]))
def test_manifest_round_trips_any_text(tmp_path_factory, rows):
    """Any path or label text (commas, quotes, newlines, Unicode) is written and read back unchanged."""
    d: Path = tmp_path_factory.mktemp("m")
    recs = [[p, lab, s, "0" * 64, 8, None, "L"] for p, lab, s in rows]
    write_manifest(d / "manifest.csv", [recs])
    (d / "classes.json").write_text("[]")
    (d / "meta.json").write_text("{}")
    back, _, _ = read_manifest(d)
    assert [(r.path, r.label, r.split, r.width, r.height) for r in back] == [(p, lab, s, 8, None)
                                                                             for p, lab, s in rows]
    with (d / "manifest.csv").open(newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == COLUMNS
