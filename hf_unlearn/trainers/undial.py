"""UNDIAL: self-distillation towards a teacher with the true token's logit lowered ."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import undial_loss
from hf_unlearn.trainers.method_utils import as_local_mean, logits_of


class UNDIALTrainer(UnlearningTrainer, method="UNDIAL"):
    """loss = gamma * CE(model, softmax(z_ref - beta * onehot(y))) + alpha * L_retain.

    The soft-label cross-entropy counts the positions predicting answer tokens (token mean over the effective batch).
    open-unlearning averages over every position, prompt and padding included, where label -100 indexes vocabulary
    id V-100: distillation towards the teacher with an arbitrary token lowered, diluting the loss with the prompt
    length. With alpha = 0 (the yaml default) the retain forward is skipped instead of computed and weighted 0.
    """

    def forget_term(self, model, inputs):
        forget = inputs["forget"]
        forget_loss = undial_loss(
            logits_of(model, forget),
            self.reference_logits(forget),
            forget["labels"],
            self.args.beta,
            self.normalizer("forget", "tokens"),
        )
        return self.args.gamma * forget_loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "tokens", forget)
        }
