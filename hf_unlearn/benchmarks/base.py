"""The Benchmark seam: everything the pipeline, CLI, card and leaderboard need to know about one benchmark.

TOFU is the first implementation. The interface is shaped for the next two as well: MUSE (raw-text forget and
retain corpora chunked into training sequences, its own metrics and `MUSE_EVAL.json`) and WMDP (scored by an
external evaluator, lm-evaluation-harness). Adding a benchmark touches its own module, its recipes and its tests;
code outside `hf_unlearn/benchmarks/` asks the benchmark and never names one.

Importing this module stays light (no torch): recipes validate and run names print before anything heavy loads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_unlearn.errors import UserError


@dataclass(frozen=True)
class CardMetric:
    """One row of the card's results table and one entry of the Hub model-index."""

    key: str  # key in the benchmark's summary file
    label: str  # row label in the card's table
    metric_type: str  # model-index `type`
    dataset: str  # dataset config it is computed on; `{forget}` stands for the forget split
    goal: str  # what a good unlearned model shows


@dataclass(frozen=True)
class KnowledgeMetric:
    """A forget-set metric the robustness suite re-measures after an attack. Its scores (R, Q) need it oriented so
    that higher means more forget-set knowledge; `higher_is_knowledge=False` marks one to map first (`1 - x` for a
    [0, 1] score, `-x` otherwise)."""

    key: str  # key in the benchmark's summary (`summary_file`, `evaluate_in_memory`)
    higher_is_knowledge: bool = True
    bounded: bool = True  # a [0, 1] score (mapped with 1 - x), else unbounded (mapped with -x)


@dataclass(frozen=True)
class TrainData:
    """What training needs from a benchmark: the dataset, the rows it came from (fingerprints, card), the
    collator, and the pad token the collator uses (the tokenizer is told the same)."""

    dataset: Any
    rows: dict[str, list[dict]]
    collator: Any
    pad_token_id: int


