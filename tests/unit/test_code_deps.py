"""Lineage that cannot lie: every stage's dvc.yaml deps cover the import closure of its command within
src/graftline (tools/code_deps.py computes it), so editing any module a stage runs makes that stage stale."""

from pathlib import Path

import yaml

from tools.code_deps import body, command_closure, covered, main, stage_commands
from tests.conftest import REPO


def test_every_stage_depends_on_every_module_its_command_imports():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    commands = stage_commands({"stages": stages})
    assert set(commands) == set(stages)  # every stage is a graftline command
    missing = [f"{s}: {f.relative_to(REPO)}" for s, c in commands.items() for f in sorted(command_closure(c))
               if not covered(f, [str(d) for d in body(stages[s]).get("deps", [])])]
    assert not missing, "dvc.yaml misses code (python -m tools.code_deps --write):\n" + "\n".join(missing)


def test_closure_follows_lazy_imports_through_layers():
    rel = {f.relative_to(REPO).as_posix() for f in command_closure("export")}
    # export imports its stage module, which reaches data/images.py (normalise) through eval and the dataset.
    assert {"src/graftline/export/onnx.py", "src/graftline/data/images.py", "src/graftline/eval/logits.py",
            "src/graftline/cli.py", "src/graftline/__init__.py", "src/graftline/data/__init__.py"} <= rel
    assert "src/graftline/train/loop.py" not in rel  # another stage's code is not export's


def test_check_fails_when_a_dep_is_removed(tmp_path: Path, capsys):
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    doc["stages"]["export"]["deps"].remove("src/graftline/data/images.py")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(doc))
    assert main(["--check", "--dvc-yaml", str(tmp_path / "dvc.yaml")]) == 1
    assert "export: src/graftline/data/images.py" in capsys.readouterr().err
    assert main(["--check"]) == 0
