"""The zoo stage: pretrain the embedded default's source candidates on the synthetic source domains.

Each candidate is a timm architecture trained from scratch on one source domain (``data/demo/sources/<domain>.npz``)
with the shared training loop, saved under the saved-model contract as ``models/zoo/<id>.safetensors`` + ``.json``.
The JSON also records where the source's held-out eval set lives and the accuracy on it, so that forgetting can be
measured after fine-tuning.

Candidates are independent, so ``zoo.workers`` of them train at once, each in its own (spawned) process with
torch's threads divided among them: on 2 cores, two candidates with one thread each finish sooner than one after the
other with two threads each (small convolutions do not use a second thread well; ``benchmarks/zoo.py``). A
candidate's weights depend on its seed, the params and its thread count, not on which process trained it or in what
order.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from graftline.config import ZooParams, section_hash
from graftline.data.dataset import ArrayData
from graftline.errors import DataError
from graftline.eval.logits import accuracy
from graftline.models import weights
from graftline.models.card import Lineage, ModelCard, Preprocess, SourceEval
from graftline.models.zoo import load_source
from graftline.project import atomic_dir, write_json_atomic
from graftline.results import ZooCandidate, ZooResult
from graftline.train.loop import FitData, Hooks, fit
from graftline.train.recipe import Recipe

log = logging.getLogger(__name__)


def _threads_and_workers(p: ZooParams) -> tuple[int, int]:
    """(processes, torch threads each): ``workers: 0`` = one process per torch thread, at most one per candidate."""
    threads = torch.get_num_threads()
    workers = min(p.workers or threads, len(p.candidates))
    return workers, max(1, threads // workers)


_SOURCES: dict = {}  # (source file, size) -> load_source's tensors, per process, for one run_zoo


def _train_candidate(p: ZooParams, i: int, sources_dir: Path, tmp: Path, project_root: Path, threads: int,
                     bar: bool) -> tuple[ZooCandidate, dict]:
    """Train ``p.candidates[i]`` with ``threads`` torch threads and save it under ``tmp``; the row and its timing."""
    torch.set_num_threads(threads)
    cand = p.candidates[i]
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
    recipe = Recipe(steps=p.steps, batch_size=p.batch_size, lr=p.lr, weight_decay=p.weight_decay,
                    warmup_steps=max(1, p.steps // 10), eval_every=p.steps, augment=True, seed=p.seed + i)
    fit(model, FitData(ArrayData(src["x"], src["y"]), None, mean, std), recipe,
        Hooks(desc=f"zoo {cand.id}" if bar else None))
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


def run_zoo(p: ZooParams, sources_dir: Path, out: Path, project_root: Path, metrics_path: Path | None = None) -> ZooResult:
    """Train every candidate in ``p.candidates``, ``zoo.workers`` at once; write ``out`` (a directory) atomically.

    Timings go to ``metrics_path``, not into ``out``: the models' directory must hash the same on every re-run.
    """
    from tqdm import tqdm

    missing = sorted({f"{c.domain}.npz" for c in p.candidates if not (sources_dir / f"{c.domain}.npz").is_file()})
    if missing:
        raise DataError(f"{sources_dir}: no {', '.join(missing)} for the zoo's candidates. The demo stage renders the "
                        "source domains: run `dvc repro demo` (or `graftline demo`), or remove those candidates "
                        "from zoo.candidates.")
    workers, threads = _threads_and_workers(p)
    n = len(p.candidates)
    trained: dict[int, tuple[ZooCandidate, dict]] = {}  # candidate index -> (row, timing), in completion order
    with atomic_dir(out) as tmp:
        if workers == 1:
            jobs = (_train_candidate(p, i, sources_dir, tmp, project_root, threads, True) for i in range(n))
            done = enumerate(jobs)
            pool = None
        else:
            log.info("zoo: %d candidates, %d at a time (%d torch thread%s each)", n, workers, threads,
                     "" if threads == 1 else "s")
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            futures = {pool.submit(_train_candidate, p, i, sources_dir, tmp, project_root, threads, False): i
                       for i in _largest_first(p)}
            done = ((futures[f], f.result()) for f in as_completed(futures))
        try:
            with tqdm(total=n, desc="zoo", unit="model", disable=workers == 1, mininterval=2.0) as bar:
                for i, (row, timing) in done:
                    trained[i] = row, timing
                    bar.update(1)
                    log.info("zoo: %-32s source eval acc %.3f  (%.1f s)", row.id, timing["source_eval_accuracy"],
                             timing["train_seconds"])
        finally:
            _SOURCES.clear()  # decoded sources live for one zoo run (this process's; each worker process ends with it)
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        result = ZooResult(candidates=[trained[i][0] for i in range(n)])
        result.write(tmp / "zoo.json")
    if metrics_path is not None:
        write_json_atomic(metrics_path, {trained[i][0].id: trained[i][1] for i in range(n)})
    return result
