"""Transferability estimators: score a pretrained candidate from one forward pass over the target data.

Plain numpy in, a float out. Higher is better for every estimator.
"""

from __future__ import annotations

import numpy as np


def _gram_spectrum(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of the smaller Gram matrix of ``f`` [N, D].

    Returns (sigma, basis): the r = min(N, D) eigenvalues of F^T F (the squared singular values, >= 0) and the
    matching eigenvectors — of F^T F ([D, r]) when N >= D, of F F^T ([N, r]) when N < D.
    """
    n, d = f.shape
    gram = f.T @ f if n >= d else f @ f.T
    sigma, basis = np.linalg.eigh(gram)
    return np.clip(sigma, 0.0, None), basis


def logme(features: np.ndarray, labels: np.ndarray, max_iter: int = 1000, tol: float = 1e-5) -> float:
    """LogME (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning", ICML 2021).

    For each class c, a Bayesian linear model y_c = F w + noise with prior w ~ N(0, 1/alpha I) and noise precision
    beta, on the one-hot target y_c. The log evidence (marginal likelihood) is

        L(alpha, beta) = D/2 log alpha + N/2 log beta - N/2 log 2pi
                         - beta/2 ||F m - y||^2 - alpha/2 ||m||^2 - 1/2 log|A|,
        A = alpha I + beta F^T F,   m = beta A^-1 F^T y,

    maximised over (alpha, beta) by MacKay's fixed point: gamma = sum_i beta s_i / (alpha + beta s_i),
    alpha = gamma / ||m||^2, beta = (N - gamma) / ||F m - y||^2. The score is the mean over classes of max L / N:
    a log-density per sample (it can exceed 1 or be negative; only differences between candidates matter).

    Correct when N < D or F is rank-deficient: F^T F has D - r zero eigenvalues whose log(alpha) terms belong in
    log|A|; the public reference drops them there and inflates the score (thuml/LogME issue #23, where random labels
    could outscore true ones). Here log|A| = sum_{i<=r} log(alpha + beta s_i) + (D - r) log alpha.

    One eigen-decomposition of the smaller Gram matrix serves every class; the fixed point runs for all classes at
    once. Features are used as given (no centering), in float64.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    n, d = f.shape
    classes = np.unique(y)
    targets = (y[:, None] == classes[None, :]).astype(np.float64)  # [N, C]
    sigma, basis = _gram_spectrum(f)
    # q_i = (V^T F^T y)_i for the eigenvectors v_i of F^T F; from the N-side basis u_i, F^T u_i = s_i v_i.
    q = basis.T @ (f.T @ targets) if n >= d else np.sqrt(sigma)[:, None] * (basis.T @ targets)  # [r, C]
    r = len(sigma)
    yy = (targets**2).sum(0)  # [C]
    alpha = np.ones(len(classes))
    beta = np.ones(len(classes))
    s = sigma[:, None]
    for _ in range(max_iter):
        denom = alpha + beta * s  # [r, C]
        gamma = (beta * s / denom).sum(0)
        m = beta * q / denom  # coefficients of the posterior mean in the eigenbasis
        mm = (m**2).sum(0)
        res2 = np.maximum(yy - 2 * (m * q).sum(0) + (s * m**2).sum(0), 1e-300)
        new_alpha = gamma / np.maximum(mm, 1e-300)
        new_beta = np.maximum(n - gamma, 1e-12) / res2
        ratio, new_ratio = alpha / beta, new_alpha / new_beta
        alpha, beta = new_alpha, new_beta
        if np.all(np.abs(new_ratio - ratio) / ratio < tol):
            break
    denom = alpha + beta * s
    m = beta * q / denom
    mm = (m**2).sum(0)
    res2 = np.maximum(yy - 2 * (m * q).sum(0) + (s * m**2).sum(0), 1e-300)
    logdet = np.log(denom).sum(0) + (d - r) * np.log(alpha)
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
                - beta / 2 * res2 - alpha / 2 * mm - logdet / 2)
    return float(np.mean(evidence / n))


def logme_evidence(features: np.ndarray, target: np.ndarray, alpha: float, beta: float) -> float:
    """The LogME log evidence per sample for one real-valued target at a given (alpha, beta), computed densely.

    The definition itself, O(D^3): the reference that ``logme``'s fast fixed point is tested against.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    _, logdet = np.linalg.slogdet(a)
    ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - n / 2 * np.log(2 * np.pi)
          - beta / 2 * np.sum((f @ m - y) ** 2) - alpha / 2 * m @ m - logdet / 2)
    return float(ev / n)


ESTIMATORS = {"logme": logme}
