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
