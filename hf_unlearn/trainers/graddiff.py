"""GradDiff and GradAscent (reference sections 3.1-3.2)."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.config import GradDiffConfig
from hf_unlearn.trainers.losses import kl_ref_to_model, nll_loss
from hf_unlearn.trainers.method_utils import as_local_mean, retain_log


def _logits(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


class GradDiffTrainer(UnlearningTrainer):
    """loss = gamma * (-NLL(forget)) + alpha * L_retain, L_retain = NLL or KL(ref || model) on retain."""

    config_class = GradDiffConfig
    _name = "GradDiff"
    _tag_names = UnlearningTrainer._tag_names + ["graddiff"]
    _paper = {
        "title": "TOFU: A Task of Fictitious Unlearning for LLMs",
        "id": "2401.06121",
        "citation": (
            "@inproceedings{maini2024tofu,\n  title={{TOFU}: A Task of Fictitious Unlearning for {LLM}s},\n"
            "  author={Maini, Pratyush and Feng, Zhili and Schwarzschild, Avi and Lipton, Zachary C. and Kolter, J. Zico},\n"
            "  booktitle={First Conference on Language Modeling},\n  year={2024}\n}"
        ),
    }

    @classmethod
    def requires_reference(cls, args) -> bool:
        return args.retain_loss_type == "KL"

    def forget_nll(self, model, forget: dict):
        return nll_loss(_logits(model, forget), forget["labels"], self.normalizer("forget", "tokens"))

    def retain_loss(self, model, retain: dict):
        logits = _logits(model, retain)
        if self.args.retain_loss_type == "NLL":
            return nll_loss(logits, retain["labels"], self.normalizer("retain", "tokens"))
        ref = self.reference_logits(retain)
        if self.args.loss_normalization == "micro_batch":
            return kl_ref_to_model(logits, ref)
        return kl_ref_to_model(logits, ref, retain["attention_mask"], self.normalizer("retain", "positions"))

    def compute_unlearning_loss(self, model, inputs):
        forget_nll = self.forget_nll(model, inputs["forget"])
        retain = self.retain_loss(model, inputs["retain"])
        loss = -self.args.gamma * forget_nll + self.args.alpha * retain
        return loss, {
            "forget_nll": as_local_mean(self, forget_nll, "forget", "tokens", inputs["forget"]),
            "retain_loss": retain_log(self, retain, inputs["retain"]),
        }


class GradAscentTrainer(GradDiffTrainer):
    """loss = -NLL(forget); the retain half of the batch is not used."""

    _name = "GradAscent"
    _tag_names = UnlearningTrainer._tag_names + ["gradascent"]

    @classmethod
    def requires_reference(cls, args) -> bool:
        return False

    def compute_unlearning_loss(self, model, inputs):
        forget_nll = self.forget_nll(model, inputs["forget"])
        return -forget_nll, {"forget_nll": as_local_mean(self, forget_nll, "forget", "tokens", inputs["forget"])}
