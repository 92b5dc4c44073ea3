"""The negative-transfer verdict: NTG over paired seeds, an interval, per-seed McNemar, three outcomes.

NTG (Wang et al., "Characterizing and Avoiding Negative Transfer", CVPR 2019) = err(transfer) − err(scratch); > 0
means the source made things worse. Each of K seeds trains both arms on the same data order, augmentation stream
and budget; both are scored on the same test images, so the comparison is paired twice over.

**Interval.** Two things make a measured NTG differ from the true one: which seeds (trainings) we happened to run,
and which test images we happened to have. The seeds' part is the spread of the K per-seed NTGs themselves: their
mean's variance s²/K, drawn from Student's t with K − 1 degrees of freedom (s is estimated from K values: with K = 3,
t's 97.5 % point is 4.3, not 1.96) — it counts *everything* that differs between trainings, the image-level
disagreements included, and is never truncated. The test images' part is a paired bootstrap of the images' own
effect (each image's seed-mean difference, resampled with replacement, both arms on the same draw) shrunk by the
share of its variance that is seed-image noise (already in s², estimated from the two-way residuals), so nothing is
counted twice. Each replicate is mean + image draw + seed draw; the percentile interval at ``confidence`` is
reported. An earlier version gave t only to the between-seed variance *beyond* image noise, truncated at 0: when
three seeds happened to agree it fell back to the image bootstrap alone, and on re-splits of the demo it called
scratch-vs-scratch ties "positive" in 1 of 3 to 2 of 6 repetitions (benchmarks/gate.py). Simulated studies
(tests/unit/test_verdict.py) check the coverage. With K = 1 only the test-set part exists (McNemar's situation).

**McNemar.** Per seed, the exact test on the discordant test images (b: transfer right and scratch wrong, c: the
reverse): p = P(Binomial(b + c, ½) as extreme as min(b, c)), two-sided (Dietterich 1998, for one training each).

**Outcomes.** ``negative``: the whole interval lies above ``max_ntg`` (the source hurt: export blocked);
``positive``: the whole interval lies below 0 (transfer helped); ``inconclusive`` otherwise — a tie at this test-set
size and number of seeds, with an estimate of how many more test images or seeds would settle it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binomtest

from graftline.errors import DataError


@dataclass
class Verdict:
    verdict: str  # positive | negative | inconclusive
    ntg: float
    ntg_low: float
    ntg_high: float
    confidence: float
    seeds: list[int]
    test_images: int
    transfer_acc: float
    scratch_acc: float
    per_seed: list[dict] = field(default_factory=list)
    per_class: dict[str, float] = field(default_factory=dict)
    variance: dict[str, float] = field(default_factory=dict)
    advice: str = ""


def mcnemar_p(transfer_ok: np.ndarray, scratch_ok: np.ndarray) -> float:
    """Exact two-sided McNemar p-value on paired correctness."""
    b = int(np.sum(transfer_ok & ~scratch_ok))
    c = int(np.sum(~transfer_ok & scratch_ok))
    return 1.0 if b + c == 0 else float(binomtest(min(b, c), b + c, 0.5).pvalue)


def image_noise(diff: np.ndarray) -> float:
    """The seed-image interaction variance var(e) of the two-way model D[k, i] = mu + seed_k + image_i + e (the
    residuals' mean square); 0 with one seed (it cannot be told from the image effect then)."""
    k, n = diff.shape
    if k < 2 or n < 2:
        return 0.0
    d = diff.astype(np.float64)
    resid = d - d.mean(1, keepdims=True) - d.mean(0, keepdims=True) + d.mean()
    return float((resid ** 2).sum() / ((k - 1) * (n - 1)))


def bootstrap_ntg(diff: np.ndarray, replicates: int = 2000, seed: int = 0, chunk: int = 250,
                  noise: float | None = None) -> np.ndarray:
    """NTG replicates from ``diff`` [K seeds, n images] = scratch_ok − transfer_ok (−1, 0, 1): the mean, plus a
    paired bootstrap of the test images' own effect, plus a Student-t(K − 1) draw of the seeds' spread (module
    docstring). ``noise``: ``image_noise(diff)`` when the caller has it already."""
    k, n = diff.shape
    noise = image_noise(diff) if noise is None else noise
    rng = np.random.default_rng(seed)
    d = diff.astype(np.float64)
    per_image = d.mean(0)  # each image's difference, averaged over the seeds
    mean = float(per_image.mean())
    var_img = float(per_image.var(ddof=1)) if n > 1 else 0.0
    # the image draw keeps only the images' own effect: var(per_image) = var(image) + var(e) / k
    shrink = np.sqrt(max(0.0, 1.0 - noise / k / var_img)) if var_img > 0 else 0.0
    sd_seed = float(d.mean(1).std(ddof=1)) / np.sqrt(k) if k > 1 else 0.0
    out = []
    for start in range(0, replicates, chunk):
        b = min(chunk, replicates - start)
        images = rng.multinomial(n, np.full(n, 1.0 / n), size=b)  # [b, n] counts: one image draw per replicate
        boot = images @ per_image / n - mean
        out.append(mean + shrink * boot + sd_seed * rng.standard_t(max(k - 1, 1), size=b))
    return np.concatenate(out)


def _advice(mean: float, low: float, high: float, max_ntg: float, n: int, k: int, var_test: float,
            var_seed: float) -> str:
    """Roughly how much more evidence would move an inconclusive interval off its thresholds."""
    half = (high - low) / 2
    if 0 <= mean <= max_ntg or half <= 0:
        return (f"the mean NTG {mean:+.3f} lies between 0 and max_ntg {max_ntg:+.3f}: the arms tie within the "
                "tolerance; more data would confirm a tie, not a winner")
    gap = -mean if mean < 0 else mean - max_ntg  # distance to the threshold the interval must clear
    factor = (half / gap) ** 2
    if var_seed > var_test:
        return (f"the seeds disagree more than the test images do: about {int(np.ceil(k * factor))} seeds "
                f"(now {k}) would settle it at this effect size")
    return (f"about {int(np.ceil(n * factor)):,} test images (now {n:,}) would settle it at this effect size, "
            "if the difference is real")


def decide(transfer_ok: np.ndarray, scratch_ok: np.ndarray, labels: np.ndarray, classes: list[str],
           seeds: list[int], max_ntg: float = 0.0, confidence: float = 0.95, replicates: int = 2000) -> Verdict:
    """The verdict from paired correctness ``transfer_ok``/``scratch_ok`` [K, n] (bool) on test ``labels`` [n]."""
    t = np.asarray(transfer_ok, dtype=bool)
    s = np.asarray(scratch_ok, dtype=bool)
    if t.shape != s.shape or t.ndim != 2 or t.shape[1] != len(labels):
        raise DataError(f"paired correctness must be [seeds, test images]; got {t.shape} and {s.shape}")
    k, n = t.shape
    if n == 0:
        raise DataError("no test images: the verdict needs a test split (raise data.test_fraction in params.yaml, or "
                        "give the manifest a split column with test rows)")
    diff = s.astype(np.int8) - t.astype(np.int8)
    per_seed_ntg = diff.mean(1)
    mean = float(per_seed_ntg.mean())
    noise = image_noise(diff)
    reps = bootstrap_ntg(diff, replicates, noise=noise)
    alpha = 1 - confidence
    low, high = (float(v) for v in np.quantile(reps, [alpha / 2, 1 - alpha / 2]))
    verdict = "negative" if low > max_ntg else "positive" if high < 0 else "inconclusive"
    var_seed = float(per_seed_ntg.var(ddof=1)) / k if k > 1 else 0.0  # the seed draw's variance (s^2 / K)
    var_test = max(0.0, float(diff.mean(0).var(ddof=1)) - noise / k) / n if n > 1 else 0.0
    per_seed = [{"seed": seed, "transfer_acc": float(t[i].mean()), "scratch_acc": float(s[i].mean()),
                 "ntg": float(per_seed_ntg[i]), "mcnemar_p": mcnemar_p(t[i], s[i]),
                 "transfer_only_right": int(np.sum(t[i] & ~s[i])), "scratch_only_right": int(np.sum(~t[i] & s[i]))}
                for i, seed in enumerate(seeds)]
    per_class = {c: float(diff[:, labels == j].mean()) for j, c in enumerate(classes) if np.any(labels == j)}
    return Verdict(verdict=verdict, ntg=mean, ntg_low=low, ntg_high=high, confidence=confidence, seeds=list(seeds),
                   test_images=n, transfer_acc=float(t.mean()), scratch_acc=float(s.mean()), per_seed=per_seed,
                   per_class=per_class, variance={"test_images": var_test, "seeds": var_seed},
                   advice="" if verdict != "inconclusive" else
                   _advice(mean, low, high, max_ntg, n, k, var_test, var_seed))
