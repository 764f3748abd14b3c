"""Method registry: name -> trainer class, hyper-parameters with defaults, run-name pattern.

Kept free of torch/transformers imports so recipes validate (and run names print) without loading anything heavy;
trainer classes are imported lazily by dotted path. New methods plug in with `register_method`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

#: Run-name patterns of open-unlearning's published checkpoints (DESIGN.md, reference section 6.2).
PATTERN_ALPHA = "{forget}_{method}_lr{lr}_alpha{alpha}_epoch{epochs}"
PATTERN_PLAIN = "{forget}_{method}_lr{lr}_epoch{epochs}"
PATTERN_BETA = "{forget}_{method}_lr{lr}_beta{beta}_alpha{alpha}_epoch{epochs}"
PATTERN_SIMNPO = "{forget}_{method}_lr{lr}_b{beta}_a{alpha}_d{delta}_g{gamma}_ep{epochs}"
#: Patterns for methods without published checkpoints: every hyper-parameter their grids vary, same style.
PATTERN_RMU = "{forget}_{method}_lr{lr}_s{steering_coeff}_alpha{alpha}_epoch{epochs}"
PATTERN_SATIMP = "{forget}_{method}_lr{lr}_beta1{beta1}_beta2{beta2}_alpha{alpha}_epoch{epochs}"
PATTERN_PDU = "{forget}_{method}_lr{lr}_eps{retain_loss_eps}_step{dual_step_size}_alpha{alpha}_epoch{epochs}"

RETAIN_LOSS_TYPES = ("NLL", "KL")


@dataclass(frozen=True)
class Param:
    """One method hyper-parameter: its type, default and the allowed values or lower bound."""

    default: object
    kind: type = float
    choices: tuple | None = None
    minimum: float | None = None
    exclusive_minimum: bool = False
    help: str = ""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    trainer: str  # "module:Class"
    params: dict[str, Param] = field(default_factory=dict)
    pattern: str = PATTERN_ALPHA
    summary: str = ""
    formula: str = ""
    #: "module:function" building the train dataset, for methods that need more than forget/retain pairs
    #: (e.g. refusal answers). Called as f(recipe, formatter, rows: {"forget", "retain"}) -> torch Dataset.
    dataset_builder: str | None = None
    #: The method needs only the reference's summed forget log-probs (unless its retain loss is KL), so
    #: `precompute_ref_log_probs` can replace the live reference model.
    precomputable_reference: bool = False

    def build_dataset(self, recipe, formatter, rows: dict):
        module, fn = self.dataset_builder.split(":")
        return getattr(importlib.import_module(module), fn)(recipe, formatter, rows)

    def trainer_class(self):
        module, cls = self.trainer.split(":")
        return getattr(importlib.import_module(module), cls)


METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    if name not in METHODS:
        raise KeyError(f"method: unknown method '{name}'; allowed: {', '.join(sorted(METHODS))}")
    return METHODS[name]


_ALPHA = Param(1.0, minimum=0.0, help="weight of the retain loss")
_GAMMA = Param(1.0, minimum=0.0, help="weight of the forget loss")
_RETAIN = Param("NLL", kind=str, choices=RETAIN_LOSS_TYPES, help="retain loss: NLL, or KL(ref || model)")

register_method(
    MethodSpec(
        name="GradAscent",
        trainer="hf_unlearn.trainers.graddiff:GradAscentTrainer",
        params={},
        pattern=PATTERN_PLAIN,
        summary="gradient ascent on the forget set",
        formula="L = -NLL(forget)",
    )
)
register_method(
    MethodSpec(
        name="GradDiff",
        trainer="hf_unlearn.trainers.graddiff:GradDiffTrainer",
        params={"alpha": _ALPHA, "gamma": _GAMMA, "retain_loss_type": _RETAIN},
        pattern=PATTERN_ALPHA,
        summary="gradient ascent on the forget set, gradient descent on the retain set",
        formula="L = -gamma * NLL(forget) + alpha * L_retain(retain)",
    )
)

# ---- the method zoo (reference section 3; defaults are open-unlearning's TOFU yaml values) -------------------------


def _beta(default: float, help: str = "inverse temperature") -> Param:
    return Param(default, minimum=0.0, exclusive_minimum=True, help=help)


register_method(
    MethodSpec(
        name="NPO",
        trainer="hf_unlearn.trainers.npo:NPOTrainer",
        params={"beta": _beta(0.1), "alpha": _ALPHA, "gamma": _GAMMA, "retain_loss_type": _RETAIN},
        pattern=PATTERN_BETA,
        summary="negative preference optimisation: push the forget answers' likelihood below the reference's",
        formula="L = gamma * mean_seq[-(2/beta) logsigmoid(-beta (log p(y|x) - log p_ref(y|x)))] + alpha * L_retain",
        precomputable_reference=True,
    )
)
register_method(
    MethodSpec(
        name="SimNPO",
        trainer="hf_unlearn.trainers.simnpo:SimNPOTrainer",
        params={
            "beta": _beta(4.5),
            "alpha": _ALPHA,
            "gamma": Param(0.125, minimum=0.0, help="weight of the forget loss"),
            "delta": Param(0.0, help="margin subtracted from the length-normalised forget NLL"),
            "retain_loss_type": _RETAIN,
        },
        pattern=PATTERN_SIMNPO,
        summary="reference-free NPO on the length-normalised forget NLL",
        formula="L = gamma * mean_seq[-(2/beta) logsigmoid(beta (NLL_sum/|y| - delta))] + alpha * L_retain",
    )
)
register_method(
    MethodSpec(
        name="IdkDPO",
        trainer="hf_unlearn.trainers.dpo:IdkDPOTrainer",
        params={"beta": _beta(0.1), "alpha": _ALPHA, "gamma": _GAMMA, "retain_loss_type": _RETAIN},
        pattern=PATTERN_BETA,
        summary="DPO preferring a refusal ('I don't know') over the original forget answer",
        formula=(
            "L = gamma * mean_pairs[-(2/beta) logsigmoid(beta ((log p(y_idk|x) - log p_ref(y_idk|x)) "
            "- (log p(y|x) - log p_ref(y|x))))] + alpha * L_retain"
        ),
        dataset_builder="hf_unlearn.data.idk:build_idk_dpo_dataset",
        precomputable_reference=True,
    )
)
register_method(
    MethodSpec(
        name="IdkNLL",
        trainer="hf_unlearn.trainers.idknll:IdkNLLTrainer",
        params={"alpha": _ALPHA, "gamma": _GAMMA, "retain_loss_type": _RETAIN},
        pattern=PATTERN_ALPHA,
        summary="finetune the forget questions towards refusals, keep the retain set",
        formula="L = gamma * NLL(refusal answers to forget questions) + alpha * L_retain",
        dataset_builder="hf_unlearn.data.idk:build_idk_nll_dataset",
    )
)
register_method(
    MethodSpec(
        name="RMU",
        trainer="hf_unlearn.trainers.rmu:RMUTrainer",
        params={
            "steering_coeff": Param(2.0, minimum=0.0, exclusive_minimum=True, help="norm of the control vector"),
            "alpha": _ALPHA,
            "gamma": _GAMMA,
            "module_regex": Param(r"model\.layers\.7", kind=str, help="full name of the steered module"),
            "trainable_params_regex": Param(".*", kind=str, help="parameters to train (full-name fullmatch)"),
            "retain_loss_type": Param(
                "EMBED_DIFF",
                kind=str,
                choices=("EMBED_DIFF", "NLL", "KL"),
                help="EMBED_DIFF (activations vs the reference's), NLL, or KL(ref || model)",
            ),
        },
        pattern=PATTERN_RMU,
        summary="representation misdirection: forget activations to a random direction, retain activations kept",
        formula="L = gamma * A(h(forget), c) + alpha * A(h(retain), h_ref(retain)), A = masked mean squared error",
    )
)
register_method(
    MethodSpec(
        name="UNDIAL",
        trainer="hf_unlearn.trainers.undial:UNDIALTrainer",
        params={
            "beta": _beta(10.0, "how far the teacher's logit of the true token is lowered"),
            "alpha": Param(0.0, minimum=0.0, help="weight of the retain loss (the paper uses none)"),
            "gamma": _GAMMA,
            "retain_loss_type": _RETAIN,
        },
        pattern=PATTERN_BETA,
        summary="self-distillation towards the reference with the true token's logit lowered",
        formula="L = gamma * CE(p, softmax(z_ref - beta * onehot(y))) + alpha * L_retain",
    )
)
register_method(
    MethodSpec(
        name="WGA",
        trainer="hf_unlearn.trainers.wga:WGATrainer",
        params={
            "beta": Param(1.0, minimum=0.0, help="exponent of p in the token weight"),
            "alpha": _ALPHA,
            "gamma": _GAMMA,
            "retain_loss_type": _RETAIN,
        },
        pattern=PATTERN_BETA,
        summary="weighted gradient ascent: each forget token's NLL weighted by its (detached) probability^beta",
        formula="L = -gamma * sum_t p_t^beta * NLL_t / N_tokens + alpha * L_retain",
    )
)
register_method(
    MethodSpec(
        name="SatImp",
        trainer="hf_unlearn.trainers.wga:SatImpTrainer",
        params={
            "beta1": Param(5.0, minimum=0.0, help="exponent of p in the token weight"),
            "beta2": Param(1.0, minimum=0.0, help="exponent of (1 - p) in the token weight"),
            "alpha": Param(0.1, minimum=0.0, help="weight of the retain loss"),
            "gamma": _GAMMA,
            "retain_loss_type": _RETAIN,
        },
        pattern=PATTERN_SATIMP,
        summary="gradient ascent with saturation-importance token weights p^beta1 (1-p)^beta2 (detached)",
        formula="L = -gamma * sum_t p_t^beta1 (1 - p_t)^beta2 * NLL_t / N_tokens + alpha * L_retain",
    )
)
register_method(
    MethodSpec(
        name="CEU",
        trainer="hf_unlearn.trainers.ceu:CEUTrainer",
        params={
            "ignore_first_n_answer_tokens": Param(1, kind=int, minimum=0, help="answer tokens left out of the loss"),
        },
        pattern=PATTERN_PLAIN,
        summary="cross-entropy unlearning: match the model's own distribution with the true token removed",
        formula="L = mean_t CE(p_t, softmax(stopgrad(z_t) with z_t[y_t] = -inf)), forget data only",
    )
)
register_method(
    MethodSpec(
        name="PDU",
        trainer="hf_unlearn.trainers.pdu:PDUTrainer",
        params={
            "retain_loss_eps": Param(None, minimum=0.0, help="bound on the retain loss (required)"),
            "dual_step_size": Param(1.0, minimum=0.0, help="dual ascent step size"),
            "alpha": Param(1.0, minimum=0.0, help="initial retain preference lambda_r"),
            "gamma": _GAMMA,
            "primal_dual": Param(True, kind=bool, help="update lambda_r by dual ascent"),
            "dual_update_upon": Param("step", kind=str, choices=("step", "epoch"), help="when lambda_r moves"),
            "dual_warmup_epochs": Param(5.0, minimum=0.0, help="epochs before lambda_r moves"),
            "retain_loss_type": _RETAIN,
        },
        pattern=PATTERN_PDU,
        summary="primal-dual unlearning: flatten forget logit margins subject to retain loss <= eps",
        formula=(
            "L = gamma * mean_t (max_v z_t - mean_v z_t)^2 + lambda_r * (L_retain - eps), "
            "lambda_r <- max(0, lambda_r + step * (L_retain - eps))"
        ),
    )
)
