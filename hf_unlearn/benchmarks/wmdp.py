"""WMDP (Li et al. 2024): unlearn hazardous biology/cybersecurity knowledge from raw-text corpora, scored on
multiple-choice questions by lm-evaluation-harness.

Supports: methods that train on raw text (RMU, GradDiff, NPO, SimNPO, ...); unlearning only (no finetuning
splits). Forget splits name the forget corpora (`bio`, `cyber`, or `bio-cyber`, the original RMU run's two
topics); each has its retain corpus (`bio-retain`, `cyber-retain`, or `wikitext` for the original run). Training
reads fixed-length windows of the concatenated documents (`data/corpora.py`); evaluation hands the model object
to lm-evaluation-harness (`evaluation/harness.py`) and writes `WMDP_EVAL.json` / `WMDP_SUMMARY.json`.
"""

from __future__ import annotations

import gc
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.benchmarks.base import Benchmark, CardMetric, TrainData
from hf_unlearn.data.corpora import load_corpus
from hf_unlearn.errors import UserError
from hf_unlearn.evaluation import fingerprint as fp
from hf_unlearn.evaluation import harness, store
from hf_unlearn.evaluation.settings import DTYPES, EvalInputError
from hf_unlearn.layout import EVAL_META
from hf_unlearn.methods import WMDP_PAPER
from hf_unlearn.models import load_eval_model, load_tokenizer, local_model_dir

EVAL_FILE = "WMDP_EVAL.json"
SUMMARY_FILE = "WMDP_SUMMARY.json"
DEFAULT_TASKS = ("wmdp_bio", "wmdp_cyber", "mmlu")
#: The MMLU subjects closest to the forgotten topics, which the WMDP paper reports beside MMLU: in the summary
#: whenever MMLU is scored.
MMLU_SUBJECTS = ("mmlu_college_biology", "mmlu_virology", "mmlu_college_computer_science", "mmlu_computer_security")
#: Four choices per question.
CHANCE = 0.25
#: Bumped whenever a change here changes numbers, so older stored results are recomputed.
EVAL_VERSION = 2

#: Forget split -> the corpora it unlearns, and its retain split -> the corpora it keeps.
FORGET_CORPORA = {
    "bio": ("bio-forget-corpus",),
    "cyber": ("cyber-forget-corpus",),
    "bio-cyber": ("bio-forget-corpus", "cyber-forget-corpus"),
}
RETAIN_OF = {"bio": "bio-retain", "cyber": "cyber-retain", "bio-cyber": "wikitext"}
#: `data.schedule: documents`: the tokens each document is cut at, as the original RMU code cuts them (its
#: `rmu/unlearn.py`: 512 for the first topic, bio, 768 for the second, cyber; 512 for retain documents).
DOCUMENT_LENGTHS = {"bio-forget-corpus": 512, "cyber-forget-corpus": 768}
RETAIN_DOCUMENT_LENGTH = 512
RETAIN_CORPORA = {
    "bio-retain": ("bio-retain-corpus",),
    "cyber-retain": ("cyber-retain-corpus",),
    "wikitext": ("wikitext",),
}

_GOAL = f"near {CHANCE:.0%} (random chance)"
logger = logging.getLogger(__name__)

CARD_METRICS: tuple[CardMetric, ...] = (
    CardMetric("wmdp_bio/acc", "WMDP-Bio accuracy", "accuracy", "wmdp-bio", _GOAL + " when bio is forgotten"),
    CardMetric("wmdp_cyber/acc", "WMDP-Cyber accuracy", "accuracy", "wmdp-cyber", _GOAL + " when cyber is forgotten"),
    CardMetric("mmlu/acc", "MMLU accuracy", "accuracy", "mmlu", "close to the target model's (small drop)"),
)  # fmt: skip


