"""Evaluation settings: everything that decides the numbers, validated before any model loads."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import ClassVar

from hf_unlearn.data.tofu import FORGET_SPLITS
from hf_unlearn.errors import UserError
from hf_unlearn.evaluation.gibberish import DEFAULT_GIBBERISH_MODEL
from hf_unlearn.evaluation.suite import parse_metrics

DTYPES = ("auto", "float32", "bfloat16", "float16")


class EvalInputError(UserError, ValueError):
    """A bad evaluation input: unknown metric, unreadable retain logs or holdout file, a bad option."""


@dataclass
class EvalSettings:
    """Everything that decides the numbers (batch sizes and progress bars do not)."""

    forget_split: str = "forget10"
    #: "default", "all", or metric names (a comma-separated string or a sequence); a tuple of names once validated
    metrics: tuple[str, ...] | str = "default"
    holdout_split: str | None = None
    holdout_file: str | None = None
    data_source: str = "auto"
    eos_as_pad: bool = False
    #: Extraction strength's 1/n floor (open-unlearning's loop); None follows eos_as_pad.
    es_one_over_n: bool | None = None
    max_new_tokens: int = 200
    limit: int | None = None
    dtype: str = "auto"
    tokenizer: str | None = None
    batch_size: int = 32
    #: None: 512 on CUDA (decoding is memory-bound, wide batches are nearly free), 128 on CPU.
    generation_batch_size: int | None = None
    device: str | None = None
    #: Hub id or folder of forget_Q_A_gibberish's sequence classifier (used only when that metric is chosen).
    gibberish_model: str = DEFAULT_GIBBERISH_MODEL
    #: The forget set's field read as the question ("paraphrased_question": the paraphrase probe).
    question_key: str = "question"
    #: Text the assistant turn starts with in every generation (the jailbreak probe); ROUGE scores what follows.
    answer_prefix: str | None = None
    #: field -> the field its default derives from: changing the latter alone changes both
    derived_from: ClassVar[dict[str, str]] = {"holdout_split": "forget_split", "es_one_over_n": "eos_as_pad"}

    def __post_init__(self) -> None:
        try:
            self.metrics = parse_metrics(self.metrics)
        except ValueError as err:
            raise EvalInputError(str(err)) from None
        if self.forget_split not in FORGET_SPLITS:
            raise EvalInputError(f"forget split: '{self.forget_split}' is not one of {', '.join(FORGET_SPLITS)}")
        if self.dtype not in DTYPES:
            raise EvalInputError(f"dtype: '{self.dtype}' is not one of {', '.join(DTYPES)}")
        for name in ("max_new_tokens", "batch_size", "generation_batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise EvalInputError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 1:
            raise EvalInputError(f"limit: must be >= 1, got {self.limit}")
        if not self.gibberish_model:
            raise EvalInputError("gibberish_model: must name a Hub id or a folder")
        if not self.question_key:
            raise EvalInputError("question_key: must name a field of the forget set, e.g. paraphrased_question")
        if self.answer_prefix is not None and not self.answer_prefix.strip():
            raise EvalInputError("answer_prefix: must be a non-empty text, or unset")
        if self.es_one_over_n is None:
            self.es_one_over_n = self.eos_as_pad

    def resolved_device(self) -> str:
        import torch

        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def resolved_generation_batch_size(self) -> int:
        if self.generation_batch_size:
            return self.generation_batch_size
        return 512 if self.resolved_device().startswith("cuda") else 128

    def resolved_dtype(self) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if self.resolved_device().startswith("cuda") else "float32"


def setting_default(name: str):
    """The default of one setting: the recipe's `eval.*` keys and `hf-unlearn eval`'s options take it from here."""
    (found,) = [f for f in fields(EvalSettings) if f.name == name]
    assert found.default is not MISSING, name
    return found.default
