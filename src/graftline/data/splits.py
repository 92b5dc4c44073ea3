"""Train/val/test splits: stratified, seeded, and never leaking an image (or a look-alike) across splits."""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from graftline.data.manifest import SPLITS, Row


def assign_splits(rows: list[Row], *, val_fraction: float, test_fraction: float, seed: int,
                  train_per_class: int | None, val_per_class: int | None,
                  together: list[tuple[int, int]] | None = None,
                  eligible: list[bool] | None = None, content: list | None = None) -> list[Row]:
    """Stratified train/val/test split that keeps identical images (same sha256) in the same split.

    ``together``: more pairs of row indices to keep in one split (near-duplicates by perceptual hash). A look-alike
    group that the split scattered is moved whole into the split holding most of its members (ties: the later of
    train, val, test), so that the split the pipeline makes never leaks a resized copy across splits; everything
    else keeps the split it would have had without them. Rows that already carry a split (from a CSV) keep it.
    ``train_per_class``/``val_per_class`` then keep only the first N images per class of those splits (the
    few-label regime); the others are left out of the manifest. ``eligible`` (one flag per row, e.g. "decodes"):
    with a cap, only eligible rows are kept, so the subsample is drawn from valid images; every row is still split.
    ``content``: one key per row that is equal exactly where the bytes are (e.g. an index of distinct sha256s), in
    place of ``Row.sha256`` ("" = unknown).
    """
    rng = np.random.default_rng(seed)
    keys = content if content is not None else [r.sha256 for r in rows]
    groups: dict = {}
    for r, k in zip(rows, keys):
        groups.setdefault(k, []).append(r)
    # Identical bytes go together; a group takes the split any member was given.
    for members in groups.values():
        given = next((m.split for m in members if m.split), "")
        for m in members:
            m.split = m.split or given
    given_split = [bool(r.split) for r in rows]  # fixed: given in the CSV, or a copy of a row that was
    by_class: dict[str, list[list[Row]]] = {}
    for members in groups.values():
        if not members[0].split:
            by_class.setdefault(members[0].label, []).append(members)
    for label in sorted(by_class):
        class_groups = by_class[label]
        order = rng.permutation(len(class_groups))
        n = len(class_groups)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3:  # every split gets at least one image of every class when it can
            n_test, n_val = max(n_test, 1), max(n_val, 1) if val_fraction > 0 else 0
        for rank, gi in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            for m in class_groups[gi]:
                m.split = split
    if together:
        _merge_look_alikes(rows, together, given_split, keys)
    caps = {"train": train_per_class, "val": val_per_class}
    counts: dict[tuple[str, str], int] = {}
    order = rng.permutation(len(rows))  # the subset kept is random, not the first files by name
    chosen = set()
    for i in order:
        r = rows[i]
        cap = caps.get(r.split)
        key = (r.split, r.label)
        if cap is not None and (counts.get(key, 0) >= cap or (eligible is not None and not eligible[i])):
            continue
        counts[key] = counts.get(key, 0) + 1
        chosen.add(i)
    return [r for i, r in enumerate(rows) if i in chosen]


def _merge_look_alikes(rows: list[Row], together: list[tuple[int, int]], given_split: list[bool],
                       keys: list) -> None:
    """Join identical and look-alike rows into groups (connected components); move a scattered group whole into
    the split holding most of its members. Rows whose split was given (a CSV) are never moved or joined."""
    first_of: dict = {}
    same_bytes = [(first_of.setdefault(k, i), i) for i, k in enumerate(keys) if k != ""]
    edges = [(a, b) for a, b in [*together, *same_bytes] if not given_split[a] and not given_split[b]]
    n = len(rows)
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (a, b)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for i, c in enumerate(component.tolist()):
        members.setdefault(c, []).append(i)
    for group in members.values():
        counts = Counter(rows[i].split for i in group)
        if len(counts) > 1:
            target = max(counts, key=lambda s: (counts[s], SPLITS.index(s)))
            for i in group:
                rows[i].split = target
