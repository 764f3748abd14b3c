"""SimNPO: reference-free NPO with a length-normalised NLL (reference section 3.4)."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.config import SimNPOConfig
from hf_unlearn.trainers.graddiff import GradDiffTrainer
from hf_unlearn.trainers.losses import sequence_nll, simnpo_loss
from hf_unlearn.trainers.method_utils import as_local_mean, local_count, logits_of, retain_log


class SimNPOTrainer(GradDiffTrainer):
    """loss = gamma * mean_seq[-(2/beta) logsigmoid(beta (NLL_sum/|y| - delta))] + alpha * L_retain.

    No reference model (unless the retain loss is KL). open-unlearning's yaml defaults: beta 4.5, delta 0,
    gamma 0.125, alpha 1.
    """

    config_class = SimNPOConfig
    _name = "SimNPO"
    _tag_names = UnlearningTrainer._tag_names + ["simnpo"]
    _paper = {
        "title": "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM Unlearning",
        "id": "2410.07163",
        "citation": (
            "@article{fan2024simplicity,\n  title={Simplicity Prevails: Rethinking Negative Preference Optimization "
            "for {LLM} Unlearning},\n  author={Fan, Chongyu and Liu, Jiancheng and Lin, Licong and Jia, Jinghan and "
            "Zhang, Ruiqi and Mei, Song and Liu, Sijia},\n  journal={arXiv preprint arXiv:2410.07163},\n"
            "  year={2024}\n}"
        ),
    }

    def compute_unlearning_loss(self, model, inputs):
        forget = inputs["forget"]
        nll, n_tokens = sequence_nll(logits_of(model, forget), forget["labels"])
        forget_loss = simnpo_loss(nll, n_tokens, self.args.beta, self.args.delta, self.normalizer("forget", "seqs"))
        retain = self.retain_loss(model, inputs["retain"])
        loss = self.args.gamma * forget_loss + self.args.alpha * retain
        return loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "seqs", forget),
            "forget_nll": nll.detach().sum() / local_count(forget, "tokens").clamp_min(1),
            "retain_loss": retain_log(self, retain, inputs["retain"]),
        }
