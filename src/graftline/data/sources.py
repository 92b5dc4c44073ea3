"""Where images come from: an image folder ``root/<class>/**/<image>`` or a CSV/parquet manifest
``path,label[,split]`` whose paths are relative to the manifest's folder.

What must never reach the validation rules is rejected here with a ``DataError`` naming the file, the rule and the
fix: paths that escape the data root (absolute, ``..``, symlinks out), missing files, bad columns, empty labels,
unknown split names, a path listed twice, labels equal but for case or spaces, an empty dataset.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
import numpy as np
from numpy.dtypes import StringDType

from graftline.data.manifest import SPLITS
from graftline.data.records import _check_utf8, _read_records, reject, shown  # noqa: F401 - _check_utf8: API

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
BATCH = 10_000  # CSV rows whose paths are held as str objects before they become numpy strings


def check_name(rel: str, root: Path, where: str | None = None) -> None:
    """Refuse a file, folder or label name that is not valid UTF-8 (e.g. a Latin-1 ``caf\\xe9.png`` from an old
    archive) or holds a control character (a newline, CR or tab in a name): the manifest, facts.csv, JSON reports,
    GX and the model's lineage are UTF-8 CSV/JSON text, and such a name cannot be carried to them unchanged (a CR
    even splits a CSV row). Nothing guesses another spelling: the user renames it once."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(rel)
        raise reject(where or str(root / rel), "file_names", f"the name {raw!r} is not valid UTF-8",
                     f"Rename it to UTF-8 (it reads as {raw.decode('latin-1')!r} in Latin-1), e.g. `convmv -f latin1 "
                     f"-t utf8 -r --notest {shown(str(root))}`, or by hand.") from None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in rel):
        raise reject(where or shown(repr(str(root / rel))), "file_names", f"the name {rel!r} holds a control "
                     "character (newline, CR, tab ...)", "Rename it without control characters.")


def _inside(root: Path, rel: str, where: str) -> Path:
    """Resolve ``rel`` under ``root`` and refuse anything that escapes it (absolute, ``..``, symlinks out)."""
    if not rel or rel.strip() != rel:
        raise reject(where, "paths_inside_root", f"path {rel!r} is empty or has surrounding spaces", "Fix the path.")
    p = Path(rel)
    if p.is_absolute() or p.drive or rel.startswith(("/", "\\")):
        raise reject(where, "paths_inside_root", f"path {rel!r} is absolute",
                     f"Paths must be relative to {root}; write it relative to that folder.")
    full = (root / p).resolve()
    if not full.is_relative_to(root.resolve()):
        how = "is a symlink that points outside" if (root / p).is_symlink() or any(
            q.is_symlink() for q in (root / p).parents if q.is_relative_to(root)) else "escapes"
        raise reject(where, "paths_inside_root", f"path {rel!r} {how} the data root {root} (-> {full})",
                     "Keep images inside the data root (copy the file in rather than linking or using '..').")
    return full


def _label_key(label: str) -> str:
    return " ".join(label.split()).casefold()


@dataclass(frozen=True)
class Images:
    """The images found, as columns (no Python object per image): row i is the file ``paths[i]`` (relative to the data
    root, POSIX separators) of class ``classes[label[i]]`` (``classes`` sorted), in the split ``SPLITS[split[i]]``
    the CSV gave it (-1: none given; prepare assigns one)."""

    paths: np.ndarray  # numpy StringDType: 16 bytes a short path, where a str object is ~60
    label: np.ndarray  # int32
    classes: list[str]
    split: np.ndarray  # int8

    def __len__(self) -> int:
        return len(self.paths)


def _images(paths: list[str] | np.ndarray, label: list[int], names: list[str], split: list[int],
            source: Path) -> Images:
    """Columns from a scan's lists (``label``: an index into ``names``, in any order), then ``check_images``."""
    order = sorted(range(len(names)), key=names.__getitem__)
    code = np.empty(len(names), np.int32)
    code[order] = np.arange(len(names))
    return check_images(Images(np.asarray(paths, dtype=StringDType()), code[np.array(label, np.int64)],
                               [names[i] for i in order], np.array(split, np.int8)), source)


def check_images(images: Images, source: Path) -> Images:
    """Rejections that need every row: an empty dataset, a path listed twice, labels equal but for case/spaces."""
    if not len(images):
        raise reject(str(source), "not_empty", "no images found (looked for "
                     f"{', '.join(sorted(IMAGE_SUFFIXES))} files, or CSV rows)",
                     "Point data.root at a folder <class>/<image> or at a CSV with at least one row.")
    paths = images.paths
    order = np.argsort(paths, kind="stable")
    ordered = paths[order]
    again = order[1:][ordered[1:] == ordered[:-1]]  # each entry whose path an earlier entry has
    del ordered
    if len(again):
        i = int(again.min())
        first = int(np.flatnonzero(paths == paths[i])[0])
        raise reject(f"{source}", "unique_paths", f"{paths[i]!r} is listed twice (entries {first + 1} and {i + 1})",
                     "Remove the duplicate row.")
    _, first_row = np.unique(images.label, return_index=True)  # every class has a row
    by_key: dict[str, list[int]] = {}  # label spelling -> classes, in the order of their first rows
    for c in sorted(range(len(images.classes)), key=first_row.__getitem__):
        by_key.setdefault(_label_key(images.classes[c]), []).append(c)
    clashes = [(first_row[cs[1]], cs[0], cs[1]) for cs in by_key.values() if len(cs) > 1]
    if clashes:  # the first row whose label another spelling already had
        _, a, b = min(clashes)
        raise reject(f"{source}", "labels_distinct", f"labels {images.classes[a]!r} ({paths[first_row[a]]}) and "
                     f"{images.classes[b]!r} ({paths[first_row[b]]}) differ only in case or whitespace",
                     "Use one spelling for the class (rename the folder or fix the CSV labels).")
    return images


