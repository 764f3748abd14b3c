"""Forget/retain pairing keyed by (seed, epoch, forget index).

open-unlearning draws the retain partner from the global RNG on every access, so pairs change with the number of
processes and every DDP rank draws the same retain rows. Here the partner depends only on (seed, epoch, i): runs
are reproducible, pairs change per epoch, and ranks differ simply because they hold different forget examples.
"""

from __future__ import annotations

import numpy as np
import torch


def retain_index(seed: int, epoch: int, forget_index: int, n_retain: int) -> int:
    """The retain row paired with forget row `forget_index` in `epoch`."""
    rng = np.random.default_rng([int(seed), int(epoch), int(forget_index)])
    return int(rng.integers(n_retain))


class ForgetRetainDataset(torch.utils.data.Dataset):
    """Epoch length = forget size; item i is {"forget": forget[i], "retain": retain[partner(i)]}."""

    def __init__(self, forget: list, retain: list, seed: int = 0) -> None:
        if not forget:
            raise ValueError("the forget set is empty")
        if not retain:
            raise ValueError("the retain set is empty")
        self.forget = forget
        self.retain = retain
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.forget)

    def __getitem__(self, i: int) -> dict:
        j = retain_index(self.seed, self.epoch, i, len(self.retain))
        return {"forget": self.forget[i], "retain": self.retain[j]}
