"""Forget questions answered with a refusal ("I don't know"), for IdkDPO and IdkNLL (TOFU's `idontknow.txt`).

open-unlearning draws the refusal from the global torch RNG on every access. Here the refusal for forget item i in
an epoch comes from a generator seeded by (seed, epoch, i, stream), like the retain partner of
`hf_unlearn.data.pairing`: reproducible, different per epoch, the same whatever the number of processes.
"""

from __future__ import annotations

import numpy as np
import torch

from hf_unlearn.data.pairing import retain_index
from hf_unlearn.data.tofu import load_idk_answers

#: Keeps the refusal draw independent of the retain draw, which uses the same (seed, epoch, i).
IDK_STREAM = 1


def idk_index(seed: int, epoch: int, forget_index: int, n_idk: int) -> int:
    """The refusal line answering forget item `forget_index` in `epoch`."""
    rng = np.random.default_rng([int(seed), int(epoch), int(forget_index), IDK_STREAM])
    return int(rng.integers(n_idk))


class IdkForgetRetainDataset(torch.utils.data.Dataset):
    """Epoch length = forget size. Item i:

    - `with_original=True` (IdkDPO): {"forget": {"original": forget[i], "alternate": refusal}, "retain": partner};
    - `with_original=False` (IdkNLL): {"forget": refusal, "retain": partner}.

    The refusal feature is forget question i with refusal line j; its `index` is i * len(idk) + j, unique per
    (question, refusal) pair, so precomputed reference log-probs can be keyed by it. Encodings are cached.
    """

    def __init__(
        self,
        formatter,
        forget_rows: list[dict],
        retain: list[dict],
        idk_answers: list[str],
        seed: int = 0,
        with_original: bool = True,
    ) -> None:
        if not forget_rows:
            raise ValueError("the forget set is empty")
        if not retain:
            raise ValueError("the retain set is empty")
        if not idk_answers:
            raise ValueError("no refusal answers (idontknow.txt is empty)")
        self.formatter = formatter
        self.forget_rows = forget_rows
        self.forget = formatter.encode_rows(forget_rows)
        self.retain = retain
        self.idk_answers = idk_answers
        self.seed = seed
        self.with_original = with_original
        self.epoch = 0
        self._cache: dict[int, dict] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.forget)

    def refusal(self, i: int, epoch: int) -> dict:
        """The refusal feature of forget item i in `epoch` (question i, refusal line drawn for (seed, epoch, i))."""
        j = idk_index(self.seed, epoch, i, len(self.idk_answers))
        key = i * len(self.idk_answers) + j
        if key not in self._cache:
            feat = self.formatter.encode(self.forget_rows[i]["question"], self.idk_answers[j])
            feat["index"] = key
            self._cache[key] = feat
        return self._cache[key]

    def __getitem__(self, i: int) -> dict:
        alternate = self.refusal(i, self.epoch)
        partner = self.retain[retain_index(self.seed, self.epoch, i, len(self.retain))]
        forget = {"original": self.forget[i], "alternate": alternate} if self.with_original else alternate
        return {"forget": forget, "retain": partner}

    def reference_features(self, path: str, epochs: int) -> dict[int, dict]:
        """{index: feature} of every sequence under `path` in epochs 0..epochs-1 (precomputed reference log-probs)."""
        if path == ("forget.original" if self.with_original else None):
            return {int(f["index"]): f for f in self.forget}
        if path == ("forget.alternate" if self.with_original else "forget"):
            out = {}
            for epoch in range(epochs):
                for i in range(len(self.forget)):
                    feat = self.refusal(i, epoch)
                    out[int(feat["index"])] = feat
            return out
        raise ValueError(f"precompute_ref_log_probs: the refusal dataset has no '{path}' sequences")


def _build(recipe, formatter, rows: dict, with_original: bool) -> IdkForgetRetainDataset:
    return IdkForgetRetainDataset(
        formatter,
        rows["forget"],
        formatter.encode_rows(rows["retain"]),
        load_idk_answers(),
        seed=recipe["seed"],
        with_original=with_original,
    )


def build_idk_dpo_dataset(recipe, formatter, rows: dict) -> IdkForgetRetainDataset:
    """IdkDPO: original (dispreferred) and refusal (preferred) answers per forget question, plus a retain partner."""
    return _build(recipe, formatter, rows, with_original=True)


def build_idk_nll_dataset(recipe, formatter, rows: dict) -> IdkForgetRetainDataset:
    """IdkNLL: a refusal answer per forget question, plus a retain partner."""
    return _build(recipe, formatter, rows, with_original=False)
