"""The validation rules, as a Great Expectations 1.x suite over the facts tables, and the validate stage.

Tables validated in one ephemeral GX context (GX writes nothing to disk): ``images`` (one row per image: the facts
from ``prepare`` plus duplicate columns), ``class_counts`` (class x split, zeros included), ``class_totals`` (images
per class in the training split) and, with a reference profile, ``drift`` (PSI per feature). Each rule is one
expectation with a severity from ``validate.severity``: ``error`` fails the stage, ``warn`` is reported, ``off``
skips it. The stage writes ``reports/validation.json`` and ``reports/validation.html`` whatever the outcome, and
publishes ``data/staged`` to ``data/prepared`` only when no error rule failed.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from graftline.config import ValidateParams
from graftline.errors import DataError, GateFailed
from graftline.atomic import atomic_dir, write_json_atomic
from graftline.results import ValidationReport
from graftline.validate import drift
from graftline.validate.rules import Rule, offenders, rules
from graftline.data.dupes import duplicate_columns

REPORT_FILES = 20  # offending entries kept per rule in reports/validation.json
SPLITS = ("train", "val", "test")


def run_suite(tables: dict[str, pd.DataFrame], suite_rules: list[Rule], severity: dict[str, str],
              docs_dir: Path | None = None) -> list[dict]:
    """Run every rule through GX; return one result dict per rule. ``docs_dir``: also build GX Data Docs there."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (DataContextConfig, InMemoryStoreBackendDefaults,
                                                            ProgressBarsConfig)

    # A temporary docs site only when Data Docs are asked for: GX's default ephemeral context always makes one and
    # logs "Created temporary directory ... for ephemeral docs site" at INFO on every run.
    stores = InMemoryStoreBackendDefaults(init_temp_docs_sites=docs_dir is not None)
    # analytics off in GX's own config, not through os.environ at import (a library import leaves the env alone)
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(store_backend_defaults=stores,
                                                                                analytics_enabled=False))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # one summary line is ours to print
    source = context.data_sources.add_pandas("graftline")
    results = []
    for table_name, df in tables.items():
        table_rules = [r for r in suite_rules if r.table == table_name]
        if not table_rules:
            continue
        batch_def = source.add_dataframe_asset(table_name).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=f"graftline_{table_name}"))
        # GX keeps one of two equal expectations (e.g. min_images_per_class = 1 is classes_in_every_split): both
        # rules then read the one result.
        first: dict[str, str] = {}
        same_as: dict[str, str] = {}
        for r in table_rules:
            key = repr((r.expectation.expectation_type,
                        r.expectation.dict(exclude={"id", "meta", "notes", "rendered_content"})))
            same_as[r.name] = first.setdefault(key, r.name)
            suite.add_expectation(r.expectation)
        vd = context.validation_definitions.add(gx.ValidationDefinition(name=table_name, data=batch_def, suite=suite))
        outcome = vd.run(batch_parameters={"dataframe": df}, result_format="COMPLETE").to_json_dict()
        by_name = {res["expectation_config"]["meta"]["graftline_rule"]: res for res in outcome["results"]}
        for r in table_rules:
            res = by_name[same_as[r.name]]
            detail = res.get("result", {})
            idx = detail.get("unexpected_index_list") or []
            if r.name == "unique_paths":  # GX lists every member of a repeated group; the report lists each once
                idx = list(dict.fromkeys(idx))
            found = offenders(df, r.name, idx) if len(df) else []
            if not res["success"] and not idx and "observed_value" in detail:  # a table-level rule
                found = [f"observed {detail['observed_value']} (table {table_name})"]
            observed = {k: detail[k] for k in ("observed_value", "element_count", "unexpected_count",
                                               "unexpected_percent") if k in detail}
            if r.name == "drift":
                observed["psi"] = dict(zip(df["feature"], df["psi"]))
            results.append({
                "rule": r.name, "table": table_name, "expectation": res["expectation_config"]["type"],
                "severity": severity[r.name], "passed": bool(res["success"]), "observed": observed,
                "offending": found[:REPORT_FILES], "offending_count": len(found),
                "offending_paths": [str(df.at[i, "path"]) for i in idx[:REPORT_FILES]] if "path" in df else [],
                "explain": r.explain,
            })
    if docs_dir is not None:  # the ephemeral context keeps its docs site in a temporary folder: copy it out
        site = Path(context.build_data_docs()["local_site"].removeprefix("file://")).parent
        with atomic_dir(docs_dir) as tmp:
            shutil.copytree(site, tmp, dirs_exist_ok=True)
    return results


def build_tables(facts: pd.DataFrame, classes: list[str], p: ValidateParams,
                 reference: dict | None) -> dict[str, pd.DataFrame]:
    """``facts``: one row per SCANNED file (``kept`` = in the manifest after the few-label subsample). The per-file
    and duplicate rules see every file, whatever the subsample; class counts and drift describe the kept rows."""
    images = duplicate_columns(facts, p.near_duplicate_distance)
    images["mode"] = images["mode"].where(images["mode"].astype(str) != "", None)  # undecodable: no mode to judge
    images["near_duplicate_in_other_split"] = images["near_duplicate_in_other_split"].where(
        images["near_duplicate_in_other_split"] != "", None)
    kept = facts[facts["kept"]] if "kept" in facts else facts
    counts = kept.groupby(["label", "split"]).size() if len(kept) else pd.Series(dtype=int)
    class_counts = pd.DataFrame([{"label": c, "split": s, "count": int(counts.get((c, s), 0))}
                                 for c in classes for s in SPLITS], columns=["label", "split", "count"])
    train = class_counts[class_counts["split"] == "train"]
    class_totals = train[train["count"] > 0][["label", "count"]].reset_index(drop=True)
    tables = {"images": images, "class_counts": class_counts, "class_totals": class_totals}
    if reference is not None:
        tables["drift"] = drift.compare(reference, kept)
    return tables


