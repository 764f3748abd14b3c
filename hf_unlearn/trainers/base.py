"""`UnlearningTrainer`: the `Trainer` plumbing every unlearning method shares.

- nested batches ({"forget": ..., "retain": ...}) through collation, device moves and evaluation;
- loss normalisation over the whole effective batch (counts gathered over micro-batches and processes);
- separate logging of each loss term;
- a frozen reference model prepared the TRL way (DeepSpeed / FSDP / plain), never a deepcopy;
- per-epoch forget/retain pairing.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from transformers import Trainer, TrainerCallback

from hf_unlearn.trainers.losses import label_token_count


class _PairingEpochCallback(TrainerCallback):
    """Tells the forget/retain dataset which epoch starts, so pairs change per epoch yet stay reproducible."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(int(round(state.epoch or 0)))


def _leaf_batches(batch: dict, prefix: str = ""):
    """Yield (path, sub-batch) for every sub-batch holding `input_ids`."""
    if "input_ids" in batch:
        yield prefix.rstrip("."), batch
        return
    for key, value in batch.items():
        if isinstance(value, dict):
            yield from _leaf_batches(value, f"{prefix}{key}.")


class UnlearningTrainer(Trainer):
    """Base class: subclasses implement `compute_unlearning_loss(model, inputs)`."""

    _tag_names = ["hf-unlearn", "machine-unlearning", "tofu"]
    _name = "Unlearning"
    _paper: dict = {}

    @classmethod
    def requires_reference(cls, args) -> bool:
        """Whether this method, with these arguments, needs a frozen reference model."""
        return False

    def __init__(self, model=None, args=None, ref_model=None, **kwargs) -> None:
        super().__init__(model=model, args=args, **kwargs)
        self._metrics: dict[str, dict[str, list]] = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._counts: dict | None = None
        if self.train_dataset is not None and hasattr(self.train_dataset, "set_epoch"):
            self.add_callback(_PairingEpochCallback(self.train_dataset))
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags(self._tag_names + [self._name])
        self.ref_model = self._prepare_reference(ref_model) if ref_model is not None else None
        if self.requires_reference(self.args) and self.ref_model is None:
            raise ValueError(f"{self._name} needs a reference model (pass ref_model=)")

    # ---- reference model --------------------------------------------------------------------------------------
    def _prepare_reference(self, ref_model):
        ref_model.eval()
        ref_model.requires_grad_(False)
        if self.is_deepspeed_enabled:
            from trl.models import prepare_deepspeed

            return prepare_deepspeed(ref_model, self.accelerator)
        if self.is_fsdp_enabled:
            from trl.models import prepare_fsdp

            return prepare_fsdp(ref_model, self.accelerator)
        return self.accelerator.prepare_model(ref_model, evaluation_mode=True)

    @torch.no_grad()
    def reference_logits(self, batch: dict) -> torch.Tensor:
        return self.ref_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    # ---- loss normalisation ------------------------------------------------------------------------------------
    @property
    def loss_is_scaled_for_ga(self) -> bool:  # read by Trainer.training_step
        return self.args.loss_normalization == "effective_batch"

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device):
        """Counts over the whole optimizer step: {path: {"tokens", "seqs", "positions"}} summed and gathered."""
        if self.args.loss_normalization != "effective_batch" or not batch_samples:
            return None
        paths = [p for p, _ in _leaf_batches(batch_samples[0])]
        rows = []
        for path in paths:
            tokens = seqs = positions = 0
            for batch in batch_samples:
                leaf = dict(_leaf_batches(batch))[path]
                if "labels" in leaf:
                    tokens += int(label_token_count(leaf["labels"]))
                seqs += int(leaf["input_ids"].shape[0])
                positions += int(leaf["attention_mask"].sum())
            rows.append([tokens, seqs, positions])
        counts = torch.tensor(rows, dtype=torch.float64, device=device)
        if self.accelerator.num_processes > 1:
            counts = self.accelerator.reduce(counts, reduction="sum")
        return {
            path: {"tokens": counts[i, 0], "seqs": counts[i, 1], "positions": counts[i, 2]}
            for i, path in enumerate(paths)
        }

    def normalizer(self, path: str, kind: str):
        """The divisor for a summed loss over sub-batch `path`: effective-batch count, or None for local mean."""
        if self._counts is None:
            return None
        return self._counts[path][kind]

    @property
    def process_scale(self) -> float:
        """Gradient all-reduce averages over processes; effective-batch losses undo that by this factor."""
        return float(self.accelerator.num_processes) if self._counts is not None else 1.0

    # ---- training / evaluation ---------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._counts = num_items_in_batch if isinstance(num_items_in_batch, dict) else None
        mode = "train" if model.training else "eval"
        loss, terms = self.compute_unlearning_loss(model, inputs)
        for name, value in terms.items():
            self._metrics[mode][name].append(float(value))
        loss = loss * self.process_scale
        return (loss, terms) if return_outputs else loss

    def compute_unlearning_loss(self, model, inputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the loss to back-propagate and the detached terms to log (per-batch means)."""
        raise NotImplementedError

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["forget", "retain"]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        for name, values in self._metrics[mode].items():
            if not values:
                continue
            mean = torch.tensor(sum(values) / len(values), device=self.args.device)
            if self.accelerator.num_processes > 1:
                mean = self.accelerator.gather(mean.unsqueeze(0)).mean()
            key = name if mode == "train" else f"eval_{name}"
            logs[key] = round(float(mean), 6)
        self._metrics[mode].clear()
        super().log(logs, start_time)
