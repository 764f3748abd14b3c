"""The TOFU metric suite: names, dependencies, what each needs from the model, and the JSON it produces.

Metric names, dependency structure and per-metric JSON layouts follow open-unlearning's TOFU eval logs, so
`TOFU_EVAL.json` / `TOFU_SUMMARY.json` can be diffed against its published eval logs. Each metric states which
(question, answer) sequences it scores and which prompts it generates for; the evaluator takes the union, so every
sequence is scored once however many metrics use it. Metrics that compare with the retain model (forget quality,
privleak, the Reference attack) are computed last, from stored per-item values, so a new retain reference never
needs the model again. The gibberish metric classifies forget_Q_A_ROUGE's stored generations with a separate
classifier (`gibberish.py`), after the evaluated model is freed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_unlearn.evaluation import metrics as M

#: open-unlearning's default top-level metrics, in its evaluation order.
DEFAULT_METRICS = (
    "forget_truth_ratio",
    "forget_quality",
    "forget_Q_A_Prob",
    "forget_Q_A_ROUGE",
    "model_utility",
    "privleak",
    "extraction_strength",
)
#: Available but off by default, as in open-unlearning (GradNorm needs a backward pass per sample; gibberish needs
#: a classifier from the Hub).
EXTRA_METRICS = (
    "exact_memorization",
    "forget_Q_A_gibberish",
    "mia_min_k_plus_plus",
    "mia_min_k",
    "mia_loss",
    "mia_zlib",
    "mia_gradnorm",
    "mia_reference",
)
ALL_METRICS = DEFAULT_METRICS + EXTRA_METRICS
MIA_ATTACKS = ("loss", "zlib", "min_k", "min_k_plus_plus", "gradnorm", "reference")
NO_RETAIN_LOGS = "no retain model logs: pass --retain-logs PATH or --retain-model MODEL"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    #: prob | rouge | truth_ratio | normalised | hmean | mia | es | em | ks | privleak | mia_reference | gibberish
    kind: str
    dataset: str | None = None
    field: str | None = None
    children: tuple[str, ...] = ()
    aggregator: str | None = None
    attack: str | None = None

    @property
    def uses_reference(self) -> bool:
        return self.kind in ("ks", "privleak", "mia_reference")

    @property
    def uses_classifier(self) -> bool:
        """Scored by a separate classifier after the evaluated model is freed, from its stored generations."""
        return self.kind == "gibberish"


def _build_specs() -> dict[str, MetricSpec]:
    specs: dict[str, MetricSpec] = {}

    def add(spec: MetricSpec) -> None:
        specs[spec.name] = spec

    for ds in ("forget", "retain"):
        add(MetricSpec(f"{ds}_Q_A_Prob", "prob", ds, "answer"))
        add(MetricSpec(f"{ds}_Q_A_PARA_Prob", "prob", ds, "paraphrased_answer"))
        add(MetricSpec(f"{ds}_Q_A_PERT_Prob", "prob", ds, "perturbed_answer"))
        add(MetricSpec(f"{ds}_Q_A_ROUGE", "rouge", ds))
    add(
        MetricSpec(
            "forget_truth_ratio",
            "truth_ratio",
            children=("forget_Q_A_PARA_Prob", "forget_Q_A_PERT_Prob"),
            aggregator="closer_to_1_better",
        )
    )
    # the same ratios in the "extent of knowledge" form P_c / (P_c + P_w) (higher = more known), which the
    # robustness scores need; not in 'all' (open-unlearning's TOFU logs have no such entry)
    add(
        MetricSpec(
            "forget_truth_ratio_prob_mean",
            "truth_ratio",
            children=("forget_Q_A_PARA_Prob", "forget_Q_A_PERT_Prob"),
            aggregator="prob_mean",
        )
    )
    add(
        MetricSpec(
            "retain_Truth_Ratio",
            "truth_ratio",
            children=("retain_Q_A_PARA_Prob", "retain_Q_A_PERT_Prob"),
            aggregator="true_better",
        )
    )
    for ds in ("ra", "wf"):
        add(MetricSpec(f"{ds}_Q_A_Prob", "prob", ds, "answer"))
        add(MetricSpec(f"{ds}_Q_A_PERT_Prob", "prob", ds, "perturbed_answer"))
        add(MetricSpec(f"{ds}_Q_A_ROUGE", "rouge", ds))
        pair = (f"{ds}_Q_A_Prob", f"{ds}_Q_A_PERT_Prob")
        add(MetricSpec(f"{ds}_Q_A_Prob_normalised", "normalised", children=pair))
        add(MetricSpec(f"{ds}_Truth_Ratio", "truth_ratio", children=pair, aggregator="true_better"))
    add(
        MetricSpec(
            "model_utility",
            "hmean",
            children=(
                "retain_Q_A_Prob",
                "retain_Q_A_ROUGE",
                "retain_Truth_Ratio",
                "ra_Q_A_Prob_normalised",
                "ra_Q_A_ROUGE",
                "ra_Truth_Ratio",
                "wf_Q_A_Prob_normalised",
                "wf_Q_A_ROUGE",
                "wf_Truth_Ratio",
            ),
        )
    )
    add(MetricSpec("forget_quality", "ks", children=("forget_truth_ratio",)))
    for attack in MIA_ATTACKS[:-1]:
        add(MetricSpec(f"mia_{attack}", "mia", attack=attack))
    add(MetricSpec("mia_reference", "mia_reference", children=("mia_loss",), attack="reference"))
    add(MetricSpec("privleak", "privleak", children=("mia_min_k",)))
    add(MetricSpec("extraction_strength", "es", "forget", "answer"))
    add(MetricSpec("exact_memorization", "em", "forget", "answer"))
    add(MetricSpec("forget_Q_A_gibberish", "gibberish", "forget", children=("forget_Q_A_ROUGE",)))
    return specs


SPECS = _build_specs()


def parse_metrics(text: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """'default', 'all', or names (comma-separated or a list; may include 'default'/'all'), deduplicated."""
    if text is None:
        return DEFAULT_METRICS
    items = text if isinstance(text, (list, tuple)) else [t.strip() for t in str(text).split(",")]
    out: list[str] = []
    for item in items:
        if not item:
            continue
        expanded = {"default": DEFAULT_METRICS, "all": ALL_METRICS}.get(item, (item,))
        for name in expanded:
            if name not in SPECS:
                raise ValueError(f"metrics: unknown metric '{name}'; allowed: default, all, {', '.join(SPECS)}")
            if name not in out:
                out.append(name)
    if not out:
        raise ValueError("metrics: at least one metric is needed")
    return tuple(out)


def closure(top: tuple[str, ...]) -> list[str]:
    """Every metric to compute, children before parents."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for child in SPECS[name].children:
            visit(child)
        order.append(name)

    for name in top:
        visit(name)
    return order


