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
