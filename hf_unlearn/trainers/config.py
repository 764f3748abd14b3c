"""Training configuration dataclasses, TRL style: `TrainingArguments` plus what unlearning needs.

Nothing here is declared twice: the recipe schema (`hf_unlearn.recipe.SCHEMA`) states the defaults and choices of
the recipe keys `UnlearningConfig` adds, and each method's config (`method_config`) is derived from its
`MethodSpec`: one field per hyper-parameter with the spec's default and help, validated by the spec's own check,
the one the recipe uses. `NPOConfig`, `GradDiffConfig`, ... are importable names for those derived classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cache

from transformers import TrainingArguments

from hf_unlearn.methods import check_value, get_method
from hf_unlearn.recipe import SCHEMA


def _from_schema(key: str, **kwargs):
    """A config field whose default and help are the recipe key's."""
    spec = SCHEMA[key]
    return field(default=spec.default, metadata={"help": spec.help, **kwargs})


@dataclass
class UnlearningConfig(TrainingArguments):
    """`TrainingArguments` for forget/retain training.

    `loss_normalization="effective_batch"` divides every loss by counts summed over the whole optimizer step
    (all micro-batches and processes), so splitting a batch never changes the gradient. `"micro_batch"` keeps
    open-unlearning's per-micro-batch token mean (divided by the accumulation steps), for comparable numbers.
    """

    loss_normalization: str = _from_schema("loss_normalization")
    remove_unused_columns: bool = field(default=False, metadata={"help": "forget/retain batches are nested"})
    logging_steps: float = _from_schema("logging_steps")
    precompute_ref_log_probs: bool = _from_schema("precompute_ref_log_probs")
    sam_rho: float | None = _from_schema("sam_rho")

    def __post_init__(self):
        check_value("loss_normalization", self.loss_normalization, SCHEMA["loss_normalization"].choices)
        check_value("sam_rho", self.sam_rho, minimum=0.0, exclusive_minimum=True)
        super().__post_init__()


def _method_post_init(self) -> None:
    spec = get_method(self._method)
    spec.check({key: getattr(self, key) for key in spec.params})
    UnlearningConfig.__post_init__(self)


@cache
def method_config(name: str) -> type[UnlearningConfig]:
    """The config dataclass of method `name`: `UnlearningConfig` plus one field per hyper-parameter of its spec."""
    spec = get_method(name)
    fields = [
        (
            key,
            param.kind | None if param.required else param.kind,
            field(default=param.default, metadata={"help": param.help}),
        )
        for key, param in spec.params.items()
    ]
    inherited = {f.name: f for f in dataclasses.fields(UnlearningConfig)}
    for key, value in spec.training_defaults.items():
        fields.append((key, inherited[key].type, field(default=value, metadata=inherited[key].metadata)))
    cls = dataclasses.make_dataclass(
        f"{name}Config",
        fields,
        bases=(UnlearningConfig,),
        namespace={
            "__post_init__": _method_post_init,
            "_method": name,
            "__doc__": f"{name}: {spec.formula}",
        },
    )
    cls.__module__ = __name__  # pickled (training_args.bin) by this module and name; `__getattr__` resolves it
    return cls


def __getattr__(name: str):
    """`NPOConfig` and friends: the derived config of each registered method, under its familiar name."""
    if name.endswith("Config"):
        try:
            return method_config(name[: -len("Config")])
        except KeyError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
