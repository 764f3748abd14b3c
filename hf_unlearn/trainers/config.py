"""Training configuration dataclasses, TRL style: `TrainingArguments` plus what unlearning needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments


@dataclass
class UnlearningConfig(TrainingArguments):
    """`TrainingArguments` for forget/retain training.

    `loss_normalization="effective_batch"` divides every loss by counts summed over the whole optimizer step
    (all micro-batches and processes), so splitting a batch never changes the gradient. `"micro_batch"` keeps
    open-unlearning's per-micro-batch token mean (divided by the accumulation steps), for comparable numbers.
    """

    loss_normalization: str = field(
        default="effective_batch",
        metadata={"help": "effective_batch (split-invariant) or micro_batch (open-unlearning compatible)"},
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "forget/retain batches are nested"})
    logging_steps: float = field(default=5, metadata={"help": "log every N optimizer steps"})
    precompute_ref_log_probs: bool = field(
        default=False,
        metadata={"help": "compute the reference's forget log-probs once before training, then free the reference"},
    )

    def __post_init__(self):
        if self.loss_normalization not in ("effective_batch", "micro_batch"):
            raise ValueError(
                f"loss_normalization: '{self.loss_normalization}' is not allowed; allowed: effective_batch, micro_batch"
            )
        super().__post_init__()


@dataclass
class GradDiffConfig(UnlearningConfig):
    """GradDiff: L = -gamma * NLL(forget) + alpha * L_retain(retain)."""

    alpha: float = field(default=1.0, metadata={"help": "weight of the retain loss"})
    gamma: float = field(default=1.0, metadata={"help": "weight of the forget loss"})
    retain_loss_type: str = field(default="NLL", metadata={"help": "NLL, or KL(ref || model) with a reference"})

    def __post_init__(self):
        if self.retain_loss_type not in ("NLL", "KL"):
            raise ValueError(f"retain_loss_type: '{self.retain_loss_type}' is not allowed; allowed: NLL, KL")
        if self.alpha < 0 or self.gamma < 0:
            raise ValueError("alpha and gamma must be >= 0")
        super().__post_init__()


@dataclass
class NPOConfig(GradDiffConfig):
    """NPO: L = gamma * NPO(forget; beta) + alpha * L_retain."""

    beta: float = field(default=0.1, metadata={"help": "inverse temperature of the NPO loss"})

    def __post_init__(self):
        if self.beta <= 0:
            raise ValueError("beta must be > 0")
        super().__post_init__()


@dataclass
class SimNPOConfig(NPOConfig):
    """SimNPO: L = gamma * SimNPO(forget; beta, delta) + alpha * L_retain (open-unlearning yaml defaults)."""

    beta: float = field(default=4.5, metadata={"help": "inverse temperature of the SimNPO loss"})
    delta: float = field(default=0.0, metadata={"help": "margin subtracted from the length-normalised NLL"})
    gamma: float = field(default=0.125, metadata={"help": "weight of the forget loss"})


@dataclass
class IdkDPOConfig(NPOConfig):
    """IdkDPO: L = gamma * DPO(refusal > original; beta) + alpha * L_retain."""


@dataclass
class IdkNLLConfig(GradDiffConfig):
    """IdkNLL: L = gamma * NLL(refusal answers) + alpha * L_retain."""


@dataclass
class RMUConfig(UnlearningConfig):
    """RMU: steer one layer's activations on forget data to a random vector, keep them on retain data."""

    alpha: float = field(default=1.0, metadata={"help": "weight of the retain loss"})
    gamma: float = field(default=1.0, metadata={"help": "weight of the forget loss"})
    steering_coeff: float = field(default=2.0, metadata={"help": "norm of the random control vector"})
    module_regex: str = field(default=r"model\.layers\.7", metadata={"help": "full name of the steered module"})
    trainable_params_regex: str = field(default=".*", metadata={"help": "parameters to train (fullmatch)"})
    retain_loss_type: str = field(default="EMBED_DIFF", metadata={"help": "EMBED_DIFF, NLL or KL"})

    def __post_init__(self):
        if self.retain_loss_type not in ("EMBED_DIFF", "NLL", "KL"):
            raise ValueError(
                f"retain_loss_type: '{self.retain_loss_type}' is not allowed; allowed: EMBED_DIFF, NLL, KL"
            )
        if self.alpha < 0 or self.gamma < 0 or self.steering_coeff <= 0:
            raise ValueError("alpha and gamma must be >= 0, steering_coeff > 0")
        if self.ddp_find_unused_parameters is None:
            # Layers after the steered one (and the LM head) get no gradient from the activation loss.
            self.ddp_find_unused_parameters = True
        super().__post_init__()


