"""IdkNLL: learn to refuse forget questions, keep the retain set (oTOFU's `idk`; open-unlearning's published runs)."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.losses import nll_loss
from hf_unlearn.trainers.method_utils import as_local_mean, logits_of


class IdkNLLTrainer(UnlearningTrainer, method="IdkNLL"):
    """loss = gamma * NLL(refusal answers to forget questions) + alpha * L_retain.

    Batches: {"forget": refusal feature, "retain": ...} from `hf_unlearn.data.idk.build_idk_nll_dataset`.
    oTOFU concatenates refusal and retain rows into one forward with one token mean (so the weight of each side
    depends on token counts); here the two token means are separate and weighted by gamma and alpha, the form
    open-unlearning's `alpha` in its IdkNLL run names implies.
    """

    def forget_term(self, model, inputs):
        forget = inputs["forget"]
        idk_nll = nll_loss(logits_of(model, forget), forget["labels"], self.normalizer("forget", "tokens"))
        return self.args.gamma * idk_nll, {"idk_nll": as_local_mean(self, idk_nll, "forget", "tokens", forget)}
