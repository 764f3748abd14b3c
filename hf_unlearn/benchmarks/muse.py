"""MUSE (Shi et al. 2024): unlearn news articles (News) or books (Books) from a model that was trained on them,
scored by verbatim memorisation (VerbMem), knowledge memorisation (KnowMem, on forget and retain QAs), privacy
leakage (privleak) and extraction strength.

Supports: methods that train on raw text (GradAscent, GradDiff, NPO, SimNPO, RMU, UNDIAL, WGA, SatImp, CE-U; KL or
NLL retain loss), unlearning the `raw` forget split with `retain1` as retain set, and the News-only scalability
(`scal1`..`scal4`: nested forget sets) and sustainability (`sust1`..`sust4`: disjoint folds unlearnt one after the
other) experiments; finetuning targets (`full`: the `train` config's forget + retain1 + retain2) and retrained
models (`retain`: retain1 + retain2). Recipe key `data.corpus` picks News or Books; run names carry it
(`News-forget_NPO_...`). Training reads fixed-length windows of the joined documents (`data/chunking.py`); the metric
engine is `evaluation/muse`, which writes open-unlearning's `MUSE_EVAL.json` / `MUSE_SUMMARY.json`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hf_unlearn.benchmarks.base import Benchmark, CardMetric, KnowledgeMetric, TrainData
from hf_unlearn.data import muse as data
from hf_unlearn.data.chunking import cached_text_windows
from hf_unlearn.errors import UserError
from hf_unlearn.evaluation import muse as engine
from hf_unlearn.methods import Paper

MUSE_PAPER = Paper(
    "MUSE: Machine Unlearning Six-Way Evaluation for Language Models",
    "2407.06460",
    """@article{shi2024muse,
  title   = {{MUSE}: Machine Unlearning Six-Way Evaluation for Language Models},
  author  = {Shi, Weijia and Lee, Jaechan and Huang, Yangsibo and Malladi, Sadhika and Zhao, Jieyu and
             Holtzman, Ari and Liu, Daogao and Zettlemoyer, Luke and Smith, Noah A. and Zhang, Chiyuan},
  journal = {arXiv preprint arXiv:2407.06460},
  year    = {2024},
  url     = {https://arxiv.org/abs/2407.06460}
}""",
)

EVAL_FILE = engine.EVAL_FILE
SUMMARY_FILE = engine.SUMMARY_FILE

#: Forget split -> (config, Hub split). `forget` is `raw/forget` (= scal/forget_1 = sust/forget_1 on the Hub).
FORGET_SPLITS: dict[str, tuple[str, str]] = {
    "forget": ("raw", "forget"),
    **{f"scal{k}": ("scal", f"forget_{k}") for k in range(1, 5)},
    **{f"sust{k}": ("sust", f"forget_{k}") for k in range(1, 5)},
}
RETAIN_SPLIT = "retain1"
#: Finetuning split -> the `train` config's splits it joins (open-unlearning's `full` and `retain` data subsets).
FINETUNE_SPLITS: dict[str, tuple[str, ...]] = {
    "full": ("forget", "retain1", "retain2"),
    "retain": ("retain1", "retain2"),
}

_LOW = "low, near the retain model's"
CARD_METRICS: tuple[CardMetric, ...] = (
    CardMetric("forget_verbmem_ROUGE", "Forget VerbMem (ROUGE-L F1)", "rouge", "verbmem_forget", _LOW),
    CardMetric("forget_knowmem_ROUGE", "Forget KnowMem (ROUGE-L F1)", "rouge", "knowmem_forget_qa", _LOW),
    CardMetric("retain_knowmem_ROUGE", "Retain KnowMem (ROUGE-L F1)", "rouge", "knowmem_retain_qa",
               "close to the target model's"),
    CardMetric("privleak", "privleak (%)", "privleak", "privleak", "near 0 (-100: fully memorised)"),
    CardMetric("extraction_strength", "Extraction strength", "extraction_strength", "verbmem_forget", _LOW),
)  # fmt: skip

LICENCE_TERMS = (
    "MUSE's datasets are published by the MUSE authors for research on unlearning; see the terms on the dataset "
    "card of {dataset}. MUSE-News holds BBC News articles and MUSE-Books the Harry Potter books: the text stays its "
    "publishers' copyright, and neither this model nor hf-unlearn distributes it."
)


def corpus_of(recipe) -> str:
    return recipe.get("data.corpus") or "news"


class MUSE(Benchmark):
    name = "muse"
    title = "MUSE"
    summary = "news articles (MUSE-News) or the Harry Potter books (MUSE-Books), as raw text"
    #: the default corpus's; a run's card names its own corpus (`run_dataset_id`)
    dataset_id = data.HUB_IDS["news"]
    citation = MUSE_PAPER.bibtex
    eval_file = EVAL_FILE
    summary_file = SUMMARY_FILE
    forget_splits = tuple(FORGET_SPLITS)
    default_forget_split = "forget"
    retain_splits = (RETAIN_SPLIT,)
    finetune_splits = tuple(FINETUNE_SPLITS) + tuple(FORGET_SPLITS)  # a forget split: relearning
    sources = data.HUB_SOURCES
    card_metrics = CARD_METRICS
    forget_sizes: dict[str, int] = {}
    leaderboard_metrics = (
        "forget_verbmem_ROUGE",
        "forget_knowmem_ROUGE",
        "retain_knowmem_ROUGE",
        "privleak",
        "extraction_strength",
    )
    #: utility (retain KnowMem) against forgetting (forget VerbMem), as MUSE's paper plots its trade-off
    plot_axes = ("forget_verbmem_ROUGE", "retain_knowmem_ROUGE")
    leaderboard_goals = {
        "forget_verbmem_ROUGE": "low",
        "forget_knowmem_ROUGE": "low",
        "retain_knowmem_ROUGE": "high",
        "privleak": "zero",
        "extraction_strength": "low",
    }
    default_sort = "forget_verbmem_ROUGE"
    card_template = "muse_unlearned_model.md"
    knowledge_metrics = (
        KnowledgeMetric("forget_verbmem_ROUGE"),
        KnowledgeMetric("forget_knowmem_ROUGE"),
        KnowledgeMetric("extraction_strength"),
    )
    utility_metric = "retain_knowmem_ROUGE"

    # ---- data -------------------------------------------------------------------------------------------------
    def retain_split(self, forget_split: str) -> str:
        return RETAIN_SPLIT

    def holdout_split(self, forget_split: str) -> str | None:
        """privleak's holdout documents are a fixed config (`privleak/holdout`), not chosen per forget split."""
        return None

    def load_split(self, split: str, source: str = "auto", corpus: str = "news") -> list[dict]:
        """Documents (`{"text": ...}`) of a forget split, of `retain1`, or of a finetuning split."""
        if split in FORGET_SPLITS:
            config, hub_split = FORGET_SPLITS[split]
            return data.load_split(corpus, config, hub_split, source)
        if split in FINETUNE_SPLITS:
            return [row for part in FINETUNE_SPLITS[split] for row in data.load_split(corpus, "train", part, source)]
        return data.load_split(corpus, "raw", split, source)

    def recipe_problem(self, values: dict) -> str | None:
        corpus = values["data.corpus"]
        key, splits = ("forget_split", [values["forget_split"]])
        if values["task"] == "finetune":
            key, splits = ("finetune_splits", values["finetune_splits"])
        for split in splits:
            config = FORGET_SPLITS.get(split, ("train",))[0]
            if config not in data.SPLITS[corpus]:
                return f"{key}: MUSE {data.TITLES[corpus]} has no '{config}' folds ({split}); they are News only"
        return None

    def run_label(self, recipe, split: str) -> str:
        return f"{data.TITLES[corpus_of(recipe)]}-{split}"

    def train_data(self, recipe, tokenizer) -> TrainData:
        from hf_unlearn.data.collator import NestedPaddingCollator
        from hf_unlearn.data.pairing import ForgetRetainDataset

        if recipe.method_spec.dataset_builder and recipe["task"] == "unlearn":
            raise UserError(
                f"method: {recipe['method']} trains on question-answer rows; MUSE's corpora are raw text "
                "(use GradAscent, GradDiff, NPO, SimNPO, RMU, UNDIAL, WGA, SatImp or CEU)"
            )
        corpus, source, length = corpus_of(recipe), recipe["data.source"], recipe["data.max_length"]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        collator = NestedPaddingCollator(pad)

        def documents(split: str, limit: int | None) -> list[dict]:
            rows = self.load_split(split, source, corpus)
            return rows[:limit] if limit else rows

        def windows(rows: list[dict]) -> list[dict]:
            return cached_text_windows([r["text"] for r in rows], tokenizer, length)

        if recipe["task"] == "finetune":
            train = [r for split in recipe["finetune_splits"] for r in documents(split, recipe["data.forget_limit"])]
            return TrainData([{"train": w} for w in windows(train)], {"train": train}, collator, pad)
        forget = documents(recipe["forget_split"], recipe["data.forget_limit"])
        retain = documents(recipe["retain_split"], recipe["data.retain_limit"])
        dataset = ForgetRetainDataset(windows(forget), windows(retain), seed=recipe["seed"])
        return TrainData(dataset, {"forget": forget, "retain": retain}, collator, pad)

    # ---- evaluation: MUSE's metric engine ---------------------------------------------------------------------
    def eval_settings(self, recipe):
        return engine.settings_from_recipe(recipe)

    def check_metrics(self, metrics: str) -> None:
        engine.check_metrics(metrics)

    def add_eval_arguments(self, group) -> None:
        engine.add_eval_arguments(group)

    def eval_settings_from_args(self, args):
        return engine.settings_from_args(args)

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
        """MUSE scores the saved folder (what is published), so `loaded` is not used."""
        return engine.evaluate(
            model,
            output_dir,
            settings,
            retain_logs=retain_logs,
            retain_model=retain_model,
            no_recompute=no_recompute,
            progress=progress,
            echo=echo,
        )

    def retain_summary(self, result, settings) -> dict | None:
        return engine.retain_summary(result, settings)

    def evaluate_in_memory(self, model, tokenizer, settings, reference=None) -> dict:
        return engine.evaluate_loaded(model, tokenizer, settings, reference)

    # ---- robustness -------------------------------------------------------------------------------------------
    def robustness_settings(self, settings):
        keys = [m.key for m in self.knowledge_metrics] + [self.utility_metric]
        return replace(settings, metrics=tuple(keys))

    def relearn_data(self, settings) -> dict:
        """Finetuning on the evaluated corpus's forget documents (the `forget` split, whose text the VerbMem
        excerpts and KnowMem questions are drawn from)."""
        return {
            "finetune_splits": [self.default_forget_split],
            "data.corpus": settings.corpus,
            "data.source": settings.data_source,
        }

    # ---- card --------------------------------------------------------------------------------------------------
    def run_dataset_id(self, recipe) -> str:
        return data.HUB_IDS[corpus_of(recipe)]

    def card_extras(self, summary: dict | None, target: dict | None, recipe, meta: dict | None = None) -> dict:
        corpus = corpus_of(recipe)
        split = recipe["forget_split"]
        config, hub_split = FORGET_SPLITS.get(split, ("raw", split))
        return {
            "corpus": data.TITLES[corpus],
            "muse_dataset": data.HUB_IDS[corpus],
            "forget_config": f"{config}/{hub_split}",
            "retain_config": f"raw/{recipe['retain_split']}",
            "max_length": recipe["data.max_length"],
            "licence_terms": LICENCE_TERMS.format(dataset=data.HUB_IDS[corpus]),
        }

    def finetune_eval_split(self, finetune_splits: list[str], default: str) -> str:
        return "forget"

    def is_target(self, finetune_splits: list[str]) -> bool:
        return any(s == "full" or s in FORGET_SPLITS for s in finetune_splits)

    def example_prompt(self, split: str) -> str:
        return "What happened at the town council meeting last week?"

    def forget_description(self, forget_split: str, n_rows: int | None) -> str:
        config, hub_split = FORGET_SPLITS.get(forget_split, ("raw", forget_split))
        return f"MUSE's `{config}/{hub_split}` split, {n_rows if n_rows is not None else '?'} documents"
