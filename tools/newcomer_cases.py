"""Every case of issue 25's "what was found", run again on a fresh copy: prints the markdown table of docs/newcomer.md
(before, the command, the exact output now in one line).

    python -m tools.newcomer_cases --tiny DIR   # DIR: a reproduced tiny project (e.g. tools.dashboard_screenshot
                                                # --keep leaves one); without it one is built (dvc repro, minutes)

The fresh copy is ``git clone`` of this repository's HEAD; every command runs the installed ``graftline``/``dvc``
console scripts against the clone's src (PYTHONPATH), each in a new temporary folder.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.conftest import BIN, REPO, TINY, make_project
from tests.helpers import make_folder

ROWS: list[tuple[str, str, str]] = []


def sh(cmd: str, cwd: Path, env: dict, timeout: float = 600) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    r = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def one_line(text: str, pattern: str = "") -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and (not pattern or re.search(pattern, ln))]
    line = lines[0] if lines else "(nothing)"
    return line if len(line) <= 260 else line[:257] + "..."


TMP = ""  # the run's temporary folder, printed as $TMP


def row(before: str, cmd: str, now: str) -> None:
    now = now.replace(TMP, "$TMP") if TMP else now
    ROWS.append((before, cmd, now.replace("|", "\\|")))
    print(f"[{len(ROWS)}] {cmd}\n    {now}", file=sys.stderr)


def usage_errors(tmp: Path, env: dict) -> None:
    for cmd in ("graftline nosuchcmd", "graftline init", "graftline init p --images shapes --steps -3",
                "graftline predict x.png --format xml"):
        code, out, err, _ = sh(cmd, tmp, env)
        tb = "Traceback" in out + err
        row("~50-line traceback, exit 1", f"`{cmd}`", f"exit {code}{', TRACEBACK' if tb else ''}: {one_line(err)}")


def params_typos(tiny: Path, tmp: Path, env: dict) -> None:
    for name, edit, key in (("`finetune.stratgy: full`", lambda p: p["finetune"].update(stratgy="full"), "stratgy"),
                            ("`finetune.steps: -5`", lambda p: p["finetune"].update(steps=-5), "steps"),
                            ("`finetun:` (misspelt section)", lambda p: p.update(finetun={"steps": 5}), "finetun\\b")):
        proj = tmp / f"typo-{len(ROWS)}"
        shutil.copytree(tiny, proj, symlinks=True)
        params = yaml.safe_load((proj / "params.yaml").read_text())
        edit(params)
        (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        code, out, err, _ = sh("dvc repro", proj, env)
        kept = (proj / "models" / "finetuned" / "seed-0").is_dir() and (proj / "metrics/finetune/seed-0.json").is_file()
        before = ("`dvc repro` deletes models/finetuned/seed-0 before graftline rejects the file"
                  if "finetun:" not in name else "silently ignored: \"Data and pipelines are up to date\"")
        ran = [m for m in re.findall(r"Running stage '([^']+)'", out + err)]
        row(before, f"{name}, `dvc repro`", f"exit {code} (stages started: {', '.join(ran)}), seed-0 model "
                                            f"{'kept' if kept else 'DELETED'}: {one_line(out + err, key)}")


def init_refusals(tmp: Path, env: dict) -> None:
    (tmp / "empty").mkdir()
    flat = tmp / "flat"
    flat.mkdir()
    for i in range(6):
        shutil.copy(next((make_folder(tmp / "src6", per_class=6) / "cat").iterdir()), flat / f"{i}.png")
    make_folder(tmp / "one", per_class=5, classes=("circle",))
    small = make_folder(tmp / "small", per_class=5)
    for f in sorted((small / "dog").iterdir())[2:]:
        f.unlink()
    for what, folder, before in (("an empty folder", "empty", "exit 0, fails later at prepare"),
                                 ("a flat folder of PNGs", "flat", "exit 0, then prepare: \"no images found\""),
                                 ("one class", "one", "exit 0; a 1-class model predicts \"circle (1.000)\" for all"),
                                 ("a class of 2 images", "small", "exit 0")):
        code, out, err, _ = sh(f"graftline init proj-{folder} --images {folder}", tmp, env)
        row(before, f"`graftline init` on {what}", f"exit {code}: {one_line(err)}")
    code, out, err, _ = sh("graftline predict empty", tmp, env)
    row("a blank line, exit 0", "`graftline predict` on an empty folder", f"exit {code}: {one_line(err)}")


def offline(tmp: Path, env: dict) -> None:
    hf = {**{k: v for k, v in env.items() if not k.startswith("HF_")}, "HF_HOME": str(tmp / "hf"),
          "HF_HUB_CACHE": str(tmp / "hf-hub")}
    make_folder(tmp / "imgs", per_class=4)
    code, out, err, _ = sh("graftline init own --images imgs", tmp, hf)
    row("default `hub:` candidates that fail at select", "`graftline init own --images imgs` (empty hub cache)",
        f"exit {code}: {one_line(err, 'zoo|candidate')}")
    docs = one_line((tmp / "own" / "params.yaml").read_text(), "background in") if code == 0 else "(no project)"
    row("params.yaml points to `https://github.com/...`", "the generated params.yaml's docs line", docs)
    miss = ("import time\nfrom pathlib import Path\nfrom graftline.errors import ModelError\n"
            "from graftline.models.candidates import Candidate, load\nt0 = time.monotonic()\ntry:\n"
            "    load(Candidate('hub:resnet18.a1_in1k', 'hub', 'resnet18.a1_in1k'), Path('.'))\n"
            "except ModelError as exc:\n    print(f'{time.monotonic() - t0:.1f} s in load(), timm's import included: "
            "ModelError: {exc}')")
    for how, extra in (("HF_HUB_OFFLINE=1", {"HF_HUB_OFFLINE": "1"}), ("no network", {"HF_ENDPOINT": "http://127.0.0.1:9"})):
        (tmp / "miss.py").write_text(miss)
        code, out, err, secs = sh(f"{BIN / 'python'} miss.py", tmp, {**hf, **extra})
        retries = err.count("Retrying")
        row("5 retries with back-off per file (50.7 s), a wall of retries", f"a missing hub model, {how}",
            f"{retries} retries, {one_line(out + err, 'ModelError')}")
    code, out, err, _ = sh("graftline params", tmp, env)
    keys = sum(1 for ln in out.splitlines() if re.match(r"^[a-z_]+\.[a-z_.\[\]]+( = |:)", ln))
    row("`graftline --help` lists no params", "`graftline params`",
        f"exit {code}, {keys} keys; {one_line(out, '^finetune.lr = ')}")


def report_views(tiny: Path, tmp: Path, env: dict) -> None:
    page = (tiny / "reports" / "run.html").read_text()
    m = re.search(r"<h2>Evidence: ([^<]+)</h2>", page)
    row("no seed count, no per-seed table, no McNemar p", "reports/run.html, evidence section",
        f"\"Evidence: {m.group(1) if m else 'MISSING'}\"; McNemar p column: {'McNemar p' in page}; per-class NTG: "
        f"{'Per-class NTG' in page}")
    m = re.search(r"<h3>INT8: <span class='(\w+)'>(\w+)</span></h3><p>([^<]*)</p>", page)
    row("the INT8 model and its cost are not mentioned", "reports/run.html, export section",
        f"INT8 {m.group(2)} ({m.group(1)}): {m.group(3)}" if m else "INT8: not in the page")
    m = re.search(r"<span class='verdict (\w+)'>(\w+)</span>", page)
    row("`inconclusive` is the same green as `positive`", "reports/run.html, verdict",
        f"verdict {m.group(2)} drawn as class {m.group(1)} (positive ok/green, inconclusive warn/amber, "
        f"negative bad/red)" if m else "no verdict")
    code, out, err, _ = sh("graftline init own-hub --images imgs --candidate hub:resnet18.a1_in1k", tmp, env)
    proj = tmp / "own-hub"  # an init project without the demo zoo: it has no zoo stage
    if code == 0:
        code, out, err, _ = sh("graftline report", proj, env)
        text = (proj / "reports" / "run.html").read_text() if (proj / "reports/run.html").is_file() else ""
        text = re.sub(r"<(style|script)>.*?</\1>", " ", text, flags=re.S)
        row("init projects show \"Not produced (yet): models/zoo/zoo.json\"",
            "`graftline report` in a fresh init project with a hub: candidate (no zoo stage, nothing run)",
            f"exit {code}; models/zoo/zoo.json named: {'models/zoo/zoo.json' in text}; "
            f"{one_line(re.sub(r'<[^>]+>', ' ', text), 'Not produced')[:200]}")


def dvc_views(tiny: Path, tmp: Path, env: dict) -> None:
    clone = tmp / "clone"  # the repository itself: the demo's committed dvc.lock and metrics/run.json
    code, out, err, _ = sh("dvc metrics show --precision 8", clone, env)
    lines = [ln.split() for ln in out.splitlines() if ln.strip()]
    table = dict(zip(lines[0], lines[1])) if len(lines) >= 2 else {}
    row("`dvc metrics show` prints parity 3.3e-06 as `0.0`", "`make metrics` (`dvc metrics show --precision 8`)",
        f"exit {code}: parity_max_abs_diff {table.get('parity_max_abs_diff', 'MISSING')}, "
        f"ntg {table.get('ntg', 'MISSING')}")
    judged = "^(transfer_acc|scratch_acc|ntg|ntg_low|ntg_high|parity_max_abs_diff)$"
    code, out, err, _ = sh(f"COLUMNS=120 dvc exp show --only-changed --drop Created --keep '{judged}' --no-pager",
                           clone, env)
    widest = max((len(ln) for ln in out.splitlines()), default=0)
    row("`dvc exp show` all ellipses at 250 columns", "`make exp` at 120 columns, in the repository",
        f"exit {code}, widest line {widest} characters, ellipses: {out.count('…')}; header: "
        f"{one_line(out, 'Experiment')[:150]}")
    code, out, err, _ = sh("git check-ignore -v dvc_plots/index.html", clone, env)
    proj = tmp / "views"
    shutil.copytree(tiny, proj, symlinks=True)
    row("`dvc_plots/` not git-ignored", "`git check-ignore -v dvc_plots/index.html`", f"exit {code}: {one_line(out)}")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["check"]["seeds"] = params["check"]["seeds"][:1]
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    code, out, err, _ = sh("dvc status", proj, env)
    stale = [ln.rstrip(":").strip() for ln in out.splitlines() if ln and not ln.startswith((" ", "\t"))]
    row("README's `check.seeds=[0,1,2,3,4]` example changes nothing (the default)",
        "README's fewer-seeds example on the tiny project (check.seeds [0, 1] -> [0]), `dvc status`",
        f"stale: {', '.join(stale)}")
    readme = (REPO / "README.md").read_text()
    times = sorted(set(re.findall(r"\d+ min(?: \d+ s)?", readme)))
    row("README: \"~3 % of the 4-minute default run\" and elsewhere 5 min 54 s", "run times the README states",
        f"{', '.join(times) or 'none'}; \"4-minute\": {'4-minute' in readme}")


def progress_and_noise(tiny: Path, tmp: Path, env: dict) -> None:
    proj = tmp / "progress"
    shutil.copytree(tiny, proj, symlinks=True)
    code, out, err, _ = sh("graftline zoo", proj, env)
    updates = [u.strip() for u in re.split(r"[\r\n]", err) if re.search(r"\d+/\d+", u)]
    top = max((int(b) for u in updates for b in re.findall(r"\d+/(\d+)", u)), default=0)
    row("the zoo's bar counts finished models: 0/7 for 8 minutes", "`graftline zoo` (tiny: 4 candidates x 8 steps)",
        f"exit {code}, bar total {top}, {len(updates)} updates; last: {updates[-1][-120:] if updates else '-'}")
    code, out, err, _ = sh("graftline validate", proj, env)
    noise = "ephemeral docs site" in out + err or "Created temporary directory" in out + err
    row("GX prints \"Created temporary directory … for ephemeral docs site\"", "`graftline validate`",
        f"exit {code}, GX docs-site noise: {noise}; {one_line(out, 'rules passed')}")


def build_tiny(where: Path, env: dict) -> Path:
    p = make_project(where, TINY, dvc_init=False)
    shutil.copy(REPO / ".gitignore", p / ".gitignore")
    for cmd in ("git init -q -b main", "git config user.email ci@example.com", "git config user.name ci",
                "dvc init -q", "git add -A", "git commit -qm tiny", "dvc repro"):
        code, out, err, _ = sh(cmd, p, env)
        if code:
            sys.exit(f"{cmd}: {out}{err}")
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", type=Path, help="a reproduced tiny project (copied, never changed)")
    args = ap.parse_args()
    global TMP
    tmp = Path(tempfile.mkdtemp(prefix="graftline-newcomer-"))
    TMP = str(tmp)
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "COLUMNS": "120"}
    for k in ("GX_ANALYTICS_ENABLED", "PREFECT_SERVER_ANALYTICS_ENABLED"):
        env.pop(k, None)  # graftline's entry points set them (a fresh shell has none)
    tiny = args.tiny or build_tiny(tmp / "tiny", env)
    try:
        usage_errors(tmp, env)
        params_typos(tiny, tmp, env)
        init_refusals(tmp, env)
        offline(tmp, env)
        report_views(tiny, tmp, env)
        dvc_views(tiny, tmp, env)
        progress_and_noise(tiny, tmp, env)
    finally:
        print(f"Measured on a fresh clone of {head.strip()} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}):\n")
        print("| before (issue 25) | command | exact output now |\n|---|---|---|")
        for before, cmd, now in ROWS:
            print(f"| {before} | {cmd} | `{now}` |" if "`" not in now else f"| {before} | {cmd} | {now} |")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
