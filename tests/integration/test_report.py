"""reports/run.html: one self-contained page per run, checked in a real headless Chromium the way a reader sees it:
it renders, every image decodes, nothing is fetched from the network; the screenshot is kept as a test artifact
(build/test-artifacts/run-report.png, or $GRAFTLINE_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, dvc

pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("GRAFTLINE_REQUIRE_CHROMIUM") == "1":  # `make test` installs it and sets this
            pytest.fail("chromium not found: `apt-get install -y chromium` (make test does it as root)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return exe


def browse(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"chromium-profile-{len(list(tmp.glob('chromium-profile-*')))}"  # a fresh profile each time
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def test_run_report_renders_with_every_image_in_headless_chromium(tiny_git_repo: Path, tmp_path: Path):
    chromium()
    project = tiny_git_repo  # the tiny pipeline, run by `dvc repro` (tests/integration/conftest.py)
    assert "Data and pipelines are up to date." in dvc("status", cwd=project).stdout
    page = project / "reports" / "run.html"
    text = page.read_text()
    # Self-contained: no external script, stylesheet or image (a CDN would leave an offline reader with nothing).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "the page fetches something"
    check = json.loads((project / "metrics" / "check.json").read_text())
    assert f"<b>{check['transfer_acc']:.3f}</b> vs scratch <b>{check['scratch_acc']:.3f}</b>" in text
    export = json.loads((project / "metrics" / "export.json").read_text())
    assert export["onnx_sha256"] in text  # lineage down to the shipped file
    for section in ("Source selection", "Training (both arms, every seed)", "confusion matrix", "Data validation",
                    "Lineage", f"Evidence: {len(check['seeds'])} paired seeds"):
        assert section in text, section
    for r in check["per_seed"]:  # the evidence behind the verdict: every seed's row, as check measured it
        assert f"<td>{r['transfer_acc']:.3f}</td><td>{r['scratch_acc']:.3f}</td><td>{r['ntg']:+.3f}</td>" in text
    assert "Not produced" not in text  # every stage of the project ran

    # The page's own script marks <body data-images="ok N"> once every <img> has decoded.
    dom = browse(page, tmp_path, "--virtual-time-budget=5000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    marker = re.search(r'<body[^>]*data-images="([^"]*)"', dom.stdout)
    assert marker and marker.group(1) == "ok 3", marker.group(1) if marker else dom.stdout[:500]

    out = Path(os.environ.get("GRAFTLINE_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "run-report.png"
    shot.unlink(missing_ok=True)
    r = browse(page, tmp_path, "--window-size=1100,2400", "--hide-scrollbars", f"--screenshot={shot}")
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    from PIL import Image

    im = Image.open(shot).convert("RGB")
    assert im.size == (1100, 2400)
    colours = im.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500  # text, tables and charts, not a blank or error page
    # The confusion matrix's dark blue cells are on screen (matplotlib's "Blues" top end).
    assert sum(n for n, (cr, cg, cb) in colours if cb > 90 and cr < 40 and cg < 90) > 200
