"""Train/val/test splits: stratified, seeded, and never leaking an image (or a look-alike) across splits.

Everything is integer columns, one entry per image (a label code, a split code, a content id), never a Python object
per image: at 10^5 images a dict or a list per image is what the prepare stage's memory would grow with.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from graftline.data.manifest import SPLITS

TRAIN, VAL, TEST = (SPLITS.index(s) for s in ("train", "val", "test"))


def assign_splits(label: np.ndarray, given: np.ndarray, content: np.ndarray, *, val_fraction: float,
                  test_fraction: float, seed: int, train_per_class: int | None, val_per_class: int | None,
                  together: np.ndarray | None = None,
                  eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/val/test split that keeps identical images in the same split; returns (split, kept).

    One entry per row: ``label`` (a class code; classes split in code order), ``given`` (the split given in the CSV,
    an index into ``SPLITS``, -1 if none), ``content`` (an integer equal exactly where the bytes are, e.g. an index
    of distinct sha256s). ``split`` is an int8 index into ``SPLITS`` for every row. Rows that carry a given split
    keep it; a copy of one takes it. ``together``: pairs of rows (an (m, 2) array) to keep in one split as well
    (near-duplicates by perceptual hash). A look-alike group that the split scattered is moved whole into the split
    holding most of its members (ties: the later of train, val, test), so that the split the pipeline makes never
    leaks a resized copy across splits; everything else keeps the split it would have had without them.
    ``train_per_class``/``val_per_class`` then keep only N random images per class of those splits (the few-label
    regime): ``kept`` is False for the others, left out of the manifest. ``eligible`` (a flag per row, e.g.
    "decodes"): with a cap, only eligible rows are kept, so the subsample is drawn from valid images; every row is
    still split.
    """
    rng = np.random.default_rng(seed)
    _, first, group = np.unique(content, return_index=True, return_inverse=True)  # group: identical bytes
    group = group.ravel()
    # Identical bytes go together: a group takes the split its first row with a given split has.
    group_split = np.full(len(first), -1, np.int8)
    has = np.flatnonzero(given >= 0)
    with_split, at = np.unique(group[has], return_index=True)
    group_split[with_split] = given[has[at]]
    fixed = group_split >= 0  # per group: its split was given in the CSV (to a row or to a copy of it)
    # The other groups, class by class, each class's groups in the order of their first rows: a seeded permutation.
    free = np.flatnonzero(~fixed)
    free = free[np.lexsort((first[free], label[first[free]]))]
    starts = np.flatnonzero(np.diff(label[first[free]], prepend=-1))
    for a, b in zip(starts, [*starts[1:], len(free)]):
        n = b - a
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3:  # every split gets at least one image of every class when it can
            n_test, n_val = max(n_test, 1), max(n_val, 1) if val_fraction > 0 else 0
        rank = np.arange(n)
        group_split[free[a:b][rng.permutation(n)]] = np.where(rank < n_test, TEST,
                                                              np.where(rank < n_test + n_val, VAL, TRAIN))
    split = np.where(given >= 0, given, group_split[group]).astype(np.int8)
    if together is not None and len(together):
        _merge_look_alikes(split, group, fixed, together)
    return split, _subsample(split, label, rng, {TRAIN: train_per_class, VAL: val_per_class}, eligible)


def _merge_look_alikes(split: np.ndarray, group: np.ndarray, fixed: np.ndarray, together: np.ndarray) -> None:
    """Join the groups of identical rows that ``together`` pairs (connected components); move a scattered one whole
    into the split holding most of its rows. Rows whose group's split was given (a CSV) are never moved or joined."""
    a, b = group[together[:, 0]], group[together[:, 1]]
    keep = ~fixed[a] & ~fixed[b]
    graph = coo_matrix((np.ones(int(keep.sum()), np.int8), (a[keep], b[keep])), shape=(len(fixed), len(fixed)))
    n, component = connected_components(graph, directed=False)
    movable = np.flatnonzero(~fixed[group])
    comp = component[group[movable]]
    counts = np.bincount(comp.astype(np.int64) * len(SPLITS) + split[movable], minlength=n * len(SPLITS))
    counts = counts.reshape(n, len(SPLITS))
    target = len(SPLITS) - 1 - np.argmax(counts[:, ::-1], axis=1)  # the most rows; ties: the later split
    scattered = (counts > 0).sum(axis=1) > 1
    move = scattered[comp]
    split[movable[move]] = target[comp[move]]


def _subsample(split: np.ndarray, label: np.ndarray, rng: np.random.Generator, caps: dict[int, int | None],
               eligible: np.ndarray | None) -> np.ndarray:
    """Which rows are kept: with a cap on a split, the first ``cap`` eligible rows of each class of it in a seeded
    random order (the subset kept is random, not the first files by name); every row of an uncapped split."""
    kept = np.ones(len(split), bool)
    if all(cap is None for cap in caps.values()):
        return kept
    order = rng.permutation(len(split))
    for s, cap in caps.items():
        if cap is None:
            continue
        kept[split == s] = False
        rows = order[split[order] == s]  # this split's rows, in the random order
        if eligible is not None:
            rows = rows[eligible[rows]]
        rows = rows[np.argsort(label[rows], kind="stable")]  # class by class, each still in the random order
        starts = np.flatnonzero(np.diff(label[rows], prepend=-1))
        place = np.arange(len(rows)) - np.repeat(starts, np.diff([*starts, len(rows)]))  # place in its class
        kept[rows[place < cap]] = True
    return kept
