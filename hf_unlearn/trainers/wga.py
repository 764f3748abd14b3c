"""WGA and SatImp: gradient ascent with detached per-token weights from the token probability."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import weighted_forget_loss
from hf_unlearn.trainers.method_utils import as_local_mean, logits_of


class _TokenWeightedAscent(UnlearningTrainer):
    """loss = gamma * (-sum_t w_t l_t / N_tokens) + alpha * L_retain, w_t a detached function of p_t = exp(-l_t).

    open-unlearning builds a reference model for these methods and never uses it (unless the retain loss is KL);
    here one is loaded only for KL.
    """

    def token_weight_exponents(self) -> tuple[float, float | None]:
        raise NotImplementedError

    def forget_term(self, model, inputs):
        forget = inputs["forget"]
        beta, beta2 = self.token_weight_exponents()
        forget_loss = weighted_forget_loss(
            logits_of(model, forget), forget["labels"], beta, beta2, self.normalizer("forget", "tokens")
        )
        return self.args.gamma * forget_loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "tokens", forget)
        }


class WGATrainer(_TokenWeightedAscent, method="WGA"):
    """WGA: w_t = p_t^beta."""

    def token_weight_exponents(self):
        return self.args.beta, None


class SatImpTrainer(_TokenWeightedAscent, method="SatImp"):
    """SatImp: w_t = p_t^beta1 (1 - p_t)^beta2.

    Defaults gamma = 1, alpha = 0.1 as its README and class defaults say; open-unlearning's yaml swaps them
    (gamma 0.1, alpha 1).
    """

    def token_weight_exponents(self):
        return self.args.beta1, self.args.beta2
