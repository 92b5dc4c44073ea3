"""Choosing without target labels: deep embedded validation (DEV) and soft neighbourhood density (SND).

DEV — You, Wang, Chen, Long & Wang, "Towards Accurate Model Selection in Deep Unsupervised Domain Adaptation",
ICML 2019. The target risk estimated on labelled *source* validation images, importance-weighted by how
target-like each one looks in the candidate's feature space: a domain classifier (logistic regression on
standardised features, cross-fitted) gives w_i = p(target | f_i) / p(source | f_i) (classes balanced); with
per-image losses ℓ_i, L_i = w_i ℓ_i, η = −Cov(L, w) / Var(w) (control variate: E[w] = 1),

    DEV = mean(L) + η · mean(w) − η      (lower = preferred)

Saito, Kim, Teterwak, Sclaroff, Darrell & Saenko, "Tune it the Right Way: Unsupervised Validation of Domain
Adaptation via Soft Neighborhood Density", ICCV 2021. SND — on the unlabelled target images, with p_i the softmax
output, p̂_i = p_i / ‖p_i‖, similarities S_ij = p̂_i · p̂_j (i ≠ j), and the soft neighbourhood
P_ij = exp(S_ij / τ) / Σ_{k≠i} exp(S_ik / τ) (τ = 0.05),

    SND = (1 / N) Σ_i H(P_i)      (higher = denser neighbourhoods = a better-adapted model)

Both read target *images* only, so they can pick the method, the trade-off and the stopping step where no target
label exists. Measured on the demo (benchmarks/adaptation.py): SND rewards collapsed predictions (a diverged DANN
whose images fall into few classes is "dense"), which is why DEV is the default.
"""

from __future__ import annotations

import torch

from graftline.eval.logits import predict_logits


def snd_from_logits(logits: torch.Tensor, tau: float = 0.05) -> float:
    p = torch.nn.functional.normalize(torch.softmax(logits.float(), dim=1), dim=1)
    s = p @ p.T
    s.fill_diagonal_(float("-inf"))
    q = torch.softmax(s / tau, dim=1)
    return float(-(q * torch.log(q + 1e-12)).sum(1).mean())


def snd(model: torch.nn.Module, target_x: torch.Tensor, mean, std, tau: float = 0.05) -> float:
    """SND of ``model`` on unlabelled target images [N, C, H, W] in [0, 1]."""
    return snd_from_logits(predict_logits(model, target_x, mean, std), tau)


@torch.inference_mode()
def _features_and_losses(model, x, y, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    from graftline.adapt.loop import features_and_logits
    from graftline.eval.logits import batches, prep

    was = model.training
    model.eval()
    fs, zs = [], []
    for xb in batches(x, 256):
        f, z = features_and_logits(model, prep(xb, mean, std))
        fs.append(f.float())
        zs.append(z.float())
    model.train(was)
    f, z = torch.cat(fs), torch.cat(zs)
    return f, (torch.nn.functional.cross_entropy(z, y, reduction="none") if y is not None else z)


def dev(model: torch.nn.Module, source_x: torch.Tensor, source_y: torch.Tensor, target_x: torch.Tensor,
        mean, std, seed: int = 0) -> float:
    """DEV of ``model``: source validation images with labels, unlabelled target images (lower = preferred)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fs, loss = _features_and_losses(model, source_x, source_y, mean, std)
    ft, _ = _features_and_losses(model, target_x, None, mean, std)
    f = torch.cat([fs, ft]).numpy()
    d = np.r_[np.zeros(len(fs)), np.ones(len(ft))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, class_weight="balanced", max_iter=1000))
    p = cross_val_predict(clf, f, d, cv=2, method="predict_proba")[: len(fs), 1]
    w = np.clip(p, 1e-3, 1 - 1e-3)
    w = w / (1 - w)
    w = w / w.mean()
    weighted = w * loss.numpy()
    var = w.var(ddof=1)
    eta = -np.cov(weighted, w)[0, 1] / var if var > 0 else 0.0
    return float(weighted.mean() + eta * w.mean() - eta)


def pick(candidates: list[dict], key: str = "dev") -> dict:
    """The candidate (a dict with ``key``) the label-free criterion prefers: the lowest DEV, else the highest
    score (SND, source accuracy)."""
    return min(candidates, key=lambda c: c[key]) if key == "dev" else max(candidates, key=lambda c: c[key])
