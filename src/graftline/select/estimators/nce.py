"""NCE: how well the source labels the candidate's head predicts determine the target labels."""

from __future__ import annotations

import numpy as np

from graftline.select.estimators.registry import register_estimator


@register_estimator("nce", takes="source_labels", ensemble=True, scale=(
    "NCE is minus the conditional entropy H(target label | source label) in nats: <= 0, 0 is best."))
def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """NCE (Tran et al., "Transferability and Hardness of Supervised Classification Tasks", ICCV 2019).

    The negative conditional entropy of the target labels Y given the source labels Z that the candidate's source
    head predicts (its argmax) on the target images: NCE = -H(Y | Z) = sum_{y,z} P(y, z) log P(y | z), from the
    empirical joint. In nats, <= 0; 0 when the source label determines the target label.
    """
    z = np.asarray(source_labels)
    y = np.asarray(labels)
    _, zi = np.unique(z, return_inverse=True)
    _, yi = np.unique(y, return_inverse=True)
    joint = np.zeros((zi.max() + 1, yi.max() + 1))
    np.add.at(joint, (zi, yi), 1.0)
    joint /= len(y)
    pz = joint.sum(1, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log((joint / pz)[nz])))
