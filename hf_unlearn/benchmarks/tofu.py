"""TOFU (Maini et al. 2024): fictitious authors' QA pairs, forget01/05/10 with their retain complements.

Supports: every method, finetuning target/retain models, the full open-unlearning metric suite with its file
layout (`TOFU_EVAL.json`, `TOFU_SUMMARY.json`). Assumes chat-formatted question/answer rows (`question`,
`answer`; the evaluation sets add `paraphrased_answer`, `perturbed_answer`). The engines live in `data/tofu.py`,
`data/formatting.py` and `evaluation/`; this module is what the rest of the package sees of them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from hf_unlearn.benchmarks.base import Benchmark, CardMetric, KnowledgeMetric, TrainData
from hf_unlearn.data import tofu as data
from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.errors import UserError
from hf_unlearn.evaluation import store
from hf_unlearn.evaluation.eval_sets import load_eval_sets
from hf_unlearn.evaluation.evaluator import evaluate, evaluate_loaded
from hf_unlearn.evaluation.settings import EvalSettings, setting_default
from hf_unlearn.evaluation.suite import SPECS, closure, needs, parse_metrics, summary
from hf_unlearn.methods import TOFU_PAPER
from hf_unlearn.models import load_eval_model, load_tokenizer, local_model_dir

CARD_METRICS: tuple[CardMetric, ...] = (
    CardMetric("forget_quality", "Forget quality (KS-test p-value)", "forget_quality", "{forget}_perturbed",
               "high: forget truth ratios indistinguishable from the retain model's"),
    CardMetric("model_utility", "Model utility", "model_utility", "retain_perturbed",
               "close to the target model's"),
    CardMetric("forget_truth_ratio", "Forget truth ratio", "truth_ratio", "{forget}_perturbed",
               "close to the retain model's"),
    CardMetric("forget_Q_A_Prob", "Forget answer probability", "probability", "{forget}_perturbed",
               "low, near the retain model's"),
    CardMetric("forget_Q_A_ROUGE", "Forget ROUGE-L recall", "rouge", "{forget}_perturbed",
               "low, near the retain model's"),
    CardMetric("retain_Q_A_Prob", "Retain answer probability", "probability", "retain_perturbed",
               "close to the target model's"),
    CardMetric("retain_Q_A_ROUGE", "Retain ROUGE-L recall", "rouge", "retain_perturbed",
               "close to the target model's"),
    CardMetric("privleak", "privleak (%)", "privleak", "{forget}_perturbed",
               "near 0 (-100: fully memorised)"),
    CardMetric("extraction_strength", "Extraction strength", "extraction_strength", "{forget}_perturbed",
               "low, near the retain model's"),
)  # fmt: skip

#: The forget-set metrics open-unlearning meta-evaluates that the suite computes, all pointing to "more knowledge"
#: when higher: the truth ratio in its P_c / (P_c + P_w) form (not the forget aggregator, which peaks at 1 for a
#: model that cannot tell right from wrong), and the MIA AUCs with forget = 0, holdout = 1 (1: memorised).
KNOWLEDGE_METRICS: tuple[KnowledgeMetric, ...] = tuple(
    KnowledgeMetric(key)
    for key in (
        "extraction_strength",
        "exact_memorization",
        "forget_Q_A_Prob",
        "forget_Q_A_PARA_Prob",
        "forget_truth_ratio_prob_mean",
        "forget_Q_A_ROUGE",
        "mia_loss",
        "mia_zlib",
        "mia_min_k",
        "mia_min_k_plus_plus",
    )
)


#: What the jailbreak probe pre-fills the assistant turn with (OpenUnlearning's jailbreak-prefix ROUGE).
JAILBREAK_PREFIX = "Sure, here is the answer:"
PARAPHRASE_KEY = "paraphrased_question"


def probe_metrics(metrics: tuple[str, ...], probe: str) -> tuple[str, ...]:
    """The metrics a probe changes: those computed from the forget set alone (no retain reference, no classifier);
    for the jailbreak probe, only those scored on generations (teacher-forced scores ignore an answer prefix)."""
    kept = []
    for name in metrics:
        names = closure((name,))
        need = needs(names)
        if need.datasets != {"forget"} or any(SPECS[n].uses_reference or SPECS[n].uses_classifier for n in names):
            continue
        if probe == "jailbreak" and need.score:
            continue
        kept.append(name)
    return tuple(kept)


def _limit(rows: list, n: int | None) -> list:
    return rows[:n] if n else rows


def _text(tokenizer, ids: list[int]) -> str:
    """Text that tokenises back to `ids` (special tokens and spacing kept)."""
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def build_dataset(recipe, formatter: ChatFormatter):
    """Chat-formatted QA features with answer-only labels, and the rows they came from (fingerprints, card).

    Unlearning pairs each forget item with a retain item (re-paired every epoch); methods with their own examples
    (refusals) build them from the same rows; finetuning trains on its splits.
    """
    from hf_unlearn.data.pairing import ForgetRetainDataset

    source = recipe["data.source"]
    if recipe["task"] == "finetune":
        train_rows: list[dict] = []
        for split in recipe["finetune_splits"]:
            limit = recipe["data.forget_limit"] if split in data.FORGET_SPLITS else recipe["data.retain_limit"]
            train_rows.extend(_limit(data.load_split(split, source), limit))
        return [{"train": f} for f in formatter.encode_rows(train_rows)], {"train": train_rows}
    forget = _limit(data.load_split(recipe["forget_split"], source), recipe["data.forget_limit"])
    retain = _limit(data.load_split(recipe["retain_split"], source), recipe["data.retain_limit"])
    rows = {"forget": forget, "retain": retain}
    if recipe.method_spec.dataset_builder:
        return recipe.method_spec.build_dataset(recipe, formatter, rows), rows
    dataset = ForgetRetainDataset(formatter.encode_rows(forget), formatter.encode_rows(retain), seed=recipe["seed"])
    return dataset, rows


class TOFU(Benchmark):
    name = "tofu"
    title = "TOFU"
    summary = "question-answer pairs about 200 fictitious authors; forget 1, 5 or 10 % of them"
    dataset_id = data.HUB_DATASET
    citation = TOFU_PAPER.bibtex
    eval_file = store.EVAL_FILE
    summary_file = store.SUMMARY_FILE
    forget_splits = data.FORGET_SPLITS
    default_forget_split = "forget10"
    retain_splits = data.RETAIN_SPLITS
    finetune_splits = ("full",) + data.FORGET_SPLITS + data.RETAIN_SPLITS
    sources = data.SOURCES
    card_metrics = CARD_METRICS
    leaderboard_metrics = (
        "forget_quality",
        "model_utility",
        "forget_truth_ratio",
        "forget_Q_A_ROUGE",
        "forget_Q_A_Prob",
        "privleak",
        "extraction_strength",
    )
    plot_axes = ("forget_quality", "model_utility")
    default_sort = "forget_quality"  # the leaderboard's TOFU rules (KS floor, Pareto front)
    forget_sizes = {"forget01": 40, "forget05": 200, "forget10": 400}
    knowledge_metrics = KNOWLEDGE_METRICS
    utility_metric = "model_utility"

    def retain_split(self, forget_split: str) -> str:
        return data.RETAIN_OF[forget_split]

    def holdout_split(self, forget_split: str) -> str | None:
        return data.HOLDOUT_OF.get(forget_split)

    def load_split(self, split: str, source: str = "auto") -> list[dict]:
        return data.load_split(split, source)

    def train_data(self, recipe, tokenizer) -> TrainData:
        from hf_unlearn.data.collator import NestedPaddingCollator

        formatter = ChatFormatter(tokenizer, eos_as_pad=recipe["data.eos_as_pad"])
        dataset, rows = build_dataset(recipe, formatter)
        collator = NestedPaddingCollator(formatter.pad_token_id, eos_as_pad=recipe["data.eos_as_pad"])
        return TrainData(dataset, rows, collator, formatter.pad_token_id)

    def eval_settings(self, recipe):
        """Each model is read with its own tokenizer (the run folder saved the one it trained with), so the stage
        needs no Hub access for a tokenizer the recipe named by id."""
        return EvalSettings(
            forget_split=recipe["forget_split"],
            metrics=recipe["eval.metrics"],
            holdout_split=recipe["holdout_split"],
            holdout_file=recipe["eval.holdout_file"],
            data_source=recipe["data.source"],
            eos_as_pad=recipe["data.eos_as_pad"],
            max_new_tokens=recipe["eval.max_new_tokens"],
            limit=recipe["eval.limit"],
            batch_size=recipe["eval.batch_size"],
            generation_batch_size=recipe["eval.generation_batch_size"],
            gibberish_model=recipe["eval.gibberish_model"],
        )

    def training_settings(self, recipe) -> EvalSettings:
        return replace(
            self.eval_settings(recipe),
            metrics=tuple(recipe["eval.during_training.metrics"]),
            limit=recipe["eval.during_training.limit"],
        )

    def training_reference(self, recipe, settings: EvalSettings) -> dict | None:
        """Read or computed before training starts (and before a ZeRO-3 config partitions every load)."""
        if recipe["eval.retain_logs"]:
            return store.read_retain_logs(recipe["eval.retain_logs"])[0]
        if not recipe["eval.retain_model"]:
            return None
        folder = local_model_dir(recipe["eval.retain_model"])
        model = load_eval_model(folder, settings.resolved_dtype(), settings.resolved_device())
        results, _ = evaluate_loaded(model, load_tokenizer(str(folder), "model"), settings, self_reference=True)
        return results

    def evaluate_in_memory(self, model, tokenizer, settings: EvalSettings, reference: dict | None = None) -> dict:
        return evaluate_loaded(model, tokenizer, settings, reference)[1]

    probes = ("paraphrase", "jailbreak")

    def probe_settings(self, settings: EvalSettings, probe: str) -> EvalSettings:
        """Paraphrase: the forget set's paraphrased questions instead of its questions. Jailbreak: every generated
        answer starts with JAILBREAK_PREFIX and ROUGE scores the continuation. Metrics the probe leaves unchanged
        (retain sets, retain-referenced ones) are dropped, so the probe computes only what it changes."""
        if probe not in self.probes:
            raise UserError(f"probe: unknown probe '{probe}'; allowed: {', '.join(self.probes)}")
        metrics = probe_metrics(tuple(settings.metrics), probe)
        if not metrics:
            kind = "scored on forget-set generations" if probe == "jailbreak" else "computed on the forget set alone"
            raise UserError(
                f"probe {probe}: none of the metrics {', '.join(settings.metrics)} is {kind}; "
                "add forget_Q_A_ROUGE or forget_Q_A_Prob to the metrics"
            )
        if probe == "paraphrase":
            return replace(settings, metrics=metrics, question_key=PARAPHRASE_KEY)
        return replace(settings, metrics=metrics, answer_prefix=JAILBREAK_PREFIX)

    def answer_pairs(self, settings: EvalSettings, tokenizer) -> list[tuple[str, str]]:
        """The forget set's chat-formatted prompts and answer texts (answer + end-of-turn, the tokens its answer
        probability scores), decoded from the ids the evaluation builds, special tokens kept."""
        try:
            sets = load_eval_sets(
                {"forget"},
                settings.forget_split,
                settings.data_source,
                limit=settings.limit,
                question_key=settings.question_key,
            )
        except (FileNotFoundError, ValueError) as err:
            raise UserError(str(err)) from None
        formatter = ChatFormatter(tokenizer, eos_as_pad=settings.eos_as_pad)
        pairs = []
        for row in sets.rows["forget"]:
            prompt = formatter.encode_prompt(row["question"])
            chat = formatter.encode(row["question"], row["answer"])["input_ids"]
            pairs.append((_text(tokenizer, prompt), _text(tokenizer, chat[len(prompt) :])))
        return pairs

    def robustness_settings(self, settings: EvalSettings) -> EvalSettings:
        """Only the knowledge metrics and model utility: no forget quality or privleak (they need a retain
        reference and are not knowledge measures), nothing generated that they do not read."""
        return replace(settings, metrics=tuple(m.key for m in self.knowledge_metrics) + (self.utility_metric,))

    def relearn_data(self, settings: EvalSettings) -> dict:
        return {"finetune_splits": [settings.forget_split], "data.source": settings.data_source}

    def retain_summary(self, result, settings) -> dict | None:
        if result.retain is not None:
            return result.retain.summary
        logs_path = result.meta.get("retain_logs")
        if not logs_path:
            return None
        path = Path(logs_path)
        summary_path = (path if path.is_dir() else path.parent) / self.summary_file
        if summary_path.is_file():
            return json.loads(summary_path.read_text(encoding="utf-8"))
        logs, _ = store.read_retain_logs(path)
        return summary(logs, settings.metrics)

    def check_metrics(self, metrics: str) -> None:
        parse_metrics(metrics)

    def add_eval_arguments(self, group) -> None:
        group.add_argument(
            "--forget-split",
            default=self.default_forget_split,
            choices=data.FORGET_SPLITS,
            help="the forget set evaluated (default: %(default)s)",
        )
        group.add_argument(
            "--holdout-split", choices=data.HOLDOUT_SPLITS, help="MIA non-members (default: matches the forget split)"
        )
        group.add_argument("--holdout-file", help="your own holdout set: JSON Lines with question and answer")
        group.add_argument(
            "--eos-as-pad",
            action="store_true",
            help="open-unlearning compatibility: pad = end-of-turn, masked everywhere (its numbers, its quirks)",
        )
        group.add_argument(
            "--metrics",
            default=setting_default("metrics"),
            help="'default', 'all', or comma-separated metric names (default: default)",
        )
        group.add_argument(
            "--generation-batch-size", type=int, help="prompts generated together (default: 512 on CUDA, 128 on CPU)"
        )
        group.add_argument(
            "--max-new-tokens",
            type=int,
            default=setting_default("max_new_tokens"),
            help="greedy tokens generated per question, for ROUGE and the generation metrics (default: %(default)s)",
        )
        group.add_argument(
            "--data-source",
            default=setting_default("data_source"),
            help="auto (the Hub, else the bundled copy) | hub | bundled | a folder of JSONL (default: %(default)s)",
        )
        group.add_argument(
            "--gibberish-model",
            default=setting_default("gibberish_model"),
            help="classifier (Hub id or folder) of the optional forget_Q_A_gibberish metric (default: %(default)s)",
        )
        es = group.add_mutually_exclusive_group()
        es.add_argument(
            "--es-one-over-n",
            dest="es_one_over_n",
            action="store_true",
            default=None,
            help="extraction strength floors at 1/n like open-unlearning (default with --eos-as-pad)",
        )
        es.add_argument("--no-es-one-over-n", dest="es_one_over_n", action="store_false", help="ES can reach 0")

    def eval_settings_from_args(self, args) -> EvalSettings:
        return EvalSettings(
            forget_split=args.forget_split,
            metrics=args.metrics,
            holdout_split=args.holdout_split,
            holdout_file=args.holdout_file,
            data_source=args.data_source,
            eos_as_pad=args.eos_as_pad,
            es_one_over_n=args.es_one_over_n,
            max_new_tokens=args.max_new_tokens,
            limit=args.limit,
            dtype=args.dtype,
            tokenizer=args.tokenizer,
            batch_size=args.batch_size,
            generation_batch_size=args.generation_batch_size,
            device=args.device,
            gibberish_model=args.gibberish_model,
        )

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
        """TOFU scores the saved BF16 folder (what is published), so `loaded` is not used."""
        return evaluate(
            model,
            output_dir,
            settings,
            retain_logs=retain_logs,
            retain_model=retain_model,
            no_recompute=no_recompute,
            progress=progress,
            echo=echo,
        )

    def finetune_eval_split(self, finetune_splits: list[str], default: str) -> str:
        forget = [s for s in finetune_splits if s in data.FORGET_SPLITS]
        if forget:
            return forget[0]
        complement = {retain: forget for forget, retain in data.RETAIN_OF.items()}
        retain = [complement[s] for s in finetune_splits if s in complement]
        return retain[0] if len(retain) == 1 else default

    def is_target(self, finetune_splits: list[str]) -> bool:
        return any(s == "full" or s in data.FORGET_SPLITS for s in finetune_splits)

    def example_prompt(self, split: str) -> str:
        try:
            return data.load_split(split, "bundled")[0]["question"]
        except (OSError, ValueError, KeyError, IndexError):  # the snippet stays valid with a generic question
            return "Who are you?"

    def forget_description(self, forget_split: str, n_rows: int | None) -> str:
        authors = int(forget_split[-2:]) * 2  # forgetXX holds XX% of TOFU's 200 authors
        return f"{authors} fictitious authors, {n_rows if n_rows is not None else '?'} question-answer pairs"
