"""The validation rules: one Great Expectations expectation each, with its table, severity and explanation,
and how a failing row is described to the user (``offenders``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from graftline.config import ValidateParams


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


def offenders(table: pd.DataFrame, name: str, unexpected_index: list) -> list[str]:
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
            "no_exact_duplicate_across_splits": lambda: f"sha256 {row['sha256_head']:012x} also in another split "
                                                        f"(this copy: {row['split']})",
            "no_near_duplicate_across_splits": lambda: f"{row['split']}; looks like "
                                                       f"{row['near_duplicate_in_other_split']}, distance "
                                                       f"{row['near_duplicate_distance']}",
            "one_label_per_image": lambda: f"label {row['label']!r}; sha256 {row['sha256_head']:012x} is also "
                                           "labelled otherwise",
            "no_duplicate_within_split": lambda: f"{row['copies_in_same_split']} copies in {row['split']}",
        }[name]()
        out.append(f"{row['path']} ({detail})")
    return out
