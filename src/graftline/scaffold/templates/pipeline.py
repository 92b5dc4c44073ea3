"""The project's Prefect flow: `dvc repro` (DVC decides which stages are stale), then the headline."""

import subprocess

from prefect import flow, task


@task
def run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


@flow(name="graftline-project")
def pipeline() -> str:
    run("dvc", "repro")
    return run("graftline", "summary")


if __name__ == "__main__":
    pipeline()
