"""Method registry: one `MethodSpec` per method, the single declaration of everything about it but its loss.

A spec names the trainer class (which implements the loss) and declares the hyper-parameters (default, bounds or
choices, help), the run-name pattern, what the method needs from a reference model, its paper (title, arXiv id,
BibTeX), tags, and the summary and formula the model card prints. Everything else derives from it: recipe
validation (`hf_unlearn.recipe`), the trainer's config dataclass (`hf_unlearn.trainers.config.method_config`), run
names and their parsing (`hf_unlearn.naming`), the card's method text and citations (`hf_unlearn.publish`).

Kept free of torch/transformers imports so recipes validate (and run names print) without loading anything heavy;
trainer classes are imported lazily by dotted path. New methods plug in with `register_method`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

#: Run-name patterns of open-unlearning's published checkpoints.
PATTERN_ALPHA = "{forget}_{method}_lr{lr}_alpha{alpha}_epoch{epochs}"
PATTERN_PLAIN = "{forget}_{method}_lr{lr}_epoch{epochs}"
PATTERN_BETA = "{forget}_{method}_lr{lr}_beta{beta}_alpha{alpha}_epoch{epochs}"
PATTERN_SIMNPO = "{forget}_{method}_lr{lr}_b{beta}_a{alpha}_d{delta}_g{gamma}_ep{epochs}"
#: Patterns for methods without published checkpoints: every hyper-parameter their grids vary, same style.
PATTERN_RMU = "{forget}_{method}_lr{lr}_s{steering_coeff}_alpha{alpha}_epoch{epochs}"
PATTERN_SATIMP = "{forget}_{method}_lr{lr}_beta1{beta1}_beta2{beta2}_alpha{alpha}_epoch{epochs}"
PATTERN_PDU = "{forget}_{method}_lr{lr}_eps{retain_loss_eps}_step{dual_step_size}_alpha{alpha}_epoch{epochs}"

RETAIN_LOSS_TYPES = ("NLL", "KL")
#: Retain losses computed against the reference model (its distributions or activations on every retain batch).
REFERENCE_RETAIN_LOSSES = ("KL", "EMBED_DIFF")


def check_value(
    key: str, value, choices: tuple | None = None, minimum=None, exclusive_minimum: bool = False, maximum=None
) -> None:
    """The one bound/choice check of recipe keys, method hyper-parameters and config fields (one error text)."""
    if value is None:
        return
    if choices is not None and value not in choices:
        raise ValueError(f"{key}: '{value}' is not allowed; allowed: {', '.join(map(str, choices))}")
    if minimum is not None:
        bad = value <= minimum if exclusive_minimum else value < minimum
        if bad:
            op = ">" if exclusive_minimum else ">="
            raise ValueError(f"{key}: must be {op} {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{key}: must be <= {maximum:g}, got {value:g}")


@dataclass(frozen=True)
class Param:
    """One method hyper-parameter: its type, default and the allowed values or lower bound.

    A default of None makes the parameter required (the recipe, or the config, must set it).
    """

    default: object
    kind: type = float
    choices: tuple | None = None
    minimum: float | None = None
    exclusive_minimum: bool = False
    help: str = ""
    maximum: float | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    def check(self, key: str, value) -> None:
        """Raise ValueError (naming `key`) unless `value` is allowed."""
        if value is None:
            raise ValueError(f"{key}: a value is required (got null)")
        check_value(key, value, self.choices, self.minimum, self.exclusive_minimum, self.maximum)


@dataclass(frozen=True)
class Paper:
    """The paper a method comes from, as the model card cites it."""

    title: str
    arxiv: str
    bibtex: str

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}"


@dataclass(frozen=True)
class MethodSpec:
    name: str
    trainer: str  # "module:Class"
    paper: Paper
    params: dict[str, Param] = field(default_factory=dict)
    pattern: str = PATTERN_ALPHA
    #: Run-name parts printed after `pattern` only when their parameter is not at its default, so the default runs
    #: keep their published names: {param: "_prefix{param}"}. A string value prints with "+" as "-" (Hub-safe).
    name_options: dict[str, str] = field(default_factory=dict)
    #: Checks across parameters (one parameter's meaning depending on another's): f(values) raises ValueError.
    check_params: Callable[[dict], None] | None = None
    summary: str = ""
    formula: str = ""
    #: Hub/model tags besides the method's name.
    tags: tuple[str, ...] = ()
    #: "module:function" building the train dataset, for methods that need more than forget/retain pairs
    #: (e.g. refusal answers). Called as f(recipe, formatter, rows: {"forget", "retain"}) -> torch Dataset.
    dataset_builder: str | None = None
    #: The forget loss uses a reference model whatever the retain loss is.
    forget_reference: bool = False
    #: Sub-batches whose reference *summed log-probs* are all the forget loss needs from the reference: then
    #: `precompute_ref_log_probs` can replace the live reference (unless the retain loss needs it too).
    reference_sequence_paths: tuple[str, ...] = ()
    #: `sam_rho` (sharpness-aware unlearning) applies; False where the method's own update rule replaces the step.
    sam: bool = True
    #: `TrainingArguments` defaults the method's config changes.
    training_defaults: dict = field(default_factory=dict)

    @property
    def citation(self) -> str:
        return self.paper.bibtex

    def requires_reference(self, retain_loss_type: str | None) -> bool:
        """Whether a run with this retain loss needs a frozen reference model."""
        return self.forget_reference or retain_loss_type in REFERENCE_RETAIN_LOSSES

    def precompute_error(self, retain_loss_type: str | None) -> str | None:
        """Why `precompute_ref_log_probs` cannot replace the reference for this run, or None if it can."""
        if not self.reference_sequence_paths:
            works = ", ".join(name for name, spec in METHODS.items() if spec.reference_sequence_paths)
            return (
                f"precompute_ref_log_probs: {self.name} needs the reference model's full token distributions during "
                f"training, or uses no reference; it works with {works} (set it to false)"
            )
        if retain_loss_type in REFERENCE_RETAIN_LOSSES:
            return (
                f"precompute_ref_log_probs: retain_loss_type {retain_loss_type} needs the live reference on every "
                "retain batch (its full token distributions); use retain_loss_type NLL, or set "
                "precompute_ref_log_probs to false"
            )
        return None

    def check(self, values: dict) -> None:
        """Every parameter's own check, then the cross-parameter one; ValueError names the key."""
        for key, param in self.params.items():
            param.check(key, values.get(key))
        if self.check_params is not None:
            self.check_params(values)

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


