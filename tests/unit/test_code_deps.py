"""Lineage that cannot lie: one DAG text for the repository and for init projects, and each stage's code = the
import closure of its library code (not the CLI), stamped per stage so that an edit re-runs exactly the stages that
run it (graftline.lineage; the DVC-measured probes are in tests/integration/test_lineage.py)."""

import shutil
from pathlib import Path

import pytest
import yaml

from graftline.lineage import ADAPT_STAGES, ENTRY, STAMP_DIR, closure, entry_modules, write_stamps
from graftline.scaffold.dag import render_dag
from tests.conftest import REPO
from tools.code_deps import main, stage_closure

PKG = REPO / "src" / "graftline"
DEMO_ONLY_DEPS = {"models/zoo", "data/demo/sources", "models/zoo/zoo.json"}


def _body(stage: dict) -> dict:
    return stage["do"] if "do" in stage else stage


def test_dvc_yaml_is_the_template_rendered_for_the_demo(tmp_path: Path, capsys):
    assert main(["--check"]) == 0
    bad = tmp_path / "dvc.yaml"
    bad.write_text((REPO / "dvc.yaml").read_text().replace("      - adapt.method\n", "", 1))
    assert main(["--check", "--dvc-yaml", str(bad)]) == 1
    assert "make deps" in capsys.readouterr().err


def test_an_init_project_runs_the_same_dag_without_the_demo_stages():
    repo = yaml.safe_load((REPO / "dvc.yaml").read_text())
    init = yaml.safe_load(render_dag(demo=False, code_root="/opt/site-packages/graftline"))
    assert set(repo["stages"]) - set(init["stages"]) == {"demo", "zoo"}
    for name, stage in init["stages"].items():
        mine, theirs = _body(stage), _body(repo["stages"][name])
        assert mine["cmd"] == theirs["cmd"] and mine.get("params") == theirs.get("params"), name
        assert mine.get("outs") == theirs.get("outs") and mine.get("metrics") == theirs.get("metrics"), name
        code = {"src/graftline", "/opt/site-packages/graftline"}
        assert set(mine["deps"]) - code == set(theirs["deps"]) - DEMO_ONLY_DEPS - code, name
    assert init["plots"] == repo["plots"] and init["artifacts"] == repo["artifacts"]


def test_every_stage_depends_on_its_code_stamp_and_params_check_comes_first():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages)[0] == "params-check"
    assert set(stages) - {"params-check"} == set(ENTRY)  # every stage has entry modules, and only stages do
    for name in ENTRY:
        assert (STAMP_DIR / f"{name}.json").as_posix() in _body(stages[name])["deps"], name
        assert _body(stages[name])["cmd"].split()[:2] == ["graftline", name]
    check = stages["params-check"]
    assert check["deps"] == ["params.yaml", "src/graftline"]
    assert check["outs"] == [{".graftline/code": {"persist": True}}]
    # the files check and export read are declared (issue 20: check read the arms' JSON, export never read check)
    assert {"metrics/finetune", "metrics/baseline"} <= set(stages["check"]["deps"])
    assert "metrics/check.json" in stages["export"]["deps"]
    assert "adapt" in _body(stages["baseline"])["params"]  # adapt.candidate etc.: the source-only arm reads them


def test_no_stage_runs_the_cli_and_supervised_arms_never_run_adapt():
    for stage in ENTRY:
        for method in ("none", "dann"):
            rel = set(stage_closure(stage, method))
            assert not {f for f in rel if Path(f).name.startswith("cli")}, stage
            assert "src/graftline/config/sections.py" in rel  # the params the CLI hands over are config's product
    sup, ada = set(stage_closure("finetune")), set(stage_closure("finetune", "dann"))
    assert "src/graftline/train/finetune.py" in sup and not {f for f in sup if "/adapt/" in f}
    assert "src/graftline/adapt/dann.py" in ada and "src/graftline/train/loop.py" not in ada
    exp = set(stage_closure("export"))  # export reaches data/images.py (normalise) through eval and the dataset
    assert {"src/graftline/export/onnx.py", "src/graftline/data/images.py", "src/graftline/eval/logits.py",
            "src/graftline/__init__.py", "src/graftline/data/__init__.py"} <= exp
    assert "src/graftline/train/loop.py" not in exp  # another stage's code is not export's
    assert "src/graftline/train/finetune.py" not in set(stage_closure("zoo"))  # a finetune edit keeps the zoo


@pytest.fixture
def pkg_copy(tmp_path: Path) -> Path:
    """A copy of the package the stamps are computed from (an edit to the real tree would race other tests)."""
    dst = tmp_path / "site" / "graftline"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


@pytest.mark.parametrize("module,method,stale", [
    ("adapt/dann.py", "none", set()),
    ("adapt/dann.py", "dann", {"finetune", "baseline"}),
    ("cli.py", "none", set()),
    ("cli_adapt.py", "dann", set()),
    ("train/loop.py", "none", {"zoo", "finetune", "baseline"}),
    ("check/ntg.py", "none", {"check", "look", "look-first"}),  # the looks score pairs with ntg._predict
    ("validate/drift.py", "none", {"validate"}),
])
def test_a_module_edit_restamps_exactly_the_stages_that_run_it(pkg_copy: Path, tmp_path: Path, module, method,
                                                               stale):
    proj = tmp_path / "proj"
    assert all(write_stamps(proj, method, pkg_dir=pkg_copy).values())  # first run: every stamp is new
    assert not any(write_stamps(proj, method, pkg_dir=pkg_copy).values())  # same code: nothing rewritten
    _edit(pkg_copy / module)
    assert {s for s, c in write_stamps(proj, method, pkg_dir=pkg_copy).items() if c} == stale


def test_switching_to_adapt_mode_restamps_only_the_arms(pkg_copy: Path, tmp_path: Path):
    write_stamps(tmp_path, "none", pkg_dir=pkg_copy)
    assert {s for s, c in write_stamps(tmp_path, "mcc", pkg_dir=pkg_copy).items() if c} == set(ADAPT_STAGES)
    assert entry_modules("finetune", "mcc") != entry_modules("finetune")
    assert closure(entry_modules("check"), pkg_copy)  # the package-wide entry (check.*) resolves in a copy too