def read_facts(staged: Path) -> tuple[pd.DataFrame, list[str], dict]:
    """``facts.csv`` as a compact table, read a chunk at a time: labels, splits, modes and errors share one str per
    distinct value; sha256 becomes ``content`` (an id per distinct sha256) and ``sha256_head`` (its first 48 bits,
    for messages), the perceptual hash a uint64 ``phash`` (``phash_ok`` where there is one). A hex str per image and
    column would cost ~100 bytes each, and the stage's memory would grow with it."""
    import json

    fpath = staged / "facts.csv"
    if not fpath.is_file():
        raise DataError(f"{fpath}: no facts table. Run `graftline prepare` (or `dvc repro prepare`) first.")
    parts, digests, phashes, shared = [], [], [], {}
    for c in pd.read_csv(fpath, keep_default_na=False, usecols=lambda col: col != "bytes", chunksize=20_000,
                         na_values={"width": [""], "height": [""], "mean": [""], "std": [""]},
                         dtype={"path": str, "label": str, "split": str, "sha256": str, "mode": str, "error": str,
                                "phash": str}):
        digests.append(np.frombuffer(bytes.fromhex("".join(c.pop("sha256"))), "S32"))
        ph = c.pop("phash").to_numpy()
        vals, ok = np.zeros(len(ph), np.uint64), ph != ""
        vals[ok] = np.array([int(h, 16) for h in ph[ok]], dtype=np.uint64)
        phashes.append((vals, ok))
        for col in ("label", "split", "mode", "error"):
            codes, uniques = pd.factorize(c[col])
            c[col] = np.array([shared.setdefault(u, u) for u in uniques], dtype=object)[codes]
        parts.append(c)
    facts = pd.concat(parts, ignore_index=True)
    del parts
    digest = np.concatenate(digests) if digests else np.zeros(0, "S32")
    facts["content"] = np.unique(digest, return_inverse=True)[1].ravel().astype(np.int64)
    head = np.zeros((len(digest), 8), np.uint8)
    head[:, 2:] = digest.view(np.uint8).reshape(-1, 32)[:, :6]
    facts["sha256_head"] = head.view(">u8").ravel().astype(np.int64)
    facts["phash"] = np.concatenate([v for v, _ in phashes]) if phashes else np.zeros(0, np.uint64)
    facts["phash_ok"] = np.concatenate([ok for _, ok in phashes]) if phashes else np.zeros(0, bool)
    facts["decodable"] = facts["decodable"].astype(str).str.lower() == "true"
    facts["kept"] = facts["kept"].astype(str).str.lower() == "true" if "kept" in facts else True
    classes = json.loads((staged / "classes.json").read_text())
    meta = json.loads((staged / "meta.json").read_text())
    return facts, classes, meta


def publish(staged: Path, prepared: Path) -> None:
    """data/staged -> data/prepared, as one atomic directory swap."""
    with atomic_dir(prepared) as tmp:
        for f in sorted(staged.iterdir()):
            if f.is_file():
                shutil.copy2(f, tmp / f.name)


def run_validate(p: ValidateParams, staged: Path, project_root: Path, report_path: Path,
                 publish_to: Path | None = None) -> ValidationReport:
    """Validate the staged data; write the reports; publish to ``publish_to`` or raise GateFailed."""
    from graftline.validate.html import write_html

    t0 = time.perf_counter()
    facts, found, meta = read_facts(staged)
    classes = list(p.classes) if p.classes is not None else found
    reference = drift.load_reference(project_root / p.reference_profile) if p.reference_profile else None
    tables = build_tables(facts, classes, p, reference)
    t_gx = time.perf_counter()
    severity = p.severity.model_dump()
    docs = report_path.parent / "gx_data_docs" if p.data_docs else None
    results = run_suite(tables, rules(p, classes, tables), severity, docs)
    gx_seconds = time.perf_counter() - t_gx
    failed = [r for r in results if not r["passed"] and r["severity"] == "error"]
    warned = [r for r in results if not r["passed"] and r["severity"] == "warn"]
    n_kept = int(facts["kept"].sum())
    report = ValidationReport(data_hash=meta["data_hash"], images=n_kept, scanned=int(len(facts)),
                              subsample=meta.get("subsample"), classes=classes,
                              passed=not failed, errors=[r["rule"] for r in failed],
                              warnings=[r["rule"] for r in warned], rules=results)
    report.write(report_path)
    root = (project_root / meta["root"]).resolve()
    write_html(report_path.with_suffix(".html"), report.model_dump(), root, meta)
    if failed:
        lines = [f"validation failed: {len(failed)} rule(s) broken; data/prepared is unchanged "
                 f"(report: {report_path}, {report_path.with_suffix('.html').name})"]
        for r in failed:
            lines.append(f"  - rule {r['rule']}: {r['offending_count']} offending; {r['explain']}")
            lines += [f"      {o}" for o in r["offending"][:p.show_failures]]
            if r["offending_count"] > min(len(r["offending"]), p.show_failures):
                lines.append(f"      ... and {r['offending_count'] - min(len(r['offending']), p.show_failures)} more")
        raise GateFailed("\n".join(lines))
    write_json_atomic(report_path.parent / "data_profile.json", {"data_hash": meta["data_hash"],
                                                                    **drift.profile(facts[facts["kept"]])})
    if publish_to is not None:
        publish(staged, publish_to)
    report.seconds = {"total": time.perf_counter() - t0, "gx": gx_seconds}
    return report
