"""Plain NLL finetuning on TOFU QAs: how the target (`full`) and retain (`retainXX`) models are made."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.config import UnlearningConfig
from hf_unlearn.trainers.losses import nll_loss
from hf_unlearn.trainers.method_utils import as_local_mean


class FinetuneTrainer(UnlearningTrainer):
    """loss = NLL on answer tokens of {"train": batch}, normalised over the effective batch like every method."""

    config_class = UnlearningConfig
    _name = "Finetune"
    _tag_names = ["hf-unlearn"]

    def _set_signature_columns_if_needed(self):
        if self._signature_columns is None:
            self._signature_columns = ["train"]

    def compute_unlearning_loss(self, model, inputs):
        batch = inputs["train"]
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = nll_loss(logits, batch["labels"], self.normalizer("train", "tokens"))
        return loss, {"nll": as_local_mean(self, loss, "train", "tokens", batch)}
