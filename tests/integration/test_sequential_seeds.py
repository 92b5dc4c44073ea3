"""Sequential seeds through `dvc repro` on the tiny project: a look that settles the verdict makes the later pairs
write a "not needed" record instead of training, each still its own cached stage; a re-run trains nothing; a change
that unsettles the verdict re-takes the looks and trains the pairs now needed."""

from __future__ import annotations

import json
import re

from tests.conftest import TINY, deep_update, dvc, write_params
from tests.integration.conftest import copy_of


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def test_a_settled_look_skips_the_later_pairs_and_a_change_trains_them(tiny_git_repo, tmp_path):
    p = copy_of(tiny_git_repo, tmp_path / "proj")
    # max_ntg -1: every interval lies above it, so the first look (after min_seeds = 1 pair) settles "negative"
    write_params(p, deep_update(TINY, {"check": {"seeds": [0, 1, 2], "min_seeds": 1, "max_ntg": -1.0}}))
    r = dvc("repro", "check", cwd=p)
    assert r.returncode != 0 and "negative transfer" in r.stdout + r.stderr  # the gate failed, after writing
    gate = json.loads((p / "metrics/looks/gate-1.json").read_text())
    assert gate["needed"] is False and gate["reason"].startswith("settled at look 1 (1 pairs): negative")
    for arm, root in (("finetune", "finetuned"), ("baseline", "baseline")):
        for s in (1, 2):
            skip = json.loads((p / f"models/{root}/seed-{s}/not_needed.json").read_text())
            assert skip["arm"] == arm and skip["not_needed"] == gate["reason"]
            assert not (p / f"models/{root}/seed-{s}/model.safetensors").exists()  # no training happened
            assert json.loads((p / f"metrics/{arm}/seed-{s}.json").read_text())["not_needed"] == gate["reason"]
    chk = json.loads((p / "metrics/check.json").read_text())
    assert chk["verdict"] == "negative" and chk["seeds"] == [0] and chk["pairs_used"] == 1
    assert chk["stop_reason"] == "settled at look 1 of 3 (1 pairs)" and chk["max_seeds"] == 3
    assert chk["family_confidence"] == 0.95 and abs(chk["confidence"] - (1 - 0.05 / 3)) < 1e-9
    assert set(chk["lr"]) == {"transfer", "scratch"} and chk["lr_search"]

    # Nothing changed: only the failed check is stale; no pair trains, no look is re-taken.
    r = dvc("repro", "check", cwd=p)
    assert _ran(r.stdout) == {"check"}, r.stdout

    # min_seeds = len(seeds) (the fixed design): no look before three pairs, so pairs 1 and 2 are needed now: pair 2
    # trains, pair 1 comes back from DVC's run-cache (the tiny build trained it with the same gate); pair 0's gate is
    # byte-identical, so it is not re-run at all.
    write_params(p, deep_update(TINY, {"check": {"seeds": [0, 1, 2], "min_seeds": 3}}))
    r = dvc("repro", "check", cwd=p)
    ran = _ran(r.stdout)
    assert {"look@1", "look@2", "finetune@2", "baseline@2"} <= ran and "finetune@0" not in ran, r.stdout
    assert "Stage 'finetune@1' is cached" in r.stdout or "finetune@1" in ran
    chk = json.loads((p / "metrics/check.json").read_text())
    assert chk["seeds"] == [0, 1, 2] and chk["pairs_used"] == 3 and chk["confidence"] == 0.95
    assert (p / "models/finetuned/seed-1/model.safetensors").exists()
    assert not (p / "models/finetuned/seed-1/not_needed.json").exists()