# ---- papers ---------------------------------------------------------------------------------------------------------

TOFU_PAPER = Paper(
    "TOFU: A Task of Fictitious Unlearning for LLMs",
    "2401.06121",
    """@inproceedings{maini2024tofu,
  title     = {{TOFU}: A Task of Fictitious Unlearning for {LLMs}},
  author    = {Maini, Pratyush and Feng, Zhili and Schwarzschild, Avi and Lipton, Zachary C. and Kolter, J. Zico},
  booktitle = {First Conference on Language Modeling},
  year      = {2024},
  url       = {https://arxiv.org/abs/2401.06121}
}""",
)
_GA_PAPER = Paper(
    "Knowledge Unlearning for Mitigating Privacy Risks in Language Models",
    "2210.01504",
    """@inproceedings{jang2023knowledge,
  title     = {Knowledge Unlearning for Mitigating Privacy Risks in Language Models},
  author    = {Jang, Joel and Yoon, Dongkeun and Yang, Sohee and Cha, Sungmin and Lee, Moontae and Logeswaran,
               Lajanugen and Seo, Minjoon},
  booktitle = {Proceedings of the 61st Annual Meeting of the Association for Computational Linguistics},
  year      = {2023},
  url       = {https://arxiv.org/abs/2210.01504}
}""",
)
_GRADDIFF_PAPER = Paper(
    "Continual Learning and Private Unlearning",
    "2203.12817",
    """@inproceedings{liu2022continual,
  title     = {Continual Learning and Private Unlearning},
  author    = {Liu, Bo and Liu, Qiang and Stone, Peter},
  booktitle = {Conference on Lifelong Learning Agents},
  year      = {2022},
  url       = {https://arxiv.org/abs/2203.12817}
}""",
)
_NPO_PAPER = Paper(
    "Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning",
    "2404.05868",
    """@inproceedings{zhang2024negative,
  title     = {Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning},
  author    = {Zhang, Ruiqi and Lin, Licong and Bai, Yu and Mei, Song},
  booktitle = {First Conference on Language Modeling},
  year      = {2024},
  url       = {https://arxiv.org/abs/2404.05868}
}""",
)
_SIMNPO_PAPER = Paper(
    "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM Unlearning",
    "2410.07163",
    """@article{fan2024simplicity,
  title   = {Simplicity Prevails: Rethinking Negative Preference Optimization for {LLM} Unlearning},
  author  = {Fan, Chongyu and Liu, Jiancheng and Lin, Licong and Jia, Jinghan and Zhang, Ruiqi and Mei, Song and
             Liu, Sijia},
  journal = {arXiv preprint arXiv:2410.07163},
  year    = {2024}
}""",
)
_DPO_PAPER = Paper(
    "Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
    "2305.18290",
    """@inproceedings{rafailov2023direct,
  title     = {Direct Preference Optimization: Your Language Model is Secretly a Reward Model},
  author    = {Rafailov, Rafael and Sharma, Archit and Mitchell, Eric and Ermon, Stefano and Manning, Christopher D.
               and Finn, Chelsea},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2023},
  url       = {https://arxiv.org/abs/2305.18290}
}""",
)
WMDP_PAPER = Paper(
    "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning",
    "2403.03218",
    """@inproceedings{li2024wmdp,
  title     = {The {WMDP} Benchmark: Measuring and Reducing Malicious Use with Unlearning},
  author    = {Li, Nathaniel and Pan, Alexander and Gopal, Anjali and Yue, Summer and Berrios, Daniel and Gatti,
               Alice and others},
  booktitle = {International Conference on Machine Learning},
  year      = {2024},
  url       = {https://arxiv.org/abs/2403.03218}
}""",
)
_UNDIAL_PAPER = Paper(
    "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning in Large Language Models",
    "2402.10052",
    """@article{dong2024undial,
  title   = {{UNDIAL}: Self-Distillation with Adjusted Logits for Robust Unlearning in Large Language Models},
  author  = {Dong, Yijiang River and Lin, Hongzhou and Belkin, Mikhail and Huerta, Ramon and Vuli{\'c}, Ivan},
  journal = {arXiv preprint arXiv:2402.10052},
  year    = {2024}
}""",
)
_WGA_PAPER = Paper(
    "Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go Beyond",
    "2502.19301",
    """@inproceedings{wang2025rethinking,
  title     = {Rethinking {LLM} Unlearning Objectives: A Gradient Perspective and Go Beyond},
  author    = {Wang, Qizhou and Zhou, Jin Peng and Zhou, Zhanke and Shin, Saebyeol and Han, Bo and
               Weinberger, Kilian Q.},
  booktitle = {International Conference on Learning Representations},
  year      = {2025},
  url       = {https://arxiv.org/abs/2502.19301}
}""",
)
_SATIMP_PAPER = Paper(
    "Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning",
    "2505.11953",
    """@inproceedings{yang2025exploring,
  title     = {Exploring Criteria of Loss Reweighting to Enhance {LLM} Unlearning},
  author    = {Yang, Puning and Wang, Qizhou and Huang, Zhuo and Liu, Tongliang and Zhang, Chengqi and Han, Bo},
  booktitle = {International Conference on Machine Learning},
  year      = {2025},
  url       = {https://arxiv.org/abs/2505.11953}
}""",
)
_CEU_PAPER = Paper(
    "CE-U: Cross Entropy Unlearning",
    "2503.01224",
    """@article{yang2025ceu,
  title   = {{CE-U}: Cross Entropy Unlearning},
  author  = {Yang, Bo},
  journal = {arXiv preprint arXiv:2503.01224},
  year    = {2025}
}""",
)
_PDU_PAPER = Paper(
    "Constrained Entropic Unlearning: A Primal-Dual Framework for Large Language Models",
    "2506.05314",
    """@article{entesari2025constrained,
  title   = {Constrained Entropic Unlearning: A Primal-Dual Framework for Large Language Models},
  author  = {Entesari, Taha and Hatami, Arman and Khaziev, Rinat and Ramakrishna, Anil and Fazlyab, Mahyar},
  journal = {arXiv preprint arXiv:2506.05314},
  year    = {2025}
}""",
)
#: Sharpness-aware unlearning, the `sam_rho` option of any method (cited by the card when a run sets it).
SAM_PAPER = Paper(
    "Towards LLM Unlearning Resilient to Relearning Attacks: A Sharpness-Aware Minimization Perspective and Beyond",
    "2502.05374",
    """@inproceedings{fan2025towards,
  title     = {Towards {LLM} Unlearning Resilient to Relearning Attacks: A Sharpness-Aware Minimization Perspective and
               Beyond},
  author    = {Fan, Chongyu and Jia, Jinghan and Zhang, Yihua and Ramakrishna, Anil and Hong, Mingyi and Liu, Sijia},
  booktitle = {International Conference on Machine Learning},
  year      = {2025},
  url       = {https://arxiv.org/abs/2502.05374}
}""",
)
_ALTPO_PAPER = Paper(
    "Alternate Preference Optimization for Unlearning Factual Knowledge in Large Language Models",
    "2409.13474",
    """@inproceedings{mekala2025alternate,
  title     = {Alternate Preference Optimization for Unlearning Factual Knowledge in Large Language Models},
  author    = {Mekala, Anmol and Dorna, Vineeth and Dubey, Shreya and Lalwani, Abhishek and Koleczek, David and
               Rungta, Mukund and Hasan, Sadid and Lobo, Elita},
  booktitle = {Proceedings of the 31st International Conference on Computational Linguistics},
  year      = {2025},
  url       = {https://arxiv.org/abs/2409.13474}
}""",
)
_GRU_PAPER = Paper(
    "GRU: Mitigating the Trade-off between Unlearning and Retention for LLMs",
    "2503.09117",
    """@inproceedings{wang2025gru,
  title     = {{GRU}: Mitigating the Trade-off between Unlearning and Retention for {LLMs}},
  author    = {Wang, Yue and Wang, Qizhou and Liu, Feng and Huang, Wei and Du, Yali and Du, Xiaojiang and Han, Bo},
  booktitle = {International Conference on Machine Learning},
  year      = {2025},
  url       = {https://arxiv.org/abs/2503.09117}
}""",
)