@dataclass
class UNDIALConfig(NPOConfig):
    """UNDIAL: L = gamma * CE(model, softmax(ref - beta * onehot(y))) + alpha * L_retain."""

    beta: float = field(default=10.0, metadata={"help": "how far the teacher logit of the true token is lowered"})
    alpha: float = field(default=0.0, metadata={"help": "weight of the retain loss (the paper uses none)"})


@dataclass
class WGAConfig(GradDiffConfig):
    """WGA: L = gamma * (-sum p^beta * l / N) + alpha * L_retain.

    beta is an exponent, not NPO's inverse temperature: beta = 0 weighs every token by p^0 = 1 (plain gradient
    ascent), so it is allowed.
    """

    beta: float = field(default=1.0, metadata={"help": "exponent of the token-probability weight"})

    def __post_init__(self):
        if self.beta < 0:
            raise ValueError("beta must be >= 0")
        super().__post_init__()


@dataclass
class SatImpConfig(GradDiffConfig):
    """SatImp: L = gamma * (-sum p^beta1 (1-p)^beta2 * l / N) + alpha * L_retain."""

    beta1: float = field(default=5.0, metadata={"help": "exponent of p in the token weight"})
    beta2: float = field(default=1.0, metadata={"help": "exponent of (1 - p) in the token weight"})
    alpha: float = field(default=0.1, metadata={"help": "weight of the retain loss"})

    def __post_init__(self):
        if self.beta1 < 0 or self.beta2 < 0:
            raise ValueError("beta1 and beta2 must be >= 0")
        super().__post_init__()


@dataclass
class CEUConfig(UnlearningConfig):
    """CE-U: cross-entropy against the model's own distribution without the true token; forget data only."""

    ignore_first_n_answer_tokens: int = field(default=1, metadata={"help": "answer tokens left out of the loss"})

    def __post_init__(self):
        if self.ignore_first_n_answer_tokens < 0:
            raise ValueError("ignore_first_n_answer_tokens must be >= 0")
        super().__post_init__()


@dataclass
class PDUConfig(GradDiffConfig):
    """PDU: L = gamma * margin(forget) + lambda_r * (L_retain - eps), lambda_r raised by dual ascent."""

    retain_loss_eps: float | None = field(default=None, metadata={"help": "retain-loss bound eps (required)"})
    primal_dual: bool = field(default=True, metadata={"help": "update lambda_r (initially alpha) by dual ascent"})
    dual_step_size: float = field(default=1.0, metadata={"help": "dual ascent step size"})
    dual_update_upon: str = field(default="step", metadata={"help": "step (each optimizer step) or epoch"})
    dual_warmup_epochs: float = field(default=5.0, metadata={"help": "epochs before the dual variable moves"})

    def __post_init__(self):
        if self.retain_loss_eps is None:
            raise ValueError("retain_loss_eps: required (the bound the retain loss should stay under)")
        if self.dual_update_upon not in ("step", "epoch"):
            raise ValueError(f"dual_update_upon: '{self.dual_update_upon}' is not allowed; allowed: step, epoch")
        if self.dual_step_size < 0 or self.dual_warmup_epochs < 0:
            raise ValueError("dual_step_size and dual_warmup_epochs must be >= 0")
        super().__post_init__()
