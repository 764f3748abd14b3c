"""MUSE evaluation settings: the metric names, everything that decides the numbers, validated before a model loads.

Defaults are open-unlearning's MUSE evaluation (`configs/eval/muse.yaml` and its metric configs): VerbMem generates
128 tokens, KnowMem 32 after all 10 in-context examples, privleak's Min-K% keeps the lowest 40 % of token
log-probs, documents are cut at 2048 tokens and KnowMem prompts at 512.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.errors import UserError
from hf_unlearn.evaluation.gibberish import DEFAULT_GIBBERISH_MODEL
from hf_unlearn.evaluation.settings import DTYPES

CORPORA = ("news", "books")
#: open-unlearning's default MUSE metrics, in its evaluation order.
DEFAULT_METRICS = (
    "forget_knowmem_ROUGE",
    "retain_knowmem_ROUGE",
    "forget_verbmem_ROUGE",
    "privleak",
    "extraction_strength",
)
#: Available but off by default, as in open-unlearning.
EXTRA_METRICS = (
    "exact_memorization",
    "mia_min_k_plus_plus",
    "mia_min_k",
    "mia_loss",
    "mia_zlib",
    "mia_gradnorm",
    "mia_reference",
    "forget_gibberish",
)
ALL_METRICS = DEFAULT_METRICS + EXTRA_METRICS
#: Metrics a chosen one is computed from (stored in MUSE_EVAL.json too, as open-unlearning's pre-computes).
DEPENDS_ON = {
    "privleak": ("mia_min_k",),
    "mia_reference": ("mia_loss",),
    "forget_gibberish": ("forget_verbmem_ROUGE",),
}
#: `data_source` values that mean the Hub datasets (`auto` is the recipe schema's default for every benchmark).
HUB_SOURCES = ("hub", "auto")


class MuseInputError(UserError, ValueError):
    """A bad MUSE evaluation input: unknown corpus or metric, a bad number, unreadable retain logs."""


def parse_metrics(metrics) -> tuple[str, ...]:
    """'default', 'all', or metric names (comma-separated or a sequence) -> a tuple of names; ValueError otherwise."""
    if metrics is None or metrics == "default":
        return DEFAULT_METRICS
    if metrics == "all":
        return ALL_METRICS
    names = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    if not names:
        raise ValueError(f"metrics: none given; allowed: default, all, or any of {', '.join(ALL_METRICS)}")
    for name in names:
        if name not in ALL_METRICS:
            raise ValueError(f"metrics: '{name}' is not a MUSE metric; allowed: {', '.join(ALL_METRICS)}")
    return tuple(dict.fromkeys(names))


def check_metrics(metrics: str) -> None:
    """Raise ValueError naming the bad metric and the allowed ones."""
    parse_metrics(metrics)


def closure(top: tuple[str, ...]) -> list[str]:
    """The chosen metrics and what they are computed from, dependencies first."""
    out: list[str] = []
    for name in top:
        for dep in DEPENDS_ON.get(name, ()):
            if dep not in out:
                out.append(dep)
        if name not in out:
            out.append(name)
    return out


@dataclass
class MuseEvalSettings:
    """Everything that decides MUSE's numbers (batch sizes, device and progress bars do not)."""

    corpus: str = "news"
    #: "hub" (or "auto") for the muse-bench datasets, else a folder laid out like the Hub repository
    data_source: str = "hub"
    #: "default", "all", or metric names (a comma-separated string or a sequence); a tuple of names once validated
    metrics: tuple[str, ...] | str = "default"
    limit: int | None = None
    dtype: str = "auto"
    tokenizer: str | None = None
    #: sequences scored per forward
    batch_size: int = 8
    #: prompts generated together; None: 32 on CUDA (VerbMem prompts are ~1000 tokens), 128 on CPU
    generation_batch_size: int | None = None
    device: str | None = None
    verbmem_max_new_tokens: int = 128
    knowmem_max_new_tokens: int = 32
    #: in-context examples before each KnowMem question (None: every row of the ICL split, open-unlearning's 10)
    icl_shots: int | None = None
    #: Min-K% fraction of the lowest token log-probs (privleak's mia_min_k and mia_min_k_plus_plus)
    min_k_ratio: float = 0.4
    #: tokens of a VerbMem continuation / a privleak document after the prompt (open-unlearning's 2048)
    max_length: int = 2048
    #: tokens of a KnowMem prompt (open-unlearning's QADataset max_length 512)
    knowmem_max_length: int = 512
    #: extraction strength's 1/n floor (open-unlearning's loop); off, a model that gets no suffix right scores 0
    es_one_over_n: bool = False
    gibberish_model: str = DEFAULT_GIBBERISH_MODEL

    def __post_init__(self) -> None:
        try:
            self.metrics = parse_metrics(self.metrics)
        except ValueError as err:
            raise MuseInputError(str(err)) from None
        if self.corpus not in CORPORA:
            raise MuseInputError(f"corpus: '{self.corpus}' is not one of {', '.join(CORPORA)}")
        if self.dtype not in DTYPES:
            raise MuseInputError(f"dtype: '{self.dtype}' is not one of {', '.join(DTYPES)}")
        if self.data_source not in HUB_SOURCES and not Path(self.data_source).expanduser().is_dir():
            raise MuseInputError(
                f"data_source: '{self.data_source}' is neither 'hub' nor a folder laid out like the Hub dataset"
            )
        positive = (
            "batch_size",
            "generation_batch_size",
            "verbmem_max_new_tokens",
            "knowmem_max_new_tokens",
            "max_length",
            "knowmem_max_length",
        )
        for name in positive + ("limit", "icl_shots"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "icl_shots" else 1):
                raise MuseInputError(f"{name}: must be >= {0 if name == 'icl_shots' else 1}, got {value}")
        if not 0 < self.min_k_ratio <= 1:
            raise MuseInputError(f"min_k_ratio: must be in (0, 1], got {self.min_k_ratio}")
        if not self.gibberish_model:
            raise MuseInputError("gibberish_model: must name a Hub id or a folder")

    @property
    def source(self) -> str:
        """What the data loader takes: 'hub' or the folder."""
        return "hub" if self.data_source in HUB_SOURCES else str(Path(self.data_source).expanduser())

    def resolved_device(self) -> str:
        import torch

        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def resolved_generation_batch_size(self) -> int:
        if self.generation_batch_size:
            return self.generation_batch_size
        return 32 if self.resolved_device().startswith("cuda") else 128

    def resolved_dtype(self) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if self.resolved_device().startswith("cuda") else "float32"