class Benchmark(ABC):
    """One benchmark: its data, how training examples are formatted, its evaluation and result files, its names,
    its card section and its leaderboard columns."""

    #: recipe key `benchmark` and `hf-unlearn eval --benchmark`
    name: str
    #: how people write it ("TOFU")
    title: str
    #: what a model forgets on it, in a few words (`hf-unlearn --help` lists it beside the name)
    summary: str
    #: Hub dataset id of its data
    dataset_id: str
    #: BibTeX of the benchmark's paper, cited by every card of a run on it
    citation: str
    #: result files in the evaluation folder, in open-unlearning's layout: every metric, and the top-level values
    eval_file: str
    summary_file: str
    #: forget splits a recipe can name, and the one it gets when it names none
    forget_splits: tuple[str, ...]
    default_forget_split: str
    #: retain splits (each the complement of a forget split), and the splits a finetuning recipe can train on
    retain_splits: tuple[str, ...]
    finetune_splits: tuple[str, ...]
    #: what `data.source` accepts besides a directory of `<split>.jsonl`
    sources: tuple[str, ...]
    #: the card's results table, in order
    card_metrics: tuple[CardMetric, ...]
    #: size of each forget split (for statistics whose floor depends on it)
    forget_sizes: dict[str, int]
    #: summary keys the leaderboard shows, in order, and the plot's (x, y) axes
    leaderboard_metrics: tuple[str, ...]
    plot_axes: tuple[str, str]
    #: how the leaderboard ranks by each of `leaderboard_metrics` ("high": highest first, "low": lowest first,
    #: "zero": closest to 0 first), and its default ranking (one of these, or "name"); TOFU has its own rules
    leaderboard_goals: dict[str, str] = {}
    default_sort: str = "name"
    #: whether `evaluate` scores the model object training left in memory (`loaded`) rather than reloading the
    #: saved folder (an external evaluator that wraps a model object); the pipeline then keeps that object
    evaluates_in_memory: bool = False
    #: the unlearned model's card template in model_cards/ (None: the TOFU-style default)
    card_template: str | None = None

    # ---- data -------------------------------------------------------------------------------------------------
    @abstractmethod
    def retain_split(self, forget_split: str) -> str:
        """The retain split that goes with a forget split (its complement)."""

    @abstractmethod
    def holdout_split(self, forget_split: str) -> str | None:
        """The non-member split of the same size, for membership inference (None when there is none)."""

    @abstractmethod
    def load_split(self, split: str, source: str = "auto") -> list[dict]:
        """Rows of one split, from the Hub, a bundled copy, or a local directory."""

    @abstractmethod
    def train_data(self, recipe, tokenizer) -> TrainData:
        """The training dataset of a recipe (unlearning: forget/retain; finetuning: its splits), formatted for
        `tokenizer` the way this benchmark's evaluation reads the model."""

    # ---- evaluation -------------------------------------------------------------------------------------------
    @abstractmethod
    def eval_settings(self, recipe):
        """Evaluation settings of a recipe run (`eval.*` keys)."""

    @abstractmethod
    def check_metrics(self, metrics: str) -> None:
        """Raise ValueError naming the bad metric (and the allowed ones) when `metrics` ('default', 'all' or a
        comma-separated list) names one the benchmark does not have."""

    @abstractmethod
    def add_eval_arguments(self, group) -> None:
        """This benchmark's options of `hf-unlearn eval` (an argparse argument group). `--tokenizer`, `--dtype`,
        `--device`, `--batch-size` and `--limit` are every benchmark's: the command adds them."""

    @abstractmethod
    def eval_settings_from_args(self, args):
        """Evaluation settings from `hf-unlearn eval`'s parsed arguments."""

    @abstractmethod
    def evaluate(
        self,
        model: str,
        output_dir: str | Path,
        settings,
        retain_logs: str | Path | None = None,
        retain_model: str | None = None,
        no_recompute: bool = False,
        progress: bool = True,
        echo: bool = True,
        loaded=None,
    ):
        """Evaluate a model (Hub id or folder) into `output_dir` (`eval_file`, `summary_file`, `eval_meta.json`),
        reusing stored results whose fingerprint matches. Returns an object with `.summary` (the top-level
        values), `.meta` (with `retain_logs`), `.output_dir`, `.reused` and `.retain` (the retain model's result).

        `loaded` is `(model, tokenizer)` that training just produced for the folder `model` (only for a benchmark
        that `evaluates_in_memory`); the others read the saved folder and ignore it."""

    @abstractmethod
    def retain_summary(self, result, settings) -> dict | None:
        """The retain model's summary beside an evaluation's result (evaluated with it, or read from the retain
        logs it used), for the card's comparison rows; None without a retain reference."""

    # ---- robustness ------------------------------------------------------------------------------------------
    #: forget-set metrics the robustness suite re-measures on an attacked model (empty: no robustness suite)
    knowledge_metrics: tuple[KnowledgeMetric, ...] = ()
    #: the utility metric reported beside them (a relearned or quantized model must stay useful), or None
    utility_metric: str | None = None
    #: re-prompting probes `probe_settings` accepts ("paraphrase", "jailbreak")
    probes: tuple[str, ...] = ()

    def robustness_settings(self, settings):
        """The evaluation settings that measure `knowledge_metrics` and `utility_metric` (and nothing slower),
        derived from `settings`; before and after an attack share them."""
        raise _no_robustness(self)

    def probe_settings(self, settings, probe: str):
        """Settings that re-measure `knowledge_metrics` under a probe (one of `probes`): e.g. paraphrased questions,
        or an answer pre-filled with a jailbreak prefix."""
        raise _no_robustness(self)

    def answer_pairs(self, settings, tokenizer) -> list[tuple[str, str]]:
        """(prompt, answer) texts of the forget set exactly as the evaluation feeds them to the model (chat template
        applied to the prompt), for teacher-forced probes such as the logit lens."""
        raise _no_robustness(self)

    def relearn_data(self, settings) -> dict:
        """The dotted recipe keys of a finetuning run on the forget set that `settings` evaluate (the relearning
        attack): its splits, corpus and data source."""
        raise _no_robustness(self)

    def training_settings(self, recipe):
        """Settings of the evaluation during training (`eval.during_training.*`): the recipe's evaluation settings
        with the fast metric subset and item limit. Benchmarks without an in-memory evaluation raise a UserError."""
        raise _no_in_memory(self)

    def training_reference(self, recipe, settings):
        """The retain reference the evaluation during training compares with (forget quality): the recipe's
        `eval.retain_logs`, or its `eval.retain_model` evaluated in memory; None without one."""
        raise _no_in_memory(self)

    def evaluate_in_memory(self, model, tokenizer, settings, reference=None) -> dict:
        """The summary (top-level metric -> value) of a model object as it is, e.g. the one being trained: no
        reload from disk, no files written. Every process of a distributed run calls it on the same data."""
        raise _no_in_memory(self)

    # ---- names -------------------------------------------------------------------------------------------------
    def unlearn_repo_id(self, org: str, model: str, run_name: str) -> str:
        """Hub repo id of an unlearned model (open-unlearning's naming)."""
        return f"{org}/unlearn_{self.name}_{model}_{run_name}"

    def run_label(self, recipe, split: str) -> str:
        """A split (forget split, or a finetuning run's split names) as run names print it. A benchmark with
        several datasets (MUSE's News and Books) names which, so their runs never share a name."""
        return split

    def recipe_problem(self, values: dict) -> str | None:
        """What is wrong with a combination of recipe values this benchmark can't run (checked after the generic
        checks, splits resolved; the recipe reports it as a one-line error), or None."""
        return None

    def finetune_run_name(self, model: str, split_name: str) -> str:
        """Run name (and repo name) of a model finetuned on this benchmark's splits."""
        return f"{self.name}_{model}_{split_name}"

    # ---- card --------------------------------------------------------------------------------------------------
    def run_dataset_id(self, recipe) -> str:
        """Hub id of the dataset a run's recipe trained and was evaluated on, for its card's metadata; a benchmark
        with several datasets (MUSE's News and Books) picks the recipe's."""
        return self.dataset_id

    def card_extras(self, summary: dict | None, target: dict | None, recipe, meta: dict | None = None) -> dict:
        """Variables of this benchmark's own card template (`card_template`), from the run's summary, the target
        model's summary, the recipe and the evaluation's `eval_meta.json` (how it was scored)."""
        return {}

    @abstractmethod
    def finetune_eval_split(self, finetune_splits: list[str], default: str) -> str:
        """The forget split a finetuned model's evaluation refers to (a target model: the split it learnt; a
        retain model: the forget split it never saw), `default` when the splits don't say."""

    @abstractmethod
    def is_target(self, finetune_splits: list[str]) -> bool:
        """Whether a model finetuned on these splits is a target (it saw forget data) rather than a retain model."""

    @abstractmethod
    def example_prompt(self, split: str) -> str:
        """A prompt from a split of the benchmark's data, for the card's usage snippet."""

    @abstractmethod
    def forget_description(self, forget_split: str, n_rows: int | None) -> str:
        """What a forget split holds, in a few words for the card ("2 fictitious authors, 40 QA pairs")."""


def _no_in_memory(benchmark: Benchmark):
    return UserError(f"eval.during_training: the {benchmark.title} benchmark has no in-memory evaluation; unset it")


def _no_robustness(benchmark: Benchmark):
    return UserError(f"attack: the {benchmark.title} benchmark has no forget metrics to re-measure")
