"""The data order: a pure function of (seed, step), so resuming needs only the step.

The stream is a concatenation of seeded permutations of the training set (pass k uses its own generator), cut into
global batches of ``batch_size``; it works when the set is smaller than a batch (the embedded default has 30
images). Because batch ``s`` can be computed without replaying batches 0..s-1, ``DataLoader`` workers may prefetch
freely and a run killed at any step resumes on exactly the batches it would have seen. Under DDP each process takes
its contiguous slice of the global batch (``tensor_split``), so the data and the effective batch do not depend on
the number of processes. Augmentation draws from ``step_generator(seed, step)`` for the same reason.
"""

from __future__ import annotations

import numpy as np
import torch

from graftline.errors import DataError


def _seed(*key: int) -> int:
    return int(np.random.SeedSequence(list(key)).generate_state(1, dtype=np.uint64)[0] >> 1)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator for step ``step``'s random draws (augmentation): independent of every other step."""
    return torch.Generator().manual_seed(_seed(seed, 1, step))


class StepSampler:
    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n < 1:
            raise DataError("cannot sample batches from an empty training set (data/prepared has no train images: add "
                            "images, or lower data.val_fraction/data.test_fraction in params.yaml)")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, k: int) -> torch.Tensor:
        if k not in self._perms:
            if len(self._perms) > 4:
                self._perms.pop(min(self._perms))
            self._perms[k] = torch.randperm(self.n, generator=torch.Generator().manual_seed(_seed(self.seed, 0, k)))
        return self._perms[k]

    def global_indices(self, step: int) -> torch.Tensor:
        lo, hi = step * self.batch_size, (step + 1) * self.batch_size
        parts, pos = [], lo
        while pos < hi:
            k, off = divmod(pos, self.n)
            take = min(hi - pos, self.n - off)
            parts.append(self._perm(k)[off: off + take])
            pos += take
        return torch.cat(parts)

    def part(self, t: torch.Tensor) -> torch.Tensor:
        """This process's slice of a global-batch tensor."""
        return t if self.world == 1 else t.tensor_split(self.world)[self.rank]

    def indices(self, step: int) -> torch.Tensor:
        return self.part(self.global_indices(step))

    def batches(self, start: int, stop: int):
        """Index batches for steps ``start..stop-1`` (a ``DataLoader`` batch_sampler)."""
        return _Range(self, start, stop)


class _Range:
    def __init__(self, sampler: StepSampler, start: int, stop: int):
        self.sampler, self.start, self.stop = sampler, start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self):
        for step in range(self.start, self.stop):
            yield self.sampler.indices(step).tolist()
