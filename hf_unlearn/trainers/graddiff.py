"""GradAscent and GradDiff: gradient ascent on the forget set, with or without a retain term."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import nll_loss
from hf_unlearn.trainers.method_utils import as_local_mean, logits_of


def forget_nll(trainer: UnlearningTrainer, model, forget: dict):
    """Token-mean NLL of the forget answers (over the effective batch)."""
    return nll_loss(logits_of(model, forget), forget["labels"], trainer.normalizer("forget", "tokens"))


class GradAscentTrainer(UnlearningTrainer, method="GradAscent"):
    """loss = -NLL(forget); the retain half of the batch is not used."""

    def forget_term(self, model, inputs):
        nll = forget_nll(self, model, inputs["forget"])
        return -nll, {"forget_nll": as_local_mean(self, nll, "forget", "tokens", inputs["forget"])}


class GradDiffTrainer(UnlearningTrainer, method="GradDiff"):
    """loss = gamma * (-NLL(forget)) + alpha * L_retain, L_retain = NLL or KL(ref || model) on retain."""

    def forget_term(self, model, inputs):
        nll = forget_nll(self, model, inputs["forget"])
        return -self.args.gamma * nll, {"forget_nll": as_local_mean(self, nll, "forget", "tokens", inputs["forget"])}