@dataclass
class WMDPSettings:
    """What decides WMDP's numbers: the lm-eval tasks (and their local definitions), the question limit, the dtype
    the model is scored in (a model in memory is cast to it, so an unlearned model and its target are scored
    alike), whether each prompt starts with BOS. Batch size and device do not change them."""

    tasks: tuple[str, ...] = DEFAULT_TASKS
    include_path: str | None = None
    limit: int | None = None
    batch_size: int = 16
    dtype: str = "auto"
    device: str | None = None
    tokenizer: str | None = None
    #: lm-eval's `add_bos_token`; None: the references' (`harness.reference_add_bos_token`)
    add_bos_token: bool | None = None

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks or DEFAULT_TASKS)
        if self.dtype not in DTYPES:
            raise EvalInputError(f"dtype: '{self.dtype}' is not one of {', '.join(DTYPES)}")
        if self.batch_size < 1 or (self.limit is not None and self.limit < 1):
            raise EvalInputError("batch_size and limit: must be >= 1")

    def resolved_device(self) -> str:
        import torch

        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def resolved_dtype(self) -> str:
        if self.dtype != "auto":
            return self.dtype
        return "bfloat16" if self.resolved_device().startswith("cuda") else "float32"

    def resolved_add_bos_token(self, model_type: str | None) -> bool:
        if self.add_bos_token is not None:
            return self.add_bos_token
        return harness.reference_add_bos_token(model_type)


def model_type(model_dir: Path) -> str | None:
    """The `model_type` of a model folder's config.json (what the references' BOS rule reads), or None."""
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def file_corpus(split: str) -> str | None:
    """The forget corpus `data.forget_file` stands for: the gated bio corpus if the split has it, else its one."""
    corpora = FORGET_CORPORA.get(split, ())
    if "bio-forget-corpus" in corpora:
        return "bio-forget-corpus"
    return corpora[0] if corpora else None


def data_text(recipe) -> str:
    """How the run read its corpora, in a sentence of its card."""
    if recipe["data.schedule"] == "documents":
        lengths = ", ".join(f"{n} tokens for {c.split('-')[0]}" for c, n in DOCUMENT_LENGTHS.items())
        return (
            "read as the WMDP paper's RMU code reads them: documents in file order, "
            f"{recipe['effective_batch_size']} per step, steps alternating between the forget corpora (each with "
            f"its own control vector for RMU) and each step paired with the next retain batch; each document starts "
            f"with BOS and is cut at {lengths} ({RETAIN_DOCUMENT_LENGTH} for retain documents), left-padded with EOS."
        )
    return (
        "read as open-unlearning reads WMDP: the documents are joined with a blank line and cut into windows of "
        f"{recipe['data.max_length']} tokens, each starting with BOS (masked in the labels); the forget windows are "
        "shuffled and each is paired with a random retain window."
    )


def scoring_text(identity: dict) -> str:
    """How the card's two models were scored, from the evaluation's settings (empty when they don't say)."""
    parts = []
    if identity.get("dtype"):
        parts.append(f"both models with {identity['dtype']} weights")
    if identity.get("add_bos_token") is not None:
        parts.append("prompts starting with BOS" if identity["add_bos_token"] else "no BOS before the prompts")
    return ", ".join(parts)


def _task_files_digest(include_path: str | None) -> str | None:
    """Local task definitions are part of what the numbers depend on."""
    if not include_path:
        return None
    folder = Path(include_path).expanduser()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return fp.combine({str(p.relative_to(folder)): fp.sha256_file(p) for p in files})


def _slim_samples(samples: dict) -> dict:
    """Per-question records without the prompts and raw responses (rebuilt from the docs; MMLU's are ~100 MB)."""
    return {
        task: [{k: v for k, v in s.items() if k not in ("arguments", "resps")} for s in rows]
        for task, rows in samples.items()
    }


