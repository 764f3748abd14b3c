"""NPO: negative preference optimisation on the forget set (reference section 3.3)."""

from __future__ import annotations

from hf_unlearn.trainers.base import UnlearningTrainer
from hf_unlearn.trainers.config import NPOConfig
from hf_unlearn.trainers.graddiff import GradDiffTrainer
from hf_unlearn.trainers.losses import npo_loss, sequence_nll
from hf_unlearn.trainers.method_utils import as_local_mean, local_count, logits_of, retain_log


class NPOTrainer(GradDiffTrainer):
    """loss = gamma * mean_seq[-(2/beta) logsigmoid(-beta (log pi_theta(y|x) - log pi_ref(y|x)))] + alpha * L_retain.

    Log-probs are summed over each forget answer's tokens; the mean over sequences is taken over the whole effective
    batch. The reference's forget log-probs never change, so `precompute_ref_log_probs` can replace the live
    reference (not with a KL retain loss, which needs the reference's distributions on retain batches).
    """

    config_class = NPOConfig
    _name = "NPO"
    _tag_names = UnlearningTrainer._tag_names + ["npo"]
    _paper = {
        "title": "Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning",
        "id": "2404.05868",
        "citation": (
            "@inproceedings{zhang2024negative,\n  title={Negative Preference Optimization: From Catastrophic Collapse "
            "to Effective Unlearning},\n  author={Zhang, Ruiqi and Lin, Licong and Bai, Yu and Mei, Song},\n"
            "  booktitle={First Conference on Language Modeling},\n  year={2024}\n}"
        ),
    }

    @classmethod
    def requires_reference(cls, args) -> bool:
        return True

    @classmethod
    def reference_sequence_paths(cls, args) -> tuple[str, ...]:
        return () if args.retain_loss_type == "KL" else ("forget",)

    def compute_unlearning_loss(self, model, inputs):
        forget = inputs["forget"]
        nll, _ = sequence_nll(logits_of(model, forget), forget["labels"])
        log_ratio = -nll - self.reference_sequence_logps("forget", forget)
        forget_loss = npo_loss(log_ratio, self.args.beta, self.normalizer("forget", "seqs"))
        retain = self.retain_loss(model, inputs["retain"])
        loss = self.args.gamma * forget_loss + self.args.alpha * retain
        return loss, {
            "forget_loss": as_local_mean(self, forget_loss, "forget", "seqs", forget),
            "forget_nll": nll.detach().sum() / local_count(forget, "tokens").clamp_min(1),
            "log_ratio": log_ratio.detach().mean(),
            "retain_loss": retain_log(self, retain, inputs["retain"]),
        }
