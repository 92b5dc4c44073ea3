"""Where images come from: an image folder ``root/<class>/**/<image>`` or a CSV/parquet manifest
``path,label[,split]`` whose paths are relative to the manifest's folder.

What must never reach the validation rules is rejected here with a ``DataError`` naming the file, the rule and the
fix: paths that escape the data root (absolute, ``..``, symlinks out), missing files, bad columns, empty labels,
unknown split names, a path listed twice, labels equal but for case or spaces, an empty dataset.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
from pathlib import Path
from typing import Iterator

from graftline.data.manifest import SPLITS, Row
from graftline.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def reject(where: str, rule: str, what: str, fix: str) -> DataError:
    """One paragraph: the file (and line), the rule broken, what was seen, the fix."""
    return DataError(f"{where}: rule {rule}: {what}. {fix}")


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


def check_rows(rows: list[Row], source: Path) -> list[Row]:
    """Rejections that need every row: an empty dataset, a path listed twice, labels equal but for case/spaces."""
    if not rows:
        raise reject(str(source), "not_empty", "no images found (looked for "
                     f"{', '.join(sorted(IMAGE_SUFFIXES))} files, or CSV rows)",
                     "Point data.root at a folder <class>/<image> or at a CSV with at least one row.")
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r.path in seen:
            raise reject(f"{source}", "unique_paths", f"{r.path!r} is listed twice (entries {seen[r.path] + 1} "
                         f"and {i + 1})", "Remove the duplicate row.")
        seen[r.path] = i
    first: dict[str, Row] = {}
    for r in rows:
        other = first.setdefault(_label_key(r.label), r)
        if other.label != r.label:
            raise reject(f"{source}", "labels_distinct", f"labels {other.label!r} ({other.path}) and {r.label!r} "
                         f"({r.path}) differ only in case or whitespace",
                         "Use one spelling for the class (rename the folder or fix the CSV labels).")
    return rows


def scan_folder(root: Path) -> list[Row]:
    """``root/<class>/**/<image>`` -> rows. Hidden files and non-image suffixes are skipped.

    Symlinks are followed but must stay inside the root: only links (files or directories) are resolved, which keeps
    a scan of 20,000 files well under a second.
    """
    if not root.is_dir():
        raise reject(str(root), "data_root", "data.root is not a directory",
                     "For data.source: folder, point data.root at a folder laid out as <class>/<image>; for a CSV "
                     "or parquet manifest set data.source: csv.")
    real_root = os.path.realpath(root)
    rows = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        seen: set[str] = set()
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
                if linked_dir or os.path.islink(full):
                    _inside(root, rel, full)  # a symlink may point outside the root
                if os.path.isfile(full):
                    rows.append(Row(path=rel, label=class_dir.name))
    rows.sort(key=lambda r: r.path.split("/"))  # Path order, as a sorted rglob gave
    return check_rows(rows, root)


def _read_records(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """(columns, (line, record) one at a time) from a CSV (UTF-8, BOM tolerated) or a parquet file."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except ImportError as exc:
            raise reject(str(path), "manifest_format", f"reading parquet needs pyarrow ({exc})",
                         "pip install pyarrow, or save the manifest as CSV.") from None
        except Exception as exc:  # noqa: BLE001 - any parquet reader failure is a bad input file
            raise reject(str(path), "manifest_format", f"not a readable parquet file ({exc})",
                         "Re-export the manifest.") from None
        cols = [str(c).strip() for c in df.columns]
        df.columns = cols
        recs = [{k: "" if v is None or (isinstance(v, float) and v != v) else str(v) for k, v in rec.items()}
                for rec in df.to_dict(orient="records")]
        return cols, iter([(i + 1, r) for i, r in enumerate(recs)])
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM
    except UnicodeDecodeError as exc:
        raise reject(str(path), "manifest_format", f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                     "Save the CSV as UTF-8.") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip() for c in (reader.fieldnames or [])]
    for line, rec in enumerate(reader, start=2):  # a first pass checks the field counts, keeping nothing
        if None in rec:
            raise reject(f"{path}:{line}", "columns", f"{len(cols) + len(rec[None])} fields in a row under a "
                         f"{len(cols)}-column header", "Quote fields that contain commas.")
    # ... then the records one at a time: no list of dicts per image
    return cols, ((line, {k.strip(): (v or "").strip() for k, v in rec.items()})
                  for line, rec in enumerate(csv.DictReader(io.StringIO(text)), start=2))


def read_csv(csv_path: Path) -> list[Row]:
    """A manifest ``path,label[,split]`` (CSV or parquet) -> rows; paths are relative to the manifest's folder."""
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
    rows = []
    shared: dict[str, str] = {}  # one str object per distinct label/split, not one per row
    for line, rec in records:
        where = f"{csv_path}:{line}"
        if not rec["label"]:
            raise reject(where, "label_not_empty", f"empty label for {rec['path']!r}", "Every row needs a label.")
        split = rec.get("split", "")
        if split and split not in SPLITS:
            raise reject(where, "split_names", f"split {split!r} is not one of {', '.join(SPLITS)}",
                         "Use train, val or test (or leave it empty to let prepare assign it).")
        full = _inside(root, rec["path"], where)
        if not full.is_file():
            raise reject(where, "file_exists", f"file {rec['path']!r} does not exist under {root}",
                         "Fix the path or remove the row.")
        rows.append(Row(path=Path(rec["path"]).as_posix(), label=shared.setdefault(rec["label"], rec["label"]),
                        split=shared.setdefault(split, split)))
    return check_rows(rows, csv_path)