# ---- what the model must produce ----------------------------------------------------------------------------
@dataclass
class Needs:
    """Datasets, scored (dataset, field) pairs (with or without per-token detail), generations, GradNorm."""

    datasets: set[str] = field(default_factory=set)
    score: set[tuple[str, str]] = field(default_factory=set)
    detail: set[tuple[str, str]] = field(default_factory=set)
    generate: set[str] = field(default_factory=set)
    gradnorm: set[str] = field(default_factory=set)
    #: Min-K%++ needs the mean and variance of log p over the vocabulary at every answer position
    moments: bool = False


def needs(names: list[str]) -> Needs:
    out = Needs()
    for name in names:
        spec = SPECS[name]
        if spec.kind == "prob":
            out.score.add((spec.dataset, spec.field))
        elif spec.kind == "rouge":
            out.generate.add(spec.dataset)
        elif spec.kind in ("es", "em"):
            out.detail.add(("forget", "answer"))
        elif spec.kind == "mia":
            for ds in ("forget", "holdout"):
                if spec.attack in ("min_k", "min_k_plus_plus"):
                    out.detail.add((ds, "answer"))
                    out.moments |= spec.attack == "min_k_plus_plus"
                elif spec.attack == "gradnorm":
                    out.gradnorm.add(ds)
                else:
                    out.score.add((ds, "answer"))
    out.score |= out.detail
    out.datasets = {ds for ds, _ in out.score} | out.generate | out.gradnorm
    return out


# ---- assembling results -------------------------------------------------------------------------------------
@dataclass
class ModelOutputs:
    """Everything the model produced, keyed so that metrics can look it up."""

    rows: dict[str, list[dict]]
    absent: dict[str, str]
    scores: dict[tuple[str, str], object]  # (question, answer) -> SequenceScore
    generations: dict[tuple[str, int], dict] = field(default_factory=dict)  # -> {input, ground_truth, generation}
    answer_texts: dict[tuple[str, int], str] = field(default_factory=dict)  # (ds, i) -> answer text for ZLib
    gradnorms: dict[tuple[str, int], float] = field(default_factory=dict)
    es_one_over_n: bool = False


def absent(reason: str) -> dict:
    return {"agg_value": None, "absent_reason": reason}


