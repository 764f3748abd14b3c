"""What each MUSE metric needs from the model, and how its MUSE_EVAL.json entry is assembled from the model's outputs.

Eval sets are named by role: `verbmem` (verbmem/forget), `forget_qa` / `retain_qa` and their `_icl` examples
(knowmem), `privleak_forget` / `privleak_holdout` (privleak). Metrics relative to the retain model (privleak,
mia_reference) come last, from stored per-item values, with TOFU's definitions; without a retain reference they
are absent with the reason, never computed against an assumed AUC of 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_unlearn.evaluation import metrics as M
from hf_unlearn.evaluation.muse.metrics import rouge_result, scores_result
from hf_unlearn.evaluation.suite import compute_reference_metrics, mia_result

#: role -> (Hub config, split)
SETS = {
    "verbmem": ("verbmem", "forget"),
    "forget_qa": ("knowmem", "forget_qa"),
    "retain_qa": ("knowmem", "retain_qa"),
    "forget_qa_icl": ("knowmem", "forget_qa_icl"),
    "retain_qa_icl": ("knowmem", "retain_qa_icl"),
    "privleak_forget": ("privleak", "forget"),
    "privleak_holdout": ("privleak", "holdout"),
}
#: in-context example sets: never cut by `limit`
ICL_SETS = ("forget_qa_icl", "retain_qa_icl")
MIA_SETS = ("privleak_forget", "privleak_holdout")
KNOWMEM = {"forget_knowmem_ROUGE": "forget_qa", "retain_knowmem_ROUGE": "retain_qa"}
REFERENCE_METRICS = ("privleak", "mia_reference")


@dataclass
class Needs:
    """The model passes a set of metrics needs."""

    generate: set[str] = field(default_factory=set)  # verbmem, forget_qa, retain_qa
    score: set[str] = field(default_factory=set)  # verbmem, privleak_forget, privleak_holdout
    moments: bool = False  # Min-K%++ z-scores
    gradnorm: bool = False
    classifier: bool = False

    @property
    def datasets(self) -> set[str]:
        out = self.generate | self.score
        out |= {f"{s}_icl" for s in self.generate if s.endswith("_qa")}
        return out | (set(MIA_SETS) if self.gradnorm else set())


def needs(names: list[str]) -> Needs:
    out = Needs()
    for name in names:
        if name in KNOWMEM:
            out.generate.add(KNOWMEM[name])
        elif name == "forget_verbmem_ROUGE":
            out.generate.add("verbmem")
        elif name in ("extraction_strength", "exact_memorization"):
            out.score.add("verbmem")
        elif name.startswith("mia_") and name != "mia_reference":
            out.score |= set(MIA_SETS)
            out.moments |= name == "mia_min_k_plus_plus"
            out.gradnorm |= name == "mia_gradnorm"
        elif name == "forget_gibberish":
            out.classifier = True
    return out


@dataclass
class MuseOutputs:
    """What the model produced, per eval set, in row order."""

    generations: dict[str, list[dict]] = field(default_factory=dict)  # set -> ROUGE items (scores and texts)
    scores: dict[str, list] = field(default_factory=dict)  # set -> SequenceScore per row
    texts: dict[str, list[str]] = field(default_factory=dict)  # set -> scored text per row (ZLib)
    gradnorms: dict[str, list[float]] = field(default_factory=dict)


def _attack_scores(attack: str, ds: str, out: MuseOutputs, min_k_ratio: float) -> list[float]:
    if attack == "gradnorm":
        return out.gradnorms[ds]
    scored = out.scores[ds]
    if attack == "loss":
        return [s.avg_loss for s in scored]
    if attack == "zlib":
        return [M.zlib_score(s.avg_loss, text) for s, text in zip(scored, out.texts[ds], strict=True)]
    if attack == "min_k":
        return [M.min_k_score(s.logprobs, min_k_ratio) for s in scored]
    if attack == "min_k_plus_plus":
        return [M.min_k_plus_plus_score(s.zscores, min_k_ratio) for s in scored]
    raise ValueError(f"unknown attack {attack}")


def compute_model_metrics(names: list[str], out: MuseOutputs, min_k_ratio: float, es_one_over_n: bool) -> dict:
    """Every metric in `names` that depends on this model alone, laid out as open-unlearning's MUSE_EVAL.json."""
    done: dict[str, dict] = {}
    for name in names:
        if name in KNOWMEM:
            done[name] = rouge_result(out.generations[KNOWMEM[name]])
        elif name == "forget_verbmem_ROUGE":
            done[name] = rouge_result(out.generations["verbmem"])
        elif name in ("extraction_strength", "exact_memorization"):
            matches = [s.matches for s in out.scores["verbmem"]]
            if name == "extraction_strength":
                done[name] = scores_result([M.extraction_strength(m, es_one_over_n) for m in matches])
            else:
                done[name] = scores_result([M.exact_memorization(m) for m in matches])
        elif name.startswith("mia_") and name != "mia_reference":
            attack = name[len("mia_") :]
            forget, holdout = (_attack_scores(attack, ds, out, min_k_ratio) for ds in MIA_SETS)
            done[name] = mia_result(forget, holdout)
    return done


def reference_metrics(names: list[str], results: dict, reference: dict | None) -> dict:
    """privleak and mia_reference against the retain model's MUSE_EVAL.json (TOFU's definitions and absences)."""
    return compute_reference_metrics([n for n in names if n in REFERENCE_METRICS], results, reference)
