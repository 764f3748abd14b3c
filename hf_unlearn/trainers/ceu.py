"""CE-U: cross-entropy unlearning against the model's own distribution without the true token."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import ceu_loss, mask_first_answer_tokens
from hf_unlearn.trainers.method_utils import as_local_mean, logits_of


class CEUTrainer(UnlearningTrainer, method="CEU"):
    """loss = mean over answer positions of CE(z, softmax(stopgrad(z) with the true label's logit at -inf)).

    The first `ignore_first_n_answer_tokens` answer tokens of each row are left out. Forget data only: the retain
    half of each batch is not used, and no reference model is needed. The token mean is over the effective batch,
    counted after the masking.
    """

    def _masked(self, forget: dict) -> dict:
        return {**forget, "labels": mask_first_answer_tokens(forget["labels"], self.args.ignore_first_n_answer_tokens)}

    def _get_num_items_in_batch(self, batch_samples: list, device):
        """Count forget tokens after the first-n masking, so the normaliser matches what the loss scores."""
        masked = [{**b, "forget": self._masked(b["forget"])} for b in batch_samples]
        return super()._get_num_items_in_batch(masked, device)

    def forget_term(self, model, inputs):
        forget = self._masked(inputs["forget"])
        loss = ceu_loss(logits_of(model, forget), forget["labels"], self.normalizer("forget", "tokens"))
        return loss, {"forget_loss": as_local_mean(self, loss, "forget", "tokens", forget)}
