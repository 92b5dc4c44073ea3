"""Screenshots of the Prefect dashboard for a real run of the flow on the tiny project, to look at what a user sees.

    python -m tools.dashboard_screenshot [--out build/dashboard] [--keep]

What it does, all on this machine (nothing is fetched from the network):
1. builds the tests' tiny project (tests/conftest.py: TINY) as a git + DVC repository, not yet reproduced;
2. starts ``prefect server start`` with its UI on a free port of 127.0.0.1 (its own PREFECT_HOME, analytics off);
3. runs the flow twice (``python -m graftline_flows.pipeline``): once from scratch (every stage runs), then after
   ``check.max_ntg`` changed, so the stages before check are up to date (Skipped) and check, export and report run;
4. headless Chromium (``apt-get install -y chromium``), driven over the DevTools protocol, opens the second flow
   run's page (``/runs/flow-run/<id>``), clicks the tabs that matter (Task Runs, Artifacts, Logs) and screenshots
   each, then the first run's Task Runs tab and the pages of the summary and report digest artifacts, into ``--out`` (PNG files,
   named in the printed list).

It takes a few minutes on 2 cores (the tiny pipeline twice, the server's start). Look at the PNGs afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from graftline_flows.server import LocalServer, local_server
from tests.conftest import BIN, REPO, TINY, make_project

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]  # as tests/integration/test_report.py


def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def tiny_project(where: Path, env: dict) -> Path:
    p = make_project(where, TINY, dvc_init=False)
    shutil.copy(REPO / ".gitignore", p / ".gitignore")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "ci@example.com"],
                ["git", "config", "user.name", "ci"], [str(BIN / "dvc"), "init", "-q"],
                [str(BIN / "dvc"), "config", "core.analytics", "false"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "tiny project"]):
        _run(cmd, p, env)
    return p


def flow_runs(api: str) -> list:
    """The flow runs on the server, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return client.read_flow_runs(sort=FlowRunSort.START_TIME_ASC)


def artifact_ids(api: str, flow_run_id) -> dict[str, str]:
    """key -> id of the flow run's artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {a.key: str(a.id) for a in found if a.key}


class Browser:
    """Headless Chromium driven over the DevTools protocol (websockets, which Prefect installs): the dashboard is
    a single-page app whose tabs are not in the URL, so a tab is opened by clicking it, as a user does."""

    def __init__(self, tmp: Path, width: int = 1600, height: int = 1800):
        import json

        from websockets.sync.client import connect

        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            sys.exit("chromium not found: apt-get install -y chromium")
        profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp))  # fresh: no DevToolsActivePort of an old one
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                      f"--window-size={width},{height}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not port_file.is_file() or len(port_file.read_text().split()) < 2:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit("chromium did not open its DevTools port")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws, self.n, self.json = connect(page["webSocketDebuggerUrl"], max_size=2**28), 0, json
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(self.json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = self.json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True).get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.js(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.5)

    def open(self, url: str, text: str) -> None:
        """Go to ``url`` and wait until the page shows ``text``."""
        self.call("Page.navigate", url=url)
        self.wait_for(f"document.body && document.body.innerText.includes({self.json.dumps(text)})")

    def click_tab(self, label: str) -> None:
        self.wait_for(f"[...document.querySelectorAll('.p-tab, button, [role=tab]')].some(e => e.innerText.trim() === "
                      f"{self.json.dumps(label)})")
        self.js(f"[...document.querySelectorAll('.p-tab, button, [role=tab]')].find(e => e.innerText.trim() === "
                f"{self.json.dumps(label)}).click()")

    def shot(self, png: Path, settle: float = 3.0) -> None:
        import base64

        time.sleep(settle)  # the graph and the lists fill in after the page is there
        png.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        self.ws.close()
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "build" / "dashboard", help="where the PNGs go")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project and server home")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="graftline-dashboard-"))
    try:
        with local_server(tmp / "prefect-home", timeout=180) as server:
            shoot(server, tmp, args.out)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def shoot(server: LocalServer, tmp: Path, out: Path) -> None:
    env = dict(server.env)
    project = tiny_project(tmp / "proj", env)
    # the flow and its stages run the project's copy of src/ (make_project's snapshot), so that editing the working
    # tree meanwhile changes no code stamp (which would re-run every stage in the second run)
    env["PYTHONPATH"] = os.pathsep.join([str(project / "src"), str(REPO)])
    flow = [sys.executable, "-m", "graftline_flows.pipeline", "--project", str(project)]
    t0 = time.monotonic()
    _run(flow, project, env)  # from scratch: every stage runs
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["check"]["max_ntg"] = 0.9  # the check and everything after it are stale; the rest is not
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(flow, project, env)
    print(f"two flow runs in {time.monotonic() - t0:.0f} s")
    first, second = flow_runs(server.api)[-2:]
    ui = f"{server.url}/runs/flow-run"
    browser = Browser(tmp)
    try:
        for run, tabs in ((second, ("Task Runs", "Artifacts", "Logs")), (first, ("Task Runs",))):
            for tab in tabs:
                browser.open(f"{ui}/{run.id}", run.name)
                browser.click_tab(tab)
                png = out / f"{'second' if run is second else 'first'}-run-{tab.lower().replace(' ', '-')}.png"
                browser.shot(png)
                print(f"{png}  <- {ui}/{run.id}, tab {tab}")
        ids = artifact_ids(server.api, second.id)
        for k, text in (("graftline-00-summary", "Stages, in order"),
                        ("graftline-10-report-digest", "graftline run report")):
            if k in ids:
                browser.open(f"{server.url}/artifacts/artifact/{ids[k]}", text)
                browser.shot(out / f"second-run-{k}.png")
                print(f"{out / f'second-run-{k}.png'}  <- artifact {k}")
    finally:
        browser.close()

if __name__ == "__main__":
    main()