def _prob(spec: MetricSpec, out: ModelOutputs) -> dict:
    by_index, item_probs = {}, []
    for i, row in enumerate(out.rows[spec.dataset]):
        answers = row[spec.field]
        if isinstance(answers, list):
            scored = [out.scores[(row["question"], a)] for a in answers]
            probs = [s.prob for s in scored]
            by_index[str(i)] = {"prob": probs, "avg_loss": [s.avg_loss for s in scored]}
            item_probs.append(M.mean(probs))
        else:
            s = out.scores[(row["question"], answers)]
            by_index[str(i)] = {"prob": s.prob, "avg_loss": s.avg_loss}
            item_probs.append(s.prob)
    return {"agg_value": M.mean(item_probs), "value_by_index": by_index}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _truth_ratio(spec: MetricSpec, done: dict) -> dict:
    correct, wrong = (done[c]["value_by_index"] for c in spec.children)
    by_index, ratios = {}, []
    for key, item in correct.items():
        r = M.truth_ratio(_as_list(item["avg_loss"]), _as_list(wrong[key]["avg_loss"]), spec.aggregator)
        by_index[key] = {"score": r}
        ratios.append(r)
    return {"agg_value": M.aggregate_truth_ratio(ratios, spec.aggregator), "value_by_index": by_index}


def _normalised(spec: MetricSpec, done: dict) -> dict:
    correct, wrong = (done[c]["value_by_index"] for c in spec.children)
    by_index = {
        key: {"prob": M.normalised_probability(item["prob"], _as_list(wrong[key]["prob"]))}
        for key, item in correct.items()
    }
    return {"agg_value": M.mean([v["prob"] for v in by_index.values()]), "value_by_index": by_index}


def _rouge(spec: MetricSpec, out: ModelOutputs) -> dict:
    by_index = {}
    for i in range(len(out.rows[spec.dataset])):
        gen = out.generations[(spec.dataset, i)]
        by_index[str(i)] = {
            **M.rouge(gen["ground_truth"], gen["generation"]),
            "input": gen["input"],
            "ground_truth": gen["ground_truth"],
            "generation": gen["generation"],
        }
    return {"agg_value": M.mean([v["rougeL_recall"] for v in by_index.values()]), "value_by_index": by_index}


def _hmean(spec: MetricSpec, done: dict) -> dict:
    values = [done[c]["agg_value"] for c in spec.children]
    missing = [c for c, v in zip(spec.children, values, strict=True) if v is None]
    if missing:
        return absent(f"components without a value: {', '.join(missing)}")
    return {"agg_value": M.harmonic_mean(values)}


def _attack_score(attack: str, ds: str, i: int, row: dict, out: ModelOutputs) -> float:
    if attack == "gradnorm":
        return out.gradnorms[(ds, i)]
    s = out.scores[(row["question"], row["answer"])]
    if attack == "loss":
        return s.avg_loss
    if attack == "zlib":
        return M.zlib_score(s.avg_loss, out.answer_texts[(ds, i)])
    if attack == "min_k":
        return M.min_k_score(s.logprobs)
    if attack == "min_k_plus_plus":
        return M.min_k_plus_plus_score(s.zscores)
    raise ValueError(f"unknown attack {attack}")


def mia_result(forget_scores: list[float], holdout_scores: list[float]) -> dict:
    """open-unlearning's MIA layout: per-side mean and per-item scores, AUC as the value."""
    area = M.auc(forget_scores, holdout_scores)
    sides = {}
    for side, scores in (("forget", forget_scores), ("holdout", holdout_scores)):
        sides[side] = {
            "agg_value": M.mean(scores),
            "value_by_index": {str(i): {"score": s} for i, s in enumerate(scores)},
        }
    return {**sides, "auc": area, "agg_value": area}


def _mia(spec: MetricSpec, out: ModelOutputs) -> dict:
    if "holdout" in out.absent:
        return absent(out.absent["holdout"])
    scores = {
        ds: [_attack_score(spec.attack, ds, i, row, out) for i, row in enumerate(out.rows[ds])]
        for ds in ("forget", "holdout")
    }
    return mia_result(scores["forget"], scores["holdout"])


def _memorisation(spec: MetricSpec, out: ModelOutputs) -> dict:
    by_index = {}
    for i, row in enumerate(out.rows["forget"]):
        matches = out.scores[(row["question"], row["answer"])].matches
        if spec.kind == "es":
            value = M.extraction_strength(matches, one_over_n_floor=out.es_one_over_n)
        else:
            value = M.exact_memorization(matches)
        by_index[str(i)] = {"score": value}
    return {"agg_value": M.mean([v["score"] for v in by_index.values()]), "value_by_index": by_index}


