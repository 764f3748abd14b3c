"""WGA and SatImp: gradient ascent with detached per-token weights from the token probability (sections 3.8-3.9)."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.config import SatImpConfig, WGAConfig
from hf_unlearn.trainers.graddiff import GradDiffTrainer
from hf_unlearn.trainers.losses import weighted_forget_loss
from hf_unlearn.trainers.method_utils import as_local_mean, logits_of, retain_log


class _TokenWeightedAscent(GradDiffTrainer):
    """loss = gamma * (-sum_t w_t l_t / N_tokens) + alpha * L_retain, w_t a detached function of p_t = exp(-l_t).

    open-unlearning builds a reference model for these methods and never uses it (unless the retain loss is KL);
    here one is loaded only for KL.
    """

    def token_weight_exponents(self) -> tuple[float, float | None]:
        raise NotImplementedError

    def compute_unlearning_loss(self, model, inputs):
        forget = inputs["forget"]
        beta, beta2 = self.token_weight_exponents()
        forget_loss = weighted_forget_loss(
            logits_of(model, forget), forget["labels"], beta, beta2, self.normalizer("forget", "tokens")
        )
        retain = self.retain_loss(model, inputs["retain"])
        loss = self.args.gamma * forget_loss + self.args.alpha * retain
        return loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "tokens", forget),
            "retain_loss": retain_log(self, retain, inputs["retain"]),
        }


class WGATrainer(_TokenWeightedAscent):
    """WGA: w_t = p_t^beta."""

    config_class = WGAConfig
    _name = "WGA"
    _tag_names = UnlearningTrainer._tag_names + ["wga"]
    _paper = {"title": "Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go Beyond"}

    def token_weight_exponents(self):
        return self.args.beta, None


class SatImpTrainer(_TokenWeightedAscent):
    """SatImp: w_t = p_t^beta1 (1 - p_t)^beta2.

    Defaults gamma = 1, alpha = 0.1 as its README and class defaults say; open-unlearning's yaml swaps them
    (gamma 0.1, alpha 1).
    """

    config_class = SatImpConfig
    _name = "SatImp"
    _tag_names = UnlearningTrainer._tag_names + ["satimp"]
    _paper = {"title": "Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning"}

    def token_weight_exponents(self):
        return self.args.beta1, self.args.beta2