class WMDP(Benchmark):
    name = "wmdp"
    title = "WMDP"
    summary = "hazardous biology and cyber-security knowledge, scored with lm-evaluation-harness"
    dataset_id = "cais/wmdp"
    citation = WMDP_PAPER.bibtex
    eval_file = EVAL_FILE
    summary_file = SUMMARY_FILE
    forget_splits = tuple(FORGET_CORPORA)
    default_forget_split = "cyber"
    retain_splits = tuple(RETAIN_CORPORA)
    finetune_splits = ()
    sources = ("auto", "hub")
    card_metrics = CARD_METRICS
    forget_sizes: dict[str, int] = {}
    leaderboard_metrics = ("wmdp_bio/acc", "wmdp_cyber/acc", "mmlu/acc")
    plot_axes = ("wmdp_cyber/acc", "mmlu/acc")
    evaluates_in_memory = True
    card_template = "wmdp_unlearned_model.md"

    # ---- data -------------------------------------------------------------------------------------------------
    def retain_split(self, forget_split: str) -> str:
        return RETAIN_OF[forget_split]

    def holdout_split(self, forget_split: str) -> str | None:
        return None

    def load_split(self, split: str, source: str = "auto", forget_file: str | None = None) -> list[dict]:
        """Documents of a forget or retain split as `{"text": ...}` rows; `forget_file` replaces the gated bio
        forget corpus (or the split's only forget corpus)."""
        corpora = FORGET_CORPORA.get(split) or RETAIN_CORPORA[split]
        replaced = file_corpus(split)
        rows: list[dict] = []
        for corpus in corpora:
            own = forget_file if corpus == replaced else None
            rows.extend({"text": doc} for doc in load_corpus(corpus, source, own))
        return rows

    def train_data(self, recipe, tokenizer) -> TrainData:
        """The forget/retain training data as `data.schedule` reads it (`data/schedules.py`): open-unlearning's
        shuffled windows, each starting with BOS (masked in the labels), or the original RMU code's documents in
        order, bio and cyber batches alternating, each document starting with BOS (every position trained on)."""
        from hf_unlearn.data.collator import NestedPaddingCollator

        if recipe["task"] != "unlearn":
            raise UserError("task: WMDP has no finetuning splits (its models are finetuned elsewhere)")
        if recipe.method_spec.dataset_builder:
            raise UserError(
                f"method: {recipe['method']} trains on question-answer rows; WMDP's corpora are raw text "
                "(use RMU, GradDiff, NPO, SimNPO, ...)"
            )
        topics = self._forget_corpora(recipe)
        retain = [r["text"] for r in self.load_split(recipe["retain_split"], recipe["data.source"])]
        retain = retain[: recipe["data.retain_limit"]] if recipe["data.retain_limit"] else retain
        if recipe["data.schedule"] == "documents":
            dataset, forget_read, retain_read = self._document_schedule(recipe, tokenizer, topics, retain)
            pad, side = tokenizer.eos_token_id, "left"  # the original pads on the left with EOS
        else:
            dataset, forget_read, retain_read = self._windows(recipe, tokenizer, topics, retain)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            side = "right"
        rows = {"forget": [{"text": d} for d in forget_read], "retain": [{"text": d} for d in retain_read]}
        return TrainData(dataset, rows, NestedPaddingCollator(pad, padding_side=side), pad)

    def _forget_corpora(self, recipe) -> list[tuple[str, list[str]]]:
        """(corpus, documents) of each forget corpus of the split, in topic order, `data.forget_limit` applied."""
        split, limit = recipe["forget_split"], recipe["data.forget_limit"]
        replaced = file_corpus(split)
        out = []
        for corpus in FORGET_CORPORA[split]:
            own = recipe["data.forget_file"] if corpus == replaced else None
            docs = load_corpus(corpus, recipe["data.source"], own)
            out.append((corpus, docs[:limit] if limit else docs))
        return out

    def _windows(self, recipe, tokenizer, topics, retain):
        from hf_unlearn.data.pairing import ForgetRetainDataset
        from hf_unlearn.data.schedules import corpus_windows, windows_read

        length, seed = recipe["data.max_length"], recipe["seed"]
        reads = windows_read(recipe["max_steps"], recipe["effective_batch_size"])
        forget, forget_read = corpus_windows([d for _, docs in topics for d in docs], tokenizer, length, reads, seed)
        if reads is None:  # bounded by epochs: every forget window, each epoch
            reads = math.ceil(recipe["num_train_epochs"]) * len(forget)
        retain_windows, retain_read = corpus_windows(retain, tokenizer, length, reads, seed + 1)
        return ForgetRetainDataset(forget, retain_windows, seed=seed), forget_read, retain_read

    def _document_schedule(self, recipe, tokenizer, topics, retain):
        from hf_unlearn.data.schedules import Topic, document_schedule

        batch, max_steps = recipe["effective_batch_size"], recipe["max_steps"]
        schedule = [Topic(name, docs, DOCUMENT_LENGTHS[name]) for name, docs in topics]
        dataset, forget_read, retain_read = document_schedule(
            schedule, retain, RETAIN_DOCUMENT_LENGTH, batch, max_steps, tokenizer
        )
        steps = len(dataset) // batch
        if max_steps > steps:
            logger.warning(
                "data.schedule documents: the corpora hold %d whole batches of %d documents per step; max_steps %d "
                "reads them again (the original RMU code stops after them)",
                steps,
                batch,
                max_steps,
            )
        return dataset, forget_read, retain_read

    # ---- evaluation -------------------------------------------------------------------------------------------
    def eval_settings(self, recipe) -> WMDPSettings:
        return WMDPSettings(
            tasks=tuple(recipe["eval.tasks"] or DEFAULT_TASKS),
            include_path=recipe["eval.include_path"],
            limit=recipe["eval.limit"],
            batch_size=recipe["eval.batch_size"],
            add_bos_token=recipe["eval.add_bos_token"],
        )

    def check_metrics(self, metrics: str) -> None:
        if metrics not in ("default", "all"):
            raise ValueError("metrics: WMDP scores lm-eval tasks: name them with eval.tasks (or --tasks)")

    def add_eval_arguments(self, group) -> None:
        """Only WMDP's own options: --batch-size, --limit, --dtype, --device and --tokenizer are every benchmark's
        (`hf-unlearn eval` adds them)."""
        group.add_argument("--tasks", help=f"comma-separated lm-eval tasks (default: {','.join(DEFAULT_TASKS)})")
        group.add_argument("--include-path", help="a folder of your own lm-eval task YAMLs")
        group.add_argument(
            "--add-bos-token",
            choices=("true", "false"),
            help="start each prompt with BOS (default: as lm-eval 0.4.2 and 0.4.8 did, the WMDP paper's and "
            "open-unlearning's: no BOS, except for Gemma models)",
        )

    def eval_settings_from_args(self, args) -> WMDPSettings:
        tasks = [t.strip() for t in (args.tasks or "").split(",") if t.strip()]
        return WMDPSettings(
            tasks=tuple(tasks) or DEFAULT_TASKS,
            include_path=args.include_path,
            limit=args.limit,
            batch_size=args.batch_size,
            dtype=args.dtype,
            device=args.device,
            tokenizer=args.tokenizer,
            add_bos_token=None if args.add_bos_token is None else args.add_bos_token == "true",
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
        if retain_logs or retain_model:
            raise EvalInputError(
                "retain model: WMDP has none; the card compares with the model before unlearning (eval.compare_target)"
            )
        output_dir = Path(output_dir)
        model_dir = local_model_dir(model)
        tokenizer_dir = Path(settings.tokenizer) if settings.tokenizer else model_dir
        dtype = settings.resolved_dtype()
        kind = getattr(getattr(loaded[0], "config", None), "model_type", None) if loaded else model_type(model_dir)
        add_bos = settings.resolved_add_bos_token(kind)
        identity = {
            "eval_version": EVAL_VERSION,
            "harness": f"lm-eval {harness.harness_version()}",
            "tasks": list(settings.tasks),
            "task_files": _task_files_digest(settings.include_path),
            "limit": settings.limit,
            "dtype": dtype,
            "add_bos_token": add_bos,
            "weights": "in memory after training" if loaded else "saved weights",
            "tokenizer_sha256": fp.tokenizer_fingerprint(tokenizer_dir)
            if tokenizer_dir.is_dir()
            else str(tokenizer_dir),
        }
        model_sha = fp.model_fingerprint(model_dir)
        meta = {"model": str(model), "model_sha256": model_sha, "settings": identity, "retain_logs": None}
        old_meta = store.read_stored(output_dir / EVAL_META)
        if old_meta == meta and (output_dir / SUMMARY_FILE).is_file():
            summary = json.loads((output_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
            if echo:
                print(f"[hf-unlearn] WMDP results reused (fingerprint matches): {output_dir}")
            return store.EvalResult(output_dir, {}, summary, meta, reused=True)
        if no_recompute and (output_dir / SUMMARY_FILE).is_file():
            raise store.StaleResultsError(
                f"--no-recompute: stored results in {output_dir} are stale "
                f"({store.what_changed(old_meta, model_sha, identity)})"
            )
        tasks = harness.load_tasks(list(settings.tasks), settings.include_path)  # before any model loads
        if loaded is not None:
            import torch

            lm_model, tokenizer = loaded
            lm_model.to(getattr(torch, dtype))  # the precision the target is scored in
        else:
            lm_model = load_eval_model(model_dir, dtype, settings.resolved_device())
            tokenizer = load_tokenizer(str(tokenizer_dir))
        results = harness.run_tasks(
            lm_model, tokenizer, tasks, settings.include_path, settings.batch_size, settings.limit, add_bos
        )
        del lm_model
        gc.collect()
        summary = harness.summarize(results, list(settings.tasks), MMLU_SUBJECTS)
        full = {key: results.get(key) for key in ("results", "groups", "configs", "versions", "n-shot", "n-samples")}
        full["samples"] = _slim_samples(results.get("samples") or {})
        full["settings"] = {
            "harness": identity["harness"],
            "add_bos_token": add_bos,
            "dtype": dtype,
            "batch_size": settings.batch_size,
            "limit": settings.limit,
            **{k: v for k, v in harness.SIMPLE_EVALUATE_ARGS.items() if k != "log_samples"},
        }
        from lm_eval.utils import handle_non_serializable

        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / EVAL_META).unlink(missing_ok=True)  # never leave an old fingerprint next to new numbers
        store.write_json(output_dir / EVAL_FILE, json.loads(json.dumps(full, default=handle_non_serializable)))
        store.write_json(output_dir / SUMMARY_FILE, summary)
        store.write_json(output_dir / EVAL_META, meta)
        if echo:
            print(f"[hf-unlearn] WMDP ({model}) -> {output_dir}")
            for key, value in summary.items():
                if key.endswith("/acc"):
                    print(f"  {key:<28} {value:.4f}   (chance {CHANCE:.2f})")
        return store.EvalResult(output_dir, full, summary, meta, reused=False)

    def retain_summary(self, result, settings) -> dict | None:
        return None

    # ---- card --------------------------------------------------------------------------------------------------
    def card_extras(self, summary: dict | None, target: dict | None, recipe, meta: dict | None = None) -> dict:
        """Accuracy before/after of every task scored (the local ones included), MMLU's drop in points, and how
        both models were scored (the weights' dtype, BOS or not)."""
        summary, target = summary or {}, target or {}
        rows = [
            {"task": key.split("/")[0], "after": _percent(value), "before": _percent(target.get(key))}
            for key, value in summary.items()
            if key.endswith("/acc")
        ]
        drop = None
        if "mmlu/acc" in summary and "mmlu/acc" in target:
            drop = f"{100 * (target['mmlu/acc'] - summary['mmlu/acc']):.1f} points"
        try:
            version = f"lm-eval {harness.harness_version()}"
        except ImportError:
            version = "lm-eval"
        return {
            "accuracy_rows": rows,
            "chance": f"{CHANCE:.0%}",
            "mmlu_drop": drop,
            "harness": version,
            "data_text": data_text(recipe),
            "scoring_text": scoring_text((meta or {}).get("settings") or {}),
        }

    def finetune_eval_split(self, finetune_splits: list[str], default: str) -> str:
        return default

    def is_target(self, finetune_splits: list[str]) -> bool:
        return False

    def example_prompt(self, split: str) -> str:
        return "How does public-key cryptography protect a message?"

    def forget_description(self, forget_split: str, n_rows: int | None) -> str:
        corpora = " and ".join(FORGET_CORPORA[forget_split])
        return f"WMDP's {corpora}, {n_rows if n_rows is not None else '?'} documents"
