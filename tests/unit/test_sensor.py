"""The data sensor's look at a project's data source: cheap when nothing changed, a change only when bytes did."""

from __future__ import annotations

import os

import yaml


def _project(tmp_path, root="data/images"):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"source": "folder", "root": root}}))
    for c in ("a", "b"):
        (tmp_path / root / c).mkdir(parents=True)
        for i in range(3):
            (tmp_path / root / c / f"{i}.png").write_bytes(f"{c}{i}".encode())
    return tmp_path


def test_first_look_records_then_only_new_bytes_are_a_change(tmp_path):
    from graftline_flows.sensor import STATE, look

    p = _project(tmp_path)
    first = look(p)
    assert not first["changed"] and first["first_look"] and first["hashed"] == 6 and (p / STATE).is_file()
    again = look(p)
    assert not again["changed"] and again["hashed"] == 0 and again["hash"] == first["hash"]  # sizes+mtimes only

    f = p / "data/images/a/0.png"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))  # touched, same bytes
    touched = look(p)
    assert not touched["changed"] and touched["hashed"] == 1 and touched["hash"] == first["hash"]

    (p / "data/images/b/new.png").write_bytes(b"new image")
    added = look(p)
    assert added["changed"] and (added["added"], added["hashed"]) == (1, 1) and added["hash"] != first["hash"]

    f.write_bytes(b"other bytes")
    (p / "data/images/b/1.png").unlink()
    edited = look(p)
    assert edited["changed"] and (edited["modified"], edited["removed"]) == (1, 1)
    assert not look(p)["changed"]


def test_a_csv_source_is_watched_as_its_file(tmp_path):
    from graftline_flows.sensor import look

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"source": "csv", "root": "labels.csv"}}))
    (tmp_path / "labels.csv").write_text("path,label\na.png,a\n")
    assert not look(tmp_path)["changed"]
    (tmp_path / "labels.csv").write_text("path,label\na.png,a\nb.png,b\n")
    assert look(tmp_path)["changed"]