def settings_from_recipe(recipe) -> MuseEvalSettings:
    """A recipe run's settings (`data.corpus`, `data.source`, `eval.*`); each model is read with its own tokenizer."""
    return MuseEvalSettings(
        corpus=recipe.get("data.corpus") or "news",
        data_source=recipe.get("data.source") or "hub",
        metrics=recipe["eval.metrics"],
        limit=recipe["eval.limit"],
        batch_size=recipe["eval.batch_size"],
        generation_batch_size=recipe.get("eval.generation_batch_size"),
        icl_shots=recipe.get("eval.icl_shots"),
        gibberish_model=recipe.get("eval.gibberish_model") or DEFAULT_GIBBERISH_MODEL,
    )


def add_eval_arguments(group) -> None:
    """MUSE's own `hf-unlearn eval` options (the command adds --tokenizer, --dtype, --device, --batch-size, --limit)."""
    group.add_argument("--corpus", choices=CORPORA, default="news", help="MUSE corpus (default: news)")
    group.add_argument(
        "--metrics",
        default="default",
        help="'default', 'all', or comma-separated MUSE metric names (default: default)",
    )
    group.add_argument(
        "--data-source", default="hub", help="hub, or a folder laid out like muse-bench/MUSE-<corpus> (default: hub)"
    )
    group.add_argument(
        "--generation-batch-size", type=int, help="prompts generated together (default: 32 on CUDA, 128 on CPU)"
    )
    group.add_argument("--icl-shots", type=int, help="KnowMem in-context examples (default: all 10)")
    group.add_argument(
        "--gibberish-model",
        default=DEFAULT_GIBBERISH_MODEL,
        help="classifier (Hub id or folder) of the optional forget_gibberish metric (default: %(default)s)",
    )
    group.add_argument(
        "--es-one-over-n",
        action="store_true",
        help="extraction strength floors at 1/n like open-unlearning (default: it can reach 0)",
    )


def settings_from_args(args) -> MuseEvalSettings:
    """Settings from `hf-unlearn eval`'s parsed arguments."""
    return MuseEvalSettings(
        corpus=args.corpus,
        data_source=args.data_source,
        metrics=args.metrics,
        limit=args.limit,
        dtype=args.dtype,
        tokenizer=args.tokenizer,
        batch_size=args.batch_size,
        generation_batch_size=args.generation_batch_size,
        device=args.device,
        icl_shots=args.icl_shots,
        gibberish_model=args.gibberish_model,
        es_one_over_n=bool(args.es_one_over_n),
    )