def compute_model_metrics(names: list[str], out: ModelOutputs) -> dict:
    """Every metric in `names` that depends on this model alone (children first), as open-unlearning lays it out."""
    done: dict[str, dict] = {}
    for name in names:
        spec = SPECS[name]
        if spec.uses_reference or spec.uses_classifier:
            continue
        gone = [done[c] for c in spec.children if done[c].get("agg_value") is None and "absent_reason" in done[c]]
        if spec.dataset and spec.dataset in out.absent:
            done[name] = absent(out.absent[spec.dataset])
        elif gone and spec.kind != "hmean":
            done[name] = absent(gone[0]["absent_reason"])
        elif spec.kind == "prob":
            done[name] = _prob(spec, out)
        elif spec.kind == "rouge":
            done[name] = _rouge(spec, out)
        elif spec.kind == "truth_ratio":
            done[name] = _truth_ratio(spec, done)
        elif spec.kind == "normalised":
            done[name] = _normalised(spec, done)
        elif spec.kind == "hmean":
            done[name] = _hmean(spec, done)
        elif spec.kind == "mia":
            done[name] = _mia(spec, out)
        elif spec.kind in ("es", "em"):
            done[name] = _memorisation(spec, out)
        else:
            raise ValueError(f"metric {name}: unknown kind {spec.kind}")
    return done


# ---- metrics relative to the retain model -------------------------------------------------------------------
def _scores_of(entry: dict) -> list[float]:
    by_index = entry["value_by_index"]
    return [by_index[k]["score"] for k in sorted(by_index, key=int)]


def _forget_quality(results: dict, reference: dict | None) -> dict:
    own = results.get("forget_truth_ratio", {})
    if own.get("agg_value") is None:
        return absent(own.get("absent_reason", "forget_truth_ratio has no value"))
    if reference is None:
        return absent(NO_RETAIN_LOGS)
    ref = reference.get("forget_truth_ratio")
    if not ref or not ref.get("value_by_index"):
        return absent("the retain model logs have no per-item forget_truth_ratio")
    sample, ref_sample = _scores_of(own), _scores_of(ref)
    if len(sample) != len(ref_sample):
        return absent(
            f"the retain model logs have {len(ref_sample)} forget items, this evaluation {len(sample)}: "
            "evaluate the retain model on the same forget split and limit"
        )
    return M.forget_quality(sample, ref_sample)


def _privleak(results: dict, reference: dict | None) -> dict:
    own = results.get("mia_min_k", {})
    if own.get("agg_value") is None:
        return absent(own.get("absent_reason", "mia_min_k has no value"))
    if reference is None:
        return absent(NO_RETAIN_LOGS)
    ref = (reference.get("mia_min_k") or {}).get("agg_value")
    if ref is None:
        return absent("the retain model logs have no mia_min_k AUC (it was evaluated without a holdout set)")
    return {"agg_value": M.privleak(own["agg_value"], ref)}


def _mia_reference(results: dict, reference: dict | None) -> dict:
    own = results.get("mia_loss", {})
    if own.get("agg_value") is None:
        return absent(own.get("absent_reason", "mia_loss has no value"))
    if reference is None:
        return absent(NO_RETAIN_LOGS)
    ref = reference.get("mia_loss") or {}
    if ref.get("agg_value") is None:
        return absent("the retain model logs have no per-item mia_loss (evaluate it with mia_reference selected)")
    sides = {}
    for side in ("forget", "holdout"):
        mine, theirs = _scores_of(own[side]), _scores_of(ref[side])
        if len(mine) != len(theirs):
            return absent(f"the retain model logs have {len(theirs)} {side} items, this evaluation {len(mine)}")
        sides[side] = [a - b for a, b in zip(mine, theirs, strict=True)]
    return mia_result(sides["forget"], sides["holdout"])


def compute_reference_metrics(names: list[str], results: dict, reference: dict | None) -> dict:
    """Forget quality, privleak and the Reference attack from stored per-item values and the retain model's logs."""
    fns = {"ks": _forget_quality, "privleak": _privleak, "mia_reference": _mia_reference}
    return {name: fns[SPECS[name].kind](results, reference) for name in names if SPECS[name].uses_reference}


def summary(results: dict, top: tuple[str, ...]) -> dict:
    """`TOFU_SUMMARY.json`: the value of each top-level metric (null when absent), keys sorted."""
    return {name: results.get(name, {}).get("agg_value") for name in sorted(top)}
