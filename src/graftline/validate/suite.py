"""The validation rules, as a Great Expectations 1.x suite over the facts tables, and the validate stage.

Two tables are validated in an ephemeral GX context (nothing written to disk by GX): ``images`` (one row per image,
see ``facts.py``) and ``class_counts`` (one row per class x split, zeros included). Each rule is one expectation;
``reports/validation.json`` keeps, per rule, whether it passed, what was observed and the first offending files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graftline.config import ValidateParams
from graftline.data.manifest import read_manifest
from graftline.errors import GateFailed
from graftline.project import write_json_atomic
from graftline.validate.facts import class_counts, image_facts

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass(frozen=True)
class Rule:
    name: str
    table: str  # "images" | "class_counts"
    expectation: Any
    explain: str  # what the rule means and how to fix a failure


def rules(p: ValidateParams, classes: list[str]) -> list[Rule]:
    import great_expectations as gx

    E = gx.expectations
    return [
        Rule("decodable", "images", E.ExpectColumnValuesToBeInSet(column="decodable", value_set=[True]),
             "every image must decode fully; remove or re-export the files listed"),
        Rule("label_in_classes", "images", E.ExpectColumnValuesToBeInSet(column="label", value_set=classes),
             "every label must be one of the classes in data/prepared/classes.json; fix the label or data.classes"),
        Rule("width_in_bounds", "images",
             E.ExpectColumnValuesToBeBetween(column="width", min_value=p.min_width, max_value=p.max_width),
             f"width must be within validate.min_width..max_width ({p.min_width}..{p.max_width})"),
        Rule("height_in_bounds", "images",
             E.ExpectColumnValuesToBeBetween(column="height", min_value=p.min_height, max_value=p.max_height),
             f"height must be within validate.min_height..max_height ({p.min_height}..{p.max_height})"),
        Rule("no_image_in_two_splits", "images",
             E.ExpectColumnValuesToBeBetween(column="splits_with_same_image", min_value=1, max_value=1),
             "the same image (same sha256) in two splits leaks test data into training; keep one copy or one split"),
        Rule("min_images_per_class", "class_counts",
             E.ExpectColumnValuesToBeBetween(column="count", min_value=p.min_images_per_class),
             f"every class needs at least validate.min_images_per_class = {p.min_images_per_class} image(s) in "
             "every split; add images or lower the split fractions"),
    ]


def _offenders(table: pd.DataFrame, name: str, unexpected_index: list) -> list[str]:
    if name == "min_images_per_class":
        return [f"class {table.at[i, 'label']!r} has {table.at[i, 'count']} image(s) in split {table.at[i, 'split']!r}"
                for i in unexpected_index]
    out = []
    for i in unexpected_index:
        row = table.loc[i]
        detail = row["error"] if name == "decodable" else (
            f"label {row['label']!r}" if name == "label_in_classes" else
            f"{row['width']}x{row['height']}" if name in ("width_in_bounds", "height_in_bounds") else
            f"sha256 {row['sha256'][:12]} also in another split (this copy: {row['split']})")
        out.append(f"{row['path']} ({detail})")
    return out


def run_suite(tables: dict[str, pd.DataFrame], suite_rules: list[Rule], show: int) -> list[dict]:
    """Run every rule through GX; return one result dict per rule."""
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
        for r in table_rules:
            suite.add_expectation(r.expectation)
        vd = context.validation_definitions.add(gx.ValidationDefinition(name=table_name, data=batch_def, suite=suite))
        outcome = vd.run(batch_parameters={"dataframe": df}, result_format="COMPLETE").to_json_dict()
        for r, res in zip(table_rules, outcome["results"]):
            detail = res.get("result", {})
            idx = detail.get("unexpected_index_list") or []
            offenders = _offenders(df, r.name, idx) if len(df) else []
            results.append({
                "rule": r.name, "expectation": res["expectation_config"]["type"], "passed": bool(res["success"]),
                "severity": "error", "observed": {k: detail[k] for k in ("element_count", "unexpected_count",
                                                                         "unexpected_percent") if k in detail},
                "offending": offenders[:show], "offending_count": len(offenders), "explain": r.explain,
            })
    return results


def run_validate(p: ValidateParams, prepared: Path, project_root: Path, report_path: Path) -> dict:
    """Validate the prepared manifest; write ``report_path``; raise GateFailed if any rule fails."""
    rows, classes, meta = read_manifest(prepared)
    if not rows:
        write_json_atomic(report_path, {"data_hash": meta["data_hash"], "images": 0, "passed": False, "rules": []})
        raise GateFailed(f"{prepared / 'manifest.csv'}: the dataset is empty (no images found under "
                         f"{meta['root']}); point data.root at your images.")
    root = (project_root / meta["root"]).resolve()
    facts = image_facts(root, rows, p.max_pixels)
    tables = {"images": facts, "class_counts": class_counts(facts, classes)}
    results = run_suite(tables, rules(p, classes), p.show_failures)
    failed = [r for r in results if not r["passed"] and r["severity"] == "error"]
    report = {"data_hash": meta["data_hash"], "images": len(facts), "classes": classes,
              "passed": not failed, "rules": results}
    write_json_atomic(report_path, report)
    if failed:
        lines = [f"validation failed: {len(failed)} rule(s) broken (full report: {report_path})"]
        for r in failed:
            lines.append(f"  - {r['rule']}: {r['offending_count']} offending; {r['explain']}")
            lines += [f"      {o}" for o in r["offending"]]
            if r["offending_count"] > len(r["offending"]):
                lines.append(f"      ... and {r['offending_count'] - len(r['offending'])} more")
        raise GateFailed("\n".join(lines))
    return report
