"""Reading a manifest's records: a CSV (UTF-8, BOM tolerated, checked before a row is parsed) or a parquet file."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Iterator

from graftline.errors import DataError


def reject(where: str, rule: str, what: str, fix: str) -> DataError:
    """One paragraph: the file (and line), the rule broken, what was seen, the fix."""
    return DataError(shown(f"{where}: rule {rule}: {what}. {fix}"))


def shown(text: str) -> str:
    """``text`` with any undecodable file-name bytes (Python's surrogate escapes) shown as ``\\xNN``: printable
    and UTF-8-encodable, so a message naming such a file can always be printed and written."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file system byte maps to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
    _check_utf8(path)
    with path.open(encoding="utf-8-sig") as f:  # tolerate a BOM; newlines as read_text reads them
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        for line, rec in enumerate(reader, start=2):  # a first pass checks the field counts, keeping nothing
            if None in rec:
                raise reject(f"{path}:{line}", "columns", f"{len(cols) + len(rec[None])} fields in a row under a "
                             f"{len(cols)}-column header", "Quote fields that contain commas.")
    return cols, _csv_records(path)


def _check_utf8(path: Path, chunk: int = 1 << 20) -> None:
    """Refuse a file that is not UTF-8, naming the first bad byte; read in chunks, never the whole text at once."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as f:
        while True:
            block = f.read(chunk)
            pending = len(decoder.getstate()[0])  # the start of a character split across two blocks
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise reject(str(path), "manifest_format", f"not UTF-8 text ({exc.reason} at byte "
                             f"{offset - pending + exc.start})", "Save the CSV as UTF-8.") from None
            if not block:
                return
            offset += len(block)


def _csv_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line, record) one at a time, read from the file: no copy of its text, no list of dicts per image."""
    with path.open(encoding="utf-8-sig") as f:
        for line, rec in enumerate(csv.DictReader(f), start=2):
            yield line, {k.strip(): (v or "").strip() for k, v in rec.items()}
