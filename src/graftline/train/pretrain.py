"""The zoo stage: pretrain the embedded default's source candidates on the synthetic source domains.

Each candidate is a timm architecture trained from scratch on one source domain (``data/demo/sources/<domain>.npz``)
with the shared training loop, saved under the saved-model contract as ``models/zoo/<id>.safetensors`` + ``.json``.
The JSON also records where the source's held-out eval set lives and the accuracy on it, so that forgetting can be
measured after fine-tuning.

Candidates are independent, so ``zoo.workers`` of them train at once, each in its own (spawned) process. Every
candidate trains with exactly one torch thread, whatever the machine's core count, ``OMP_NUM_THREADS`` or
``zoo.workers``: a convolution's float sums are ordered by how its work is split among threads, so weights trained
with 2 threads differ in the last bits from those trained with 1, and the fresh clone that ran with another thread
count wrote another ``models/zoo``. With one thread, deterministic kernels (``train.optim.deterministic``) and seeds
per candidate, a candidate's weights depend on its seed and the params only (on one kind of CPU): not on the
process, the order, or how many train at once. Parallelism is across candidates (on 2 cores, two candidates with one
thread each finish sooner than one after the other with two threads; ``benchmarks/zoo.py``).

Progress moves within a candidate: each reports its steps (``PROGRESS_EVERY`` times per candidate) to a step bar
over the whole zoo, and the log gets a line every tenth of it.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from graftline.config import ZooParams, section_hash
from graftline.data.dataset import ArrayData
from graftline.errors import DataError
from graftline.eval.logits import accuracy
from graftline.models import weights
from graftline.models.card import Lineage, ModelCard, Preprocess, SourceEval
from graftline.models.zoo import load_source
from graftline.atomic import atomic_dir, write_json_atomic
from graftline.results import ZooCandidate, ZooResult
from graftline.train.loop import FitData, Hooks, fit
from graftline.train.recipe import Recipe

log = logging.getLogger(__name__)


THREADS = 1  # torch threads per candidate: fixed, so that the weights do not depend on the machine (module doc)
PROGRESS_EVERY = 20  # step reports per candidate


def _threads_and_workers(p: ZooParams) -> tuple[int, int]:
    """(processes, torch threads each): ``workers: 0`` = one process per core torch would use, at most one per
    candidate; always ``THREADS`` thread each."""
    workers = min(p.workers or torch.get_num_threads(), len(p.candidates))
    return workers, THREADS


_SOURCES: dict = {}  # (source file, size) -> load_source's tensors, per process, for one run_zoo
_PROGRESS = None  # in a worker process: the queue its candidates report (index, steps done) to


def _init_worker(progress) -> None:
    global _PROGRESS
    _PROGRESS = progress
    torch.set_num_threads(THREADS)


def _train_candidate(p: ZooParams, i: int, sources_dir: Path, tmp: Path, project_root: Path, threads: int,
                     bar: bool, resume: Path | None = None) -> tuple[ZooCandidate, dict]:
    """Train ``p.candidates[i]`` with ``threads`` torch threads and save it under ``tmp``; the row and its timing.
    With ``resume`` (this configuration's folder in .cache/zoo) a candidate an interrupted run finished is copied
    from there, byte for byte, instead of trained again; one this run finishes is kept there until the zoo is done."""
    torch.set_num_threads(threads)
    cand = p.candidates[i]
    kept = resume / f"{i}-{cand.id}" if resume is not None else None
    if kept is not None and (kept / "row.json").is_file():
        for f in sorted(kept.glob(f"{cand.id}.*")):
            shutil.copy2(f, tmp / f.name)
        log.info("zoo: %s: finished by an interrupted run, kept (%s)", cand.id, kept)
        row = ZooCandidate.model_validate_json((kept / "row.json").read_text())
        return row, {"train_seconds": 0.0, "source_eval_accuracy": row.source_eval_accuracy, "resumed": True}
    size = (p.image_size, p.image_size)
    src_path = sources_dir / f"{cand.domain}.npz"
    key = (str(src_path), size)
    if key not in _SOURCES:  # a process trains several candidates of each domain: decode each domain once
        _SOURCES[key] = load_source(src_path, size)
    src = _SOURCES[key]
    mean, std = [src["x"].mean().item()], [src["x"].std().item()]
    torch.manual_seed(p.seed + i)  # the initial weights are part of what makes a zoo model reproducible
    model = weights.create(cand.architecture, len(src["classes"]), 1, cand.model_kwargs)
    t0 = time.perf_counter()
    # eval_every only paces the progress reports here: there is no val split, and no hook changes the training.
    recipe = Recipe(steps=p.steps, batch_size=p.batch_size, lr=p.lr, weight_decay=p.weight_decay,
                    warmup_steps=max(1, p.steps // 10), eval_every=max(1, p.steps // PROGRESS_EVERY), augment=True,
                    seed=p.seed + i)
    report = (lambda row: _PROGRESS.put((i, row["step"]))) if _PROGRESS is not None else None
    fit(model, FitData(ArrayData(src["x"], src["y"]), None, mean, std), recipe,
        Hooks(desc=f"zoo {cand.id}" if bar else None, on_eval=report))
    eval_acc = accuracy(model, src["x_eval"], src["y_eval"], mean, std)
    seconds = time.perf_counter() - t0
    card = ModelCard(
        architecture=cand.architecture, model_kwargs=cand.model_kwargs, num_classes=len(src["classes"]), in_chans=1,
        label_names=src["classes"], preprocess=Preprocess(input_size=[1, *size], mean=mean, std=std),
        lineage=Lineage(source=f"zoo:{cand.id}", data_hash=src["hash"], params_hash=section_hash(p),
                        source_eval=SourceEval(data=src_path.resolve().relative_to(project_root.resolve()).as_posix(),
                                               split="eval", accuracy=eval_acc)))
    digest = weights.save(tmp / cand.id, model, card)
    row = ZooCandidate(id=cand.id, architecture=cand.architecture, domain=cand.domain,
                       source_eval_accuracy=eval_acc, weights_sha256=digest)
    if kept is not None:
        with atomic_dir(kept) as k:
            for f in sorted(tmp.glob(f"{cand.id}.*")):
                shutil.copy2(f, k / f.name)
            (k / "row.json").write_text(row.model_dump_json())
    return row, {"train_seconds": round(seconds, 2), "source_eval_accuracy": eval_acc}


def _largest_first(p: ZooParams) -> list[int]:
    """Candidate indices, most parameters first: the longest runs start first, so no long run is left to train
    alone at the end while the other processes idle (on the demo's zoo: resnet10t x3, then the smaller nets)."""
    counted: dict[tuple, int] = {}

    def n_params(c) -> int:
        key = (c.architecture, repr(sorted(c.model_kwargs.items())))
        if key not in counted:
            counted[key] = sum(t.numel() for t in weights.create(c.architecture, 10, 1, c.model_kwargs).parameters())
        return counted[key]

    sizes = [n_params(c) for c in p.candidates]
    return sorted(range(len(sizes)), key=lambda i: -sizes[i])


def _done(trained: dict, i: int, row: ZooCandidate, timing: dict) -> None:
    trained[i] = row, timing
    log.info("zoo: %-32s source eval acc %.3f  (%.1f s)", row.id, timing["source_eval_accuracy"],
             timing["train_seconds"])


def _run_parallel(p: ZooParams, workers: int, sources_dir: Path, tmp: Path, project_root: Path,
                  trained: dict, resume: Path | None = None) -> None:
    """Train the candidates in ``workers`` spawned processes, largest first; a step bar over the whole zoo moves as
    the workers report their steps (and the log gets a line every tenth of the total)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from queue import Empty

    from tqdm import tqdm

    n, total = len(p.candidates), len(p.candidates) * p.steps
    log.info("zoo: %d candidates, %d at a time (%d torch thread each)", n, workers, THREADS)
    ctx = multiprocessing.get_context("spawn")
    progress = ctx.Queue()
    steps = [0] * n
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(progress,))
    try:
        futures = {pool.submit(_train_candidate, p, i, sources_dir, tmp, project_root, THREADS, False, resume): i
                   for i in _largest_first(p)}
        pending, logged = set(futures), 0
        with tqdm(total=total, desc=f"zoo ({n} models)", unit="step", mininterval=2.0) as bar:
            while pending:
                finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for f in finished:
                    i = futures[f]
                    _done(trained, i, *f.result())
                    steps[i] = p.steps
                while True:
                    try:
                        i, k = progress.get_nowait()
                    except Empty:
                        break
                    steps[i] = max(steps[i], k)
                bar.update(sum(steps) - bar.n)
                if sum(steps) * 10 // total > logged:
                    logged = sum(steps) * 10 // total
                    log.info("zoo: %d of %d steps (%d of %d models done)", sum(steps), total, len(trained), n)
    finally:
        pool.shutdown(cancel_futures=True)
        progress.close()


def _resume_dir(cache: Path, p: ZooParams, sources_dir: Path) -> Path:
    """This configuration's folder of finished candidates: its params, sources and code (lineage's stamp) hashed."""
    import hashlib
    import json

    from graftline.lineage import stamp

    key = {"params": section_hash(p), "code": stamp("zoo"), "sources": {
        c.domain: hashlib.sha256((sources_dir / f"{c.domain}.npz").read_bytes()).hexdigest() for c in p.candidates}}
    return cache / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def run_zoo(p: ZooParams, sources_dir: Path, out: Path, project_root: Path, metrics_path: Path | None = None,
            resume_cache: Path | None = None) -> ZooResult:
    """Train every candidate in ``p.candidates``, ``zoo.workers`` at once; write ``out`` (a directory) atomically.
    With ``resume_cache`` (the CLI's .cache/zoo) each finished candidate is kept until the whole zoo is written, so an
    interrupted run resumes from the candidates it finished.

    Timings go to ``metrics_path`` (.graftline/timings/zoo.json, no DVC output): what DVC hashes must not change when
    only the clock did.
    """
    missing = sorted({f"{c.domain}.npz" for c in p.candidates if not (sources_dir / f"{c.domain}.npz").is_file()})
    if missing:
        raise DataError(f"{sources_dir}: no {', '.join(missing)} for the zoo's candidates. The demo stage renders the "
                        "source domains: run `dvc repro demo` (or `graftline demo`), or remove those candidates "
                        "from zoo.candidates.")
    workers, threads = _threads_and_workers(p)
    n = len(p.candidates)
    trained: dict[int, tuple[ZooCandidate, dict]] = {}  # candidate index -> (row, timing), in completion order
    before = torch.get_num_threads()
    resume = _resume_dir(resume_cache, p, sources_dir) if resume_cache is not None else None
    with atomic_dir(out) as tmp:
        try:
            if workers == 1:
                jobs = (_train_candidate(p, i, sources_dir, tmp, project_root, threads, True, resume) for i in range(n))
                for i, (row, timing) in enumerate(jobs):
                    _done(trained, i, row, timing)
            else:
                _run_parallel(p, workers, sources_dir, tmp, project_root, trained, resume)
        finally:
            _SOURCES.clear()  # decoded sources live for one zoo run (this process's; each worker process ends with it)
            torch.set_num_threads(before)  # a serial zoo trained in this process: give it its threads back
        result = ZooResult(candidates=[trained[i][0] for i in range(n)])
        result.write(tmp / "zoo.json")
    if metrics_path is not None:
        write_json_atomic(metrics_path, {trained[i][0].id: trained[i][1] for i in range(n)})
    if resume_cache is not None:
        shutil.rmtree(resume_cache, ignore_errors=True)  # the zoo is published: a forced re-run trains afresh
    return result
