"""The orchestration reads graftline's own exit code from GRAFTLINE_STATUS_FILE, never from DVC's log; and the
report stage explains a run that stopped early instead of failing."""

import json
from pathlib import Path

from tests.conftest import cli, write_params


def test_status_file_records_the_commands_own_exit_code_and_outcome(tmp_path: Path, monkeypatch):
    write_params(tmp_path)
    status = tmp_path / "status.json"
    monkeypatch.setenv("GRAFTLINE_STATUS_FILE", str(status))
    r = cli("check", cwd=tmp_path)  # nothing prepared: bad input, exit 2
    assert r.returncode == 2
    assert json.loads(status.read_text()) == {"command": "check", "exit_code": 2, "outcome": "error"}

    r = cli("report", cwd=tmp_path)  # a page for a run that has produced nothing yet
    assert r.returncode == 0, r.stderr
    assert json.loads(status.read_text()) == {"command": "report", "exit_code": 0, "outcome": "ok"}
    page = (tmp_path / "reports" / "run.html").read_text()
    assert "stopped before the check stage" in page and "metrics/check.json" in page
