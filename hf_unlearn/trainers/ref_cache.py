"""Precomputed reference log-probs (`precompute_ref_log_probs`).

NPO and IdkDPO only need the frozen reference's summed log-prob of each forget sequence, which never changes. It is
computed once before training, keyed by the item's `index`, and the reference model is freed. The table is built
with the trainer's own `reference_logits` (same precision and autocast as the live path) on every process, so
ZeRO-3's collective forwards stay in step.
"""

from __future__ import annotations

import math

import torch

from hf_unlearn.trainers.losses import sequence_nll


def epochs_to_cover(args, n_train: int) -> int:
    """Epochs training may touch (one extra when counting from max_steps), so per-epoch items are all covered."""
    if args.max_steps is not None and args.max_steps > 0:
        batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(args.world_size, 1)
        steps_per_epoch = max(n_train // max(batch, 1), 1)
        return math.ceil(args.max_steps / steps_per_epoch) + 1
    return max(math.ceil(args.num_train_epochs), 1)


def reference_features(dataset, path: str, epochs: int) -> dict[int, dict]:
    """{index: feature} of every sequence under `path` that training will see.

    Datasets whose items change per epoch (refusal answers) provide `reference_features(path, epochs)`; for plain
    forget/retain pairs the forget features themselves are the items.
    """
    if hasattr(dataset, "reference_features"):
        return dataset.reference_features(path, epochs)
    if path == "forget" and hasattr(dataset, "forget"):
        return {int(f["index"]): f for f in dataset.forget}
    raise ValueError(f"precompute_ref_log_probs: the train dataset cannot list its '{path}' items")


def precompute_sequence_logps(
    trainer, features: dict[int, dict], batch_size: int, desc: str = "reference log-probs"
) -> dict[int, float]:
    """{index: sum of the reference's answer-token log-probs}, scored in length-sorted batches.

    Batches are padded by the trainer's own collator, so padding and attention masks match the training batches.
    """
    from tqdm.auto import tqdm

    keys = sorted(features, key=lambda k: len(features[k]["input_ids"]))
    table: dict[int, float] = {}
    starts = range(0, len(keys), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=not trainer.is_local_process_zero()):
        chunk = keys[start : start + batch_size]
        batch = trainer.data_collator([features[k] for k in chunk])
        batch = {k: v.to(trainer.args.device) for k, v in batch.items()}
        nll, _ = sequence_nll(trainer.reference_logits(batch), batch["labels"])
        for key, value in zip(chunk, (-nll).tolist(), strict=True):
            table[key] = value
    return table


def lookup(table: dict[int, float], path: str, index: torch.Tensor) -> torch.Tensor:
    """The precomputed log-probs of a batch's rows, in row order (fp32, on the index's device)."""
    try:
        values = [table[int(i)] for i in index.tolist()]
    except KeyError as err:
        raise KeyError(f"precompute_ref_log_probs: no reference log-prob for {path} item {err.args[0]}") from None
    return torch.tensor(values, dtype=torch.float32, device=index.device)