# ---- methods ----------------------------------------------------------------------------------------------------------

_ALPHA = Param(1.0, minimum=0.0, help="weight of the retain loss")
_GAMMA = Param(1.0, minimum=0.0, help="weight of the forget loss")
_RETAIN = Param("NLL", kind=str, choices=RETAIN_LOSS_TYPES, help="retain loss: NLL, or KL(ref || model)")

register_method(
    MethodSpec(
        name="GradAscent",
        trainer="hf_unlearn.trainers.graddiff:GradAscentTrainer",
        paper=_GA_PAPER,
        tags=("gradascent",),
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
        paper=_GRADDIFF_PAPER,
        tags=("graddiff",),
        params={"alpha": _ALPHA, "gamma": _GAMMA, "retain_loss_type": _RETAIN},
        pattern=PATTERN_ALPHA,
        summary="gradient ascent on the forget set, gradient descent on the retain set",
        formula="L = -gamma * NLL(forget) + alpha * L_retain(retain)",
    )
)

# ---- the method zoo --------------------------------------------------------------------------------------------------
# Defaults are open-unlearning's TOFU yaml values, except SatImp: that yaml swaps alpha and gamma (gamma 0.1,
# alpha 1); ours follow its trainer class defaults and README (gamma 1, alpha 0.1).


