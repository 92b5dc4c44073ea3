"""Conditional domain-adversarial training (CDAN, with entropy conditioning: CDAN+E).

Long, Cao, Wang & Jordan, "Conditional Adversarial Domain Adaptation", NeurIPS 2018. DANN aligns the feature
distributions p(f); CDAN aligns the joint of features and predictions by showing the discriminator the multilinear
map of the features f and the (detached) softmax predictions g:

    h = g ⊗ f  (the flattened outer product, |C|·d values),   D(h) ∈ (0, 1)
    L_CDAN = −E_s[w log D(h_s)] − E_t[w log(1 − D(h_t))]

with the gradient reversal and warm-start schedule of DANN (dann.py) between h and D. Entropy conditioning (+E)
weights each image by w = 1 + e^{−H(g)} (normalised to mean 1 over the batch), so confident predictions, whose
class conditioning is reliable, count more. When |C|·d exceeds ``randomized_above`` the randomized multilinear
map (f R_f) ⊙ (g R_g) / √r with fixed Gaussian R_f, R_g (r = 1024) stands in for the outer product, as in the paper.
"""

from __future__ import annotations

import math

import torch

from graftline.adapt.dann import discriminator, grad_reverse, warm_start
from graftline.adapt.im import entropy
from graftline.adapt.registry import register_method


def entropy_weights(g: torch.Tensor) -> torch.Tensor:
    """CDAN+E's per-image weights w = 1 + e^{-H(g)} of the softmax predictions g [B, C], scaled to mean 1."""
    w = 1.0 + torch.exp(-entropy(g))
    return w / w.sum() * len(w)


@register_method("cdan")
class CDAN(torch.nn.Module):
    trade_off = 0.3  # DEV's pick (registry.py)

    def __init__(self, feat_dim: int, num_classes: int, hidden: int = 1024, randomized_above: int = 8192,
                 randomized_dim: int = 1024, entropy_conditioning: bool = True):
        super().__init__()
        self.entropy_conditioning = entropy_conditioning
        self.randomized = feat_dim * num_classes > randomized_above
        if self.randomized:  # fixed random projections (buffers: saved, never trained), drawn from the loop's seed
            self.register_buffer("rf", torch.randn(feat_dim, randomized_dim))
            self.register_buffer("rg", torch.randn(num_classes, randomized_dim))
        in_dim = randomized_dim if self.randomized else feat_dim * num_classes
        self.disc = discriminator(in_dim, bottleneck=hidden, hidden=hidden)

    def multilinear(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if self.randomized:
            return (f @ self.rf) * (g @ self.rg) / math.sqrt(self.rf.shape[1])
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)

    def forward(self, fs, ft, ls, lt, progress: float) -> torch.Tensor:
        f = torch.cat([fs, ft]).float()
        g = torch.softmax(torch.cat([ls, lt]).float(), dim=1).detach()
        d = self.disc(grad_reverse(self.multilinear(f, g), warm_start(progress))).squeeze(1)
        target = torch.cat([torch.ones(len(fs)), torch.zeros(len(ft))]).to(d.device)
        w = None
        if self.entropy_conditioning:
            w = entropy_weights(g).detach()
        return torch.nn.functional.binary_cross_entropy_with_logits(d, target, weight=w)