def scan_folder(root: Path) -> Images:
    """``root/<class>/**/<image>`` -> images, in path order. Hidden files and non-image suffixes are skipped.

    Symlinks are followed but must stay inside the root: only links (files or directories) are resolved, which keeps
    a scan of 20,000 files well under a second.
    """
    if not root.is_dir():
        raise reject(str(root), "data_root", "data.root is not a directory",
                     "For data.source: folder, point data.root at a folder laid out as <class>/<image>; for a CSV "
                     "or parquet manifest set data.source: csv.")
    real_root = os.path.realpath(root)
    paths: list[str] = []
    label: list[int] = []
    names: list[str] = []
    check_name(str(root.resolve()), root)  # every message and the lineage name the root
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        seen: set[str] = set()
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
            real_dir = os.path.realpath(dirpath)
            if real_dir in seen:  # a directory link back up the tree: walk it once
                dirnames[:] = []
                continue
            seen.add(real_dir)
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            linked_dir = real_dir != os.path.join(real_root, rel_dir)
            for name in filenames:
                if name.startswith(".") or os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                    continue
                full = os.path.join(dirpath, name)
                rel = f"{rel_dir}/{name}"
                check_name(rel, root)
                if linked_dir or os.path.islink(full):
                    _inside(root, rel, full)  # a symlink may point outside the root
                if os.path.isfile(full):
                    found.append(rel)
        if found:
            # Path order (part by part), as a sorted rglob gave: the class folders come sorted, and "\0" sorts below
            # every character a name can hold, so comparing with "/" read as "\0" compares the parts in turn.
            found.sort(key=lambda r: r.replace("/", "\0"))
            paths += found
            label += [len(names)] * len(found)
            names.append(class_dir.name)
    return _images(paths, label, names, [-1] * len(paths), root)


def read_csv(csv_path: Path) -> Images:
    """A manifest ``path,label[,split]`` (CSV or parquet) -> images; paths are relative to the manifest's folder."""
    if not csv_path.is_file():
        raise reject(str(csv_path), "data_root", "data.root must be a CSV or parquet file when data.source is csv",
                     "Point data.root at the manifest file.")
    cols, records = _read_records(csv_path)
    missing = [c for c in ("path", "label") if c not in cols]
    unknown = [c for c in cols if c not in ("path", "label", "split")]
    if missing or unknown:
        hints = [f"{c!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(c, ["path", "label", "split"],
                                                                                      n=1)) else repr(c)
                 for c in unknown]
        raise reject(str(csv_path), "columns", "columns must be path,label[,split]; "
                     + (f"missing {', '.join(missing)}; " if missing else "")
                     + (f"unknown {', '.join(hints)}; " if unknown else "")
                     + f"found {', '.join(cols) or 'none'}", "Rename the header to path,label[,split].")
    root = csv_path.parent
    paths: list[np.ndarray] = []  # numpy strings, BATCH rows at a time: no str object per row is kept
    batch: list[str] = []
    label: list[int] = []
    split_code: list[int] = []
    codes: dict[str, int] = {}  # label -> index, in the order first seen
    for line, rec in records:
        where = f"{csv_path}:{line}"
        if not rec["label"]:
            raise reject(where, "label_not_empty", f"empty label for {rec['path']!r}", "Every row needs a label.")
        split = rec.get("split", "")
        if split and split not in SPLITS:
            raise reject(where, "split_names", f"split {split!r} is not one of {', '.join(SPLITS)}",
                         "Use train, val or test (or leave it empty to let prepare assign it).")
        check_name(rec["path"], root, where)
        check_name(rec["label"], root, where)
        full = _inside(root, rec["path"], where)
        if not full.is_file():
            raise reject(where, "file_exists", f"file {rec['path']!r} does not exist under {root}",
                         "Fix the path or remove the row.")
        batch.append(Path(rec["path"]).as_posix())
        if len(batch) == BATCH:
            paths.append(np.array(batch, dtype=StringDType()))
            batch = []
        label.append(codes.setdefault(rec["label"], len(codes)))
        split_code.append(SPLITS.index(split) if split else -1)
    paths.append(np.array(batch, dtype=StringDType()))
    return _images(np.concatenate(paths), label, list(codes), split_code, csv_path)
