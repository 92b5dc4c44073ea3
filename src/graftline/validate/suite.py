"""The validation rules, as a Great Expectations 1.x suite over the facts tables, and the validate stage.

Tables validated in one ephemeral GX context (GX writes nothing to disk): ``images`` (one row per image: the facts
from ``prepare`` plus duplicate columns), ``class_counts`` (class x split, zeros included), ``class_totals`` (images
per class in the training split) and, with a reference profile, ``drift`` (PSI per feature). Each rule is one
expectation with a severity from ``validate.severity``: ``error`` fails the stage, ``warn`` is reported, ``off``
skips it. The stage writes ``reports/validation.json`` and ``reports/validation.html`` whatever the outcome, and
publishes ``data/staged`` to ``data/prepared`` only when no error rule failed.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graftline.config import ValidateParams
from graftline.errors import DataError, GateFailed
from graftline.project import atomic_dir, write_json_atomic
from graftline.results import ValidationReport
from graftline.validate import drift
from graftline.data.dupes import duplicate_columns

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPORT_FILES = 20  # offending entries kept per rule in reports/validation.json
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Rule:
    name: str
    table: str  # "images" | "class_counts" | "class_totals" | "drift"
    expectation: Any
    explain: str  # what the rule means and how to fix a failure


def rules(p: ValidateParams, classes: list[str], tables: dict[str, pd.DataFrame]) -> list[Rule]:
    import great_expectations as gx

    E = gx.expectations
    totals = tables["class_totals"]["count"]
    floor = float(totals.max()) / p.max_class_imbalance if len(totals) else 0.0
    out = [
        Rule("decodable", "images", E.ExpectColumnValuesToBeInSet(column="decodable", value_set=[True]),
             "every image must decode fully; remove or re-export the files listed"),
        Rule("label_in_classes", "images", E.ExpectColumnValuesToBeInSet(column="label", value_set=classes),
             f"every label must be one of validate.classes ({', '.join(classes)}); fix the label or the list"),
        Rule("classes_in_every_split", "class_counts", E.ExpectColumnValuesToBeBetween(column="count", min_value=1),
             "every class needs images in every split (train, val, test); add images of the class or give the "
             "rows no split so that prepare assigns them"),
        Rule("min_images_per_class", "class_counts",
             E.ExpectColumnValuesToBeBetween(column="count", min_value=p.min_images_per_class),
             f"every class needs at least validate.min_images_per_class = {p.min_images_per_class} image(s) in "
             "every split; add images or lower the split fractions"),
        Rule("class_imbalance", "class_totals", E.ExpectColumnValuesToBeBetween(column="count", min_value=floor),
             f"the largest training class may have at most validate.max_class_imbalance = {p.max_class_imbalance:g}"
             " times the images of the smallest; add images of the classes listed or rebalance"),
        Rule("width_in_bounds", "images",
             E.ExpectColumnValuesToBeBetween(column="width", min_value=p.min_width, max_value=p.max_width),
             f"width must be within validate.min_width..max_width ({p.min_width}..{p.max_width}); resize or "
             "remove the files listed"),
        Rule("height_in_bounds", "images",
             E.ExpectColumnValuesToBeBetween(column="height", min_value=p.min_height, max_value=p.max_height),
             f"height must be within validate.min_height..max_height ({p.min_height}..{p.max_height}); resize or "
             "remove the files listed"),
        Rule("allowed_modes", "images", E.ExpectColumnValuesToBeInSet(column="mode", value_set=p.allowed_modes),
             f"source image modes must be in validate.allowed_modes ({', '.join(p.allowed_modes)}); convert the "
             "files listed or allow their mode"),
        Rule("unique_paths", "images", E.ExpectColumnValuesToBeUnique(column="path"),
             "every file may be listed once; remove the repeated rows"),
        Rule("no_exact_duplicate_across_splits", "images",
             E.ExpectColumnValuesToBeBetween(column="splits_with_same_image", min_value=1, max_value=1),
             "the same image (same sha256) in two splits leaks test data into training; keep one copy, or put the "
             "copies in one split"),
        Rule("one_label_per_image", "images",
             E.ExpectColumnValuesToBeBetween(column="labels_with_same_image", min_value=1, max_value=1),
             "the same image (same sha256) carries two labels; one of them is wrong: keep the copy in the right class"),
        Rule("no_near_duplicate_across_splits", "images",
             E.ExpectColumnValuesToBeNull(column="near_duplicate_in_other_split"),
             f"a resized or re-encoded copy (perceptual-hash distance <= validate.near_duplicate_distance = "
             f"{p.near_duplicate_distance}) in another split leaks it; keep the look-alikes in one split"),
        Rule("no_duplicate_within_split", "images",
             E.ExpectColumnValuesToBeBetween(column="copies_in_same_split", min_value=1, max_value=1),
             "the same image twice in one split weighs it double; remove the extra copies"),
        Rule("row_count_in_bounds", "images",
             E.ExpectTableRowCountToBeBetween(min_value=p.min_rows, max_value=p.max_rows),
             f"the dataset must have validate.min_rows..max_rows ({p.min_rows}..{p.max_rows or 'any'}) images"),
    ]
    if "drift" in tables:
        out.append(Rule("drift", "drift", E.ExpectColumnValuesToBeBetween(column="psi", max_value=p.max_psi),
                        f"population stability index per feature must be <= validate.max_psi = {p.max_psi:g} "
                        f"against {p.reference_profile}; if the change is intended, make the new "
                        "reports/data_profile.json the reference"))
    severity = p.severity.model_dump()
    for r in out:  # the rule's name travels with its result (GX also merges identical expectations without it)
        r.expectation.meta = {"graftline_rule": r.name}
    return [r for r in out if severity[r.name] != "off"]


def _offenders(table: pd.DataFrame, name: str, unexpected_index: list) -> list[str]:
    out = []
    for i in unexpected_index:
        row = table.loc[i]
        if name in ("classes_in_every_split", "min_images_per_class"):
            out.append(f"class {row['label']!r} has {row['count']} image(s) in split {row['split']!r}")
            continue
        if name == "class_imbalance":
            out.append(f"class {row['label']!r} has {row['count']} training image(s)")
            continue
        if name == "drift":
            out.append(f"feature {row['feature']}: PSI {row['psi']:.3f}")
            continue
        detail = {
            "decodable": lambda: row["error"],
            "label_in_classes": lambda: f"label {row['label']!r}",
            "width_in_bounds": lambda: f"{row['width']:.0f}x{row['height']:.0f}",
            "height_in_bounds": lambda: f"{row['width']:.0f}x{row['height']:.0f}",
            "allowed_modes": lambda: f"mode {row['mode']}",
            "unique_paths": lambda: "listed more than once",
            "no_exact_duplicate_across_splits": lambda: f"sha256 {row['sha256'][:12]} also in another split "
                                                        f"(this copy: {row['split']})",
            "no_near_duplicate_across_splits": lambda: f"{row['split']}; looks like "
                                                       f"{row['near_duplicate_in_other_split']}, distance "
                                                       f"{row['near_duplicate_distance']}",
            "one_label_per_image": lambda: f"label {row['label']!r}; sha256 {row['sha256'][:12]} is also "
                                           "labelled otherwise",
            "no_duplicate_within_split": lambda: f"{row['copies_in_same_split']} copies in {row['split']}",
        }[name]()
        out.append(f"{row['path']} ({detail})")
    return out


def run_suite(tables: dict[str, pd.DataFrame], suite_rules: list[Rule], severity: dict[str, str],
              docs_dir: Path | None = None) -> list[dict]:
    """Run every rule through GX; return one result dict per rule. ``docs_dir``: also build GX Data Docs there."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
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
            offenders = _offenders(df, r.name, idx) if len(df) else []
            if not res["success"] and not idx and "observed_value" in detail:  # a table-level rule
                offenders = [f"observed {detail['observed_value']} (table {table_name})"]
            observed = {k: detail[k] for k in ("observed_value", "element_count", "unexpected_count",
                                               "unexpected_percent") if k in detail}
            if r.name == "drift":
                observed["psi"] = dict(zip(df["feature"], df["psi"]))
            results.append({
                "rule": r.name, "table": table_name, "expectation": res["expectation_config"]["type"],
                "severity": severity[r.name], "passed": bool(res["success"]), "observed": observed,
                "offending": offenders[:REPORT_FILES], "offending_count": len(offenders),
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
    images = duplicate_columns(facts, p.near_duplicate_distance)
    images["mode"] = images["mode"].where(images["mode"].astype(str) != "", None)  # undecodable: no mode to judge
    images["near_duplicate_in_other_split"] = images["near_duplicate_in_other_split"].where(
        images["near_duplicate_in_other_split"] != "", None)
    counts = facts.groupby(["label", "split"]).size() if len(facts) else pd.Series(dtype=int)
    class_counts = pd.DataFrame([{"label": c, "split": s, "count": int(counts.get((c, s), 0))}
                                 for c in classes for s in SPLITS], columns=["label", "split", "count"])
    train = class_counts[class_counts["split"] == "train"]
    class_totals = train[train["count"] > 0][["label", "count"]].reset_index(drop=True)
    tables = {"images": images, "class_counts": class_counts, "class_totals": class_totals}
    if reference is not None:
        tables["drift"] = drift.compare(reference, facts)
    return tables


def read_facts(staged: Path) -> tuple[pd.DataFrame, list[str], dict]:
    import json

    fpath = staged / "facts.csv"
    if not fpath.is_file():
        raise DataError(f"{fpath}: no facts table. Run `graftline prepare` (or `dvc repro prepare`) first.")
    facts = pd.read_csv(fpath, keep_default_na=False, na_values={"width": [""], "height": [""], "mean": [""],
                                                                   "std": [""]},
                        dtype={"path": str, "label": str, "split": str, "sha256": str, "mode": str, "error": str,
                               "phash": str})
    facts["decodable"] = facts["decodable"].astype(str).str.lower() == "true"
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
    report = ValidationReport(data_hash=meta["data_hash"], images=int(len(facts)), classes=classes,
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
    write_json_atomic(report_path.parent / "data_profile.json", {"data_hash": meta["data_hash"], **drift.profile(facts)})
    if publish_to is not None:
        publish(staged, publish_to)
    report.seconds = {"total": time.perf_counter() - t0, "gx": gx_seconds}
    return report
