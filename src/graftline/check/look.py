"""The ``look`` stage: the interim look that decides whether the pair of ``--seed`` is still needed.

``graftline look --seed S`` writes ``metrics/looks/look-S.json`` and the pair's gate ``metrics/looks/gate-S.json``
(graftline/results/looks.py): for the first seed of ``check.seeds`` it only
records that the first pair is needed; for a later seed it reads the look before the previous pair, scores that
pair's two arms on the test split (if it trained), appends their correctness, and takes the sequential design's look
(check/sequential.py) once ``check.min_seeds`` pairs are in. Settled (or settled earlier): the pair is not needed,
and its finetune/baseline stages write a skip record in seconds instead of training. Each look reads only the look
before it and one pair's two models, so dvc.yaml chains them (``check.looks``) and DVC caches every one.
"""

from __future__ import annotations

import logging

import numpy as np

from graftline.check.ntg import _predict
from graftline.check.sequential import look_confidence, look_number, run_sequential
from graftline.config import CheckParams
from graftline.errors import ConfigError
from graftline.project import Project
from graftline.results import LookResult, PairGate
from graftline.results.looks import PairCorrectness, gate_path, look_path, skipped

log = logging.getLogger(__name__)


def _bits(ok: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in ok)


def _ok(bits: str) -> np.ndarray:
    return np.frombuffer(bits.encode(), dtype=np.uint8) == ord("1")


def _write(r: LookResult, proj: Project) -> LookResult:
    r.write(look_path(proj, r.seed))
    PairGate(seed=r.seed, needed=r.needed, reason=None if r.needed else r.reason).write(gate_path(proj, r.seed))
    return r


def run_look(p: CheckParams, proj: Project, seed: int) -> LookResult:
    """Write the look before pair ``seed`` and its gate (see the module docstring); return the look."""
    if seed not in p.seeds:
        raise ConfigError(f"graftline look --seed {seed}: {seed} is not in check.seeds {p.seeds} (params.yaml); "
                          "dvc.yaml runs one look per seed of check.looks.")
    level = look_confidence(p.confidence, p.min_seeds, p.max_seeds)
    i = p.seeds.index(seed)
    if i == 0:
        return _write(LookResult(seed=seed, needed=True, reason="the first pair", confidence=level), proj)
    prev_seed = p.seeds[i - 1]
    prev = LookResult.read(look_path(proj, prev_seed))
    if not prev.needed or skipped(proj, "finetune", prev_seed) is not None:
        reason = prev.reason if not prev.needed else f"pair {prev_seed} was not trained"
        return _write(prev.model_copy(update={"seed": seed, "needed": False, "reason": reason, "look": None}), proj)
    cache: dict = {}
    transfer, _ = _predict(proj.arm("finetune", prev_seed), proj, cache)
    scratch, _ = _predict(proj.arm("baseline", prev_seed), proj, cache)
    test = next(iter(cache.values()))
    y = test.y.numpy()
    if prev.pairs and (prev.data_hash != test.meta["data_hash"] or prev.labels != y.tolist()):
        raise ConfigError(f"{look_path(proj, prev_seed)} was taken on another test split than pair {prev_seed}'s "
                          "models: re-run the chain (`dvc repro`), which re-takes every look after a data change.")
    pairs = [*prev.pairs, PairCorrectness(seed=prev_seed, transfer=_bits(transfer == y), scratch=_bits(scratch == y))]
    k = len(pairs)
    base = dict(seed=seed, confidence=level, data_hash=test.meta["data_hash"], labels=y.tolist(), pairs=pairs)
    if look_number(k, p.min_seeds) is None:
        r = LookResult(needed=True, reason=f"{k} of min_seeds {p.min_seeds} pairs trained: no look yet", **base)
    else:
        seq = run_sequential(np.stack([_ok(q.transfer) for q in pairs]), np.stack([_ok(q.scratch) for q in pairs]),
                             y, list(test.classes), p.seeds, p.min_seeds,
                             p.max_ntg, p.confidence, p.bootstrap)
        v, j = seq.verdict, look_number(k, p.min_seeds)
        settled = seq.pairs_used == k and v.verdict in ("positive", "negative")
        why = f"look {j} ({k} pairs): {v.verdict}, NTG {v.ntg:+.3f} [{v.ntg_low:+.3f}, {v.ntg_high:+.3f}]"
        r = LookResult(needed=not settled, reason=("settled at " if settled else "") + why, look=j,
                       settled_at=j if settled else None, verdict=v.verdict, ntg=v.ntg, ntg_low=v.ntg_low,
                       ntg_high=v.ntg_high, **base)
    _write(r, proj)
    log.info("look before pair %s: %s (%s)", seed, "needed" if r.needed else "not needed", r.reason)
    return r
