"""Train/val/test splits: stratified, seeded by content (stable as images are added), and never leaking an image (or a look-alike) across splits.

Everything is integer columns, one entry per image (a label code, a split code, a content id), never a Python object
per image: at 10^5 images a dict or a list per image is what the prepare stage's memory would grow with.

Upgrading from the seeded permutation of earlier versions changes an existing project's split once (on the demo's
1,797 digits, 1,092 images change split), so its data hash and every stage after prepare run again; from then on an
image keeps its split as images are added (adding 180 to the demo moved none; the permutation moved 1,038).
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from graftline.data.manifest import SPLITS

TRAIN, VAL, TEST = (SPLITS.index(s) for s in ("train", "val", "test"))


def split_keys(digest: np.ndarray, seed: int) -> np.ndarray:
    """A seeded hash of each raw sha256 digest (an ``S32`` array), as a float in [0, 1): a row's place on the split
    line, fixed by its bytes and the seed alone, so that adding or removing other images never moves it."""
    salt = int(seed).to_bytes(8, "little", signed=True)
    out = np.fromiter((int.from_bytes(hashlib.sha256(salt + bytes(d)).digest()[:8], "little") >> 11
                       for d in digest), np.float64, count=len(digest))
    return out / float(1 << 53)


def assign_splits(label: np.ndarray, given: np.ndarray, content: np.ndarray, *, val_fraction: float,
                  test_fraction: float, seed: int, train_per_class: int | None, val_per_class: int | None,
                  together: np.ndarray | None = None, eligible: np.ndarray | None = None,
                  digest: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/val/test split, stable under growth, that keeps identical images and look-alikes in one
    split; returns (split, kept).

    One entry per row: ``label`` (a class code), ``given`` (the split given in the CSV, an index into ``SPLITS``, -1
    if none), ``content`` (an integer equal exactly where the bytes are, e.g. an index of distinct sha256s),
    ``digest`` (the raw sha256 of each row's bytes; without it the content integers are hashed). ``split`` is an int8
    index into ``SPLITS`` for every row. Rows that carry a given split keep it; a copy of one takes it.

    Every other group of identical bytes takes its split from ``split_keys`` (a seeded hash of its content): test
    below ``test_fraction``, val below ``test_fraction + val_fraction``, train above. An image therefore keeps its
    split for ever, whatever images are added or removed; per class, the counts are binomial around the fractions
    (within about 2 sqrt(n p (1 - p)) images of n p). A class of 3 or more groups that the hash left without a test
    (or, when ``val_fraction`` > 0, a val or a train) group gets the one whose key lies nearest that split's interval,
    taken from the class's largest split: the only case where an image can move when others arrive (its class
    gains one that the hash puts there). ``together``: pairs of rows (an (m, 2) array, near-duplicates by
    perceptual hash) whose groups, joined transitively, share the smallest key of the joined groups and the split of
    the group holding it, so a resized copy never leaks across splits (a new look-alike of an old image can thus
    move it, towards the new one's split, when its key is smaller). ``train_per_class``/``val_per_class`` then keep
    only N images per class of those splits (the few-label regime), the N with the smallest second key (a seeded
    random subset, the same as long as no image with a smaller key arrives): ``kept`` is False for the others.
    ``eligible`` (a flag per row, e.g. "decodes"): with a cap, only eligible rows are kept.
    """
    _, first, group = np.unique(content, return_index=True, return_inverse=True)  # group: identical bytes
    group = group.ravel()
    if digest is None:  # content ids only: hash them (stable as long as the ids are)
        digest = np.array([int(c).to_bytes(8, "little", signed=True) for c in content], "S32")
    key = split_keys(digest[first], seed)  # per group
    sub_key = split_keys(digest, seed + 1)  # per row: the few-label subsample's order
    # Identical bytes go together: a group takes the split its first row with a given split has.
    group_split = np.full(len(first), -1, np.int8)
    has = np.flatnonzero(given >= 0)
    with_split, at = np.unique(group[has], return_index=True)
    group_split[with_split] = given[has[at]]
    fixed = group_split >= 0  # per group: its split was given in the CSV (to a row or to a copy of it)
    component = _look_alike_components(group, fixed, together)
    key = _component_min(component, key)  # look-alikes share the smallest key of their component
    free = np.flatnonzero(~fixed)
    edges = (test_fraction, test_fraction + val_fraction)
    group_split[free] = np.where(key[free] < edges[0], TEST, np.where(key[free] < edges[1], VAL, TRAIN))
    need = (TEST, VAL, TRAIN) if val_fraction > 0 else (TEST, TRAIN)
    by_class = free[np.argsort(label[first[free]], kind="stable")]  # class by class: one pass, no mask per class
    starts = np.flatnonzero(np.diff(label[first[by_class]], prepend=-1))
    for a, b in zip(starts, [*starts[1:], len(by_class)]):
        _ensure_every_split(by_class[a:b], group_split, key, need, edges)
    # A component's groups take the split of the group holding its smallest key (a forced move may have split it).
    leader = np.lexsort((key, component))
    head = leader[np.flatnonzero(np.diff(component[leader], prepend=-1))]
    group_split[~fixed] = group_split[head[np.searchsorted(component[head], component[~fixed])]]
    split = np.where(given >= 0, given, group_split[group]).astype(np.int8)
    return split, _subsample(split, label, sub_key, {TRAIN: train_per_class, VAL: val_per_class}, eligible)


def _look_alike_components(group: np.ndarray, fixed: np.ndarray, together: np.ndarray | None) -> np.ndarray:
    """Per group, its connected component over the ``together`` pairs; groups whose split was given (a CSV) are
    never joined (each stays its own component)."""
    n = len(fixed)
    if together is None or not len(together):
        return np.arange(n)
    a, b = group[together[:, 0]], group[together[:, 1]]
    keep = ~fixed[a] & ~fixed[b]
    graph = coo_matrix((np.ones(int(keep.sum()), np.int8), (a[keep], b[keep])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _component_min(component: np.ndarray, key: np.ndarray) -> np.ndarray:
    smallest = np.full(int(component.max(initial=-1)) + 1, np.inf)
    np.minimum.at(smallest, component, key)
    return smallest[component]


def _ensure_every_split(groups: np.ndarray, group_split: np.ndarray, key: np.ndarray, need: tuple[int, ...],
                        edges: tuple[float, float]) -> None:
    """Give a class of >= 3 groups one group in each split of ``need`` it lacks: from its largest split, the group
    whose key is nearest the missing split's interval."""
    if len(groups) < 3:
        return
    interval = {TEST: (0.0, edges[0]), VAL: (edges[0], edges[1]), TRAIN: (edges[1], 1.0)}
    for s in need:
        here = group_split[groups]
        if (here == s).any():
            continue
        donor = np.bincount(here, minlength=len(SPLITS)).argmax()
        cand = groups[here == donor]
        lo, hi = interval[s]
        gap = np.maximum(lo - key[cand], key[cand] - hi).clip(min=0.0)
        group_split[cand[np.lexsort((key[cand], gap))[0]]] = s


def _subsample(split: np.ndarray, label: np.ndarray, sub_key: np.ndarray, caps: dict[int, int | None],
               eligible: np.ndarray | None) -> np.ndarray:
    """Which rows are kept: with a cap on a split, the first ``cap`` eligible rows of each class of it in the order
    of their seeded content keys (a random subset, not the first files by name, and one that adding images changes
    only where a new image's key is smaller); every row of an uncapped split."""
    kept = np.ones(len(split), bool)
    if all(cap is None for cap in caps.values()):
        return kept
    order = np.lexsort((np.arange(len(split)), sub_key))
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