def _beta(default: float, help: str = "inverse temperature") -> Param:
    return Param(default, minimum=0.0, exclusive_minimum=True, help=help)


register_method(
    MethodSpec(
        name="NPO",
        trainer="hf_unlearn.trainers.npo:NPOTrainer",
        paper=_NPO_PAPER,
        tags=("npo",),
        forget_reference=True,
        reference_sequence_paths=("forget",),
        params={"beta": _beta(0.1), "alpha": _ALPHA, "gamma": _GAMMA, "retain_loss_type": _RETAIN},
        pattern=PATTERN_BETA,
        summary="negative preference optimisation: push the forget answers' likelihood below the reference's",
        formula="L = gamma * mean_seq[-(2/beta) logsigmoid(-beta (log p(y|x) - log p_ref(y|x)))] + alpha * L_retain",
    )
)
register_method(
    MethodSpec(
        name="SimNPO",
        trainer="hf_unlearn.trainers.simnpo:SimNPOTrainer",
        paper=_SIMNPO_PAPER,
        tags=("simnpo",),
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
        paper=_DPO_PAPER,
        tags=("dpo", "idk"),
        forget_reference=True,
        reference_sequence_paths=("forget.original", "forget.alternate"),
        params={"beta": _beta(0.1), "alpha": _ALPHA, "gamma": _GAMMA, "retain_loss_type": _RETAIN},
        pattern=PATTERN_BETA,
        summary="DPO preferring a refusal ('I don't know') over the original forget answer",
        formula=(
            "L = gamma * mean_pairs[-(2/beta) logsigmoid(beta ((log p(y_idk|x) - log p_ref(y_idk|x)) "
            "- (log p(y|x) - log p_ref(y|x))))] + alpha * L_retain"
        ),
        dataset_builder="hf_unlearn.data.idk:build_idk_dpo_dataset",
    )
)
register_method(
    MethodSpec(
        name="IdkNLL",
        trainer="hf_unlearn.trainers.idknll:IdkNLLTrainer",
        paper=TOFU_PAPER,
        tags=("idk",),
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
        paper=WMDP_PAPER,
        tags=("rmu",),
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
            "activation_positions": Param(
                "tokens",
                kind=str,
                choices=("tokens", "all"),
                help="positions the activation losses average over: the label tokens (open-unlearning), or every "
                "position of the padded batch, padding included (the original RMU code's unmasked MSE)",
            ),
        },
        # layers after the steered one (and the LM head) get no gradient from the activation loss
        training_defaults={"ddp_find_unused_parameters": True},
        pattern=PATTERN_RMU,
        summary="representation misdirection: forget activations to a random direction, retain activations kept",
        formula="L = gamma * A(h(forget), c) + alpha * A(h(retain), h_ref(retain)), A = masked mean squared error",
    )
)
register_method(
    MethodSpec(
        name="UNDIAL",
        trainer="hf_unlearn.trainers.undial:UNDIALTrainer",
        paper=_UNDIAL_PAPER,
        tags=("undial",),
        forget_reference=True,
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
        paper=_WGA_PAPER,
        tags=("wga",),
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
        paper=_SATIMP_PAPER,
        tags=("satimp",),
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
        paper=_CEU_PAPER,
        tags=("ceu",),
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
        paper=_PDU_PAPER,
        tags=("pdu",),
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
register_method(
    MethodSpec(
        name="AltPO",
        trainer="hf_unlearn.trainers.dpo:AltPOTrainer",
        paper=_ALTPO_PAPER,
        tags=("altpo", "dpo"),
        forget_reference=True,
        reference_sequence_paths=("forget.original", "forget.alternate"),
        params={
            "alternates": Param(None, kind=str, help="alternate-answers file from `hf-unlearn altpo-data` (required)"),
            "beta": _beta(0.1),
            "alpha": _ALPHA,
            "gamma": _GAMMA,
            "retain_loss_type": _RETAIN,
        },
        pattern=PATTERN_BETA,
        summary="DPO preferring a plausible made-up answer (generated by the target model) over the true one",
        formula=(
            "L = gamma * mean_pairs[-(2/beta) logsigmoid(beta ((log p(y_alt|x) - log p_ref(y_alt|x)) "
            "- (log p(y|x) - log p_ref(y|x))))] + alpha * L_retain"
        ),
        dataset_builder="hf_unlearn.data.altpo:build_altpo_dataset",
    )
)
#: GRU's variants, named as in its official code (github.com/tmlr-group/GRU, `dataloader_faster_refactor1.py`):
#: {name: (retain loss of the retain term, where that term enters)}. "inside": projected with the forget gradient;
#: "after": added after the projection; None: no retain term (the retain NLL gradient only gives the direction).
GRU_VARIANTS: dict[str, tuple[str | None, str | None]] = {
    "ga_gru": (None, None),
    "gd_gru": ("NLL", "inside"),
    "ga_KL_gru": ("KL", "inside"),
    "ga_gru+ce": ("NLL", "after"),
    "ga_gru+KL": ("KL", "after"),
}


def _check_gru(values: dict) -> None:
    """ga_gru steps with the rectified forget gradient alone: a retain weight would change nothing but the name."""
    default = _ALPHA.default
    if GRU_VARIANTS[values["variant"]][0] is None and values["alpha"] != default:
        raise ValueError(
            f"alpha: GRU's variant {values['variant']} has no retain term to weight (the retain gradient only "
            f"gives the direction); leave alpha at {default:g}, or choose a variant with one: "
            + ", ".join(name for name, (loss, _) in GRU_VARIANTS.items() if loss)
        )


register_method(
    MethodSpec(
        name="GRU",
        trainer="hf_unlearn.trainers.gru:GRUTrainer",
        paper=_GRU_PAPER,
        tags=("gru", "graddiff"),
        params={
            "variant": Param(
                "ga_gru",
                kind=str,
                choices=tuple(GRU_VARIANTS),
                help="which update, named as in GRU's official code: ga_gru (the paper's main setting), gd_gru, "
                "ga_KL_gru, ga_gru+ce, ga_gru+KL",
            ),
            "moving_avg": Param(
                0.8,
                minimum=0.0,
                exclusive_minimum=True,
                maximum=1.0,
                help="weight of the new retain gradient in its running average (1: no averaging)",
            ),
            "alpha": Param(1.0, minimum=0.0, help="weight of the retain loss in the variants with a retain term"),
            "gamma": _GAMMA,
        },
        pattern=PATTERN_ALPHA,
        name_options={"variant": "_{variant}", "moving_avg": "_ema{moving_avg}"},
        check_params=_check_gru,
        sam=False,
        summary=(
            "the unlearning gradient projected off a running average of the retain gradient where the two conflict"
        ),
        formula=(
            "m_t = moving_avg * grad NLL(retain) + (1 - moving_avg) * m_{t-1} (m_0 = 0); "
            "P(g) = g - min(0, <g, m_t>) / ||m_t||^2 * m_t; g_f = grad(-gamma * NLL(forget)), "
            "g_r = grad(alpha * L_retain); update = P(g_f) (ga_gru), P(g_f + g_r) (gd_gru: NLL, ga_KL_gru: KL), "
            "P(g_f) + g_r (ga_gru+ce: NLL, ga_gru+KL: KL)"
        ),
    )
)
