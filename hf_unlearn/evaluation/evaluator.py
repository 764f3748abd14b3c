"""The TOFU evaluator: model + settings -> `TOFU_EVAL.json`, `TOFU_SUMMARY.json`, `eval_meta.json` and a table.

Stored results are reused only when their fingerprint (weights, tokenizer, data, settings) matches; otherwise they
are recomputed, or, with `no_recompute`, the run stops and says what changed. With a retain model, it is evaluated
first into `<output_dir>/retain/` (itself reused on a fingerprint match) and its logs are the reference for forget
quality, privleak and the Reference attack.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from hf_unlearn.data.formatting import DATE_STRING, SYSTEM_PROMPT, ChatFormatter
from hf_unlearn.data.tofu import FORGET_SPLITS
from hf_unlearn.errors import UserError, first_line
from hf_unlearn.evaluation import fingerprint as fp
from hf_unlearn.evaluation.eval_sets import load_eval_sets
from hf_unlearn.evaluation.gibberish import (
    DEFAULT_GIBBERISH_MODEL,
    GIBBERISH_METRIC,
    SOURCE_METRIC,
    gibberish_metric,
)
from hf_unlearn.evaluation.report import render_table
from hf_unlearn.evaluation.suite import (
    DEFAULT_METRICS,
    closure,
    compute_model_metrics,
    compute_reference_metrics,
    needs,
    parse_metrics,
    summary,
)
from hf_unlearn.models import (
    ModelUnavailableError,
    check_model_folder,
    check_tokenizer_folder,
    load_eval_model,
    load_tokenizer,
    local_model_dir,
)

logger = logging.getLogger(__name__)

EVAL_FILE = "TOFU_EVAL.json"
SUMMARY_FILE = "TOFU_SUMMARY.json"
META_FILE = "eval_meta.json"
RETAIN_SUBDIR = "retain"
#: Bumped whenever a change here changes numbers, so older stored results are recomputed.
EVAL_VERSION = 1
DTYPES = ("auto", "float32", "bfloat16", "float16")


class StaleResultsError(UserError, RuntimeError):
    """Stored results do not match the model or settings, and recomputing was turned off."""


class EvalInputError(UserError, ValueError):
    """A bad evaluation input: unknown metric, unreadable retain logs or holdout file, a bad option."""


@dataclass
class EvalSettings:
    """Everything that decides the numbers (batch sizes and progress bars do not)."""

    forget_split: str = "forget10"
    metrics: tuple[str, ...] = DEFAULT_METRICS
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


@dataclass
class EvalResult:
    output_dir: Path
    results: dict
    summary: dict
    meta: dict
    reused: bool
    retain: EvalResult | None = None
    table: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def eval_path(self) -> Path:
        return self.output_dir / EVAL_FILE


# ---- files --------------------------------------------------------------------------------------------------
def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, data: dict) -> None:
    """Atomic write (temp file + rename), NaN as null, 4-space indent like open-unlearning's files."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=4, allow_nan=False, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_results(output_dir: Path, results: dict, top: tuple[str, ...], meta: dict) -> dict:
    """TOFU_EVAL.json (every metric, top-level keys sorted), TOFU_SUMMARY.json, then eval_meta.json last."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / META_FILE).unlink(missing_ok=True)  # never leave an old fingerprint next to new numbers
    write_json(output_dir / EVAL_FILE, dict(sorted(results.items())))
    top_summary = summary(results, top)
    write_json(output_dir / SUMMARY_FILE, top_summary)
    write_json(output_dir / META_FILE, meta)
    return top_summary


def read_retain_logs(path: str | Path) -> tuple[dict, str]:
    """A retain model's TOFU_EVAL.json (or a folder holding one) and its sha256."""
    path = Path(path)
    if path.is_dir():
        path = path / EVAL_FILE
    if not path.is_file():
        raise EvalInputError(f"retain logs: no such file {path}")
    try:
        logs = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise EvalInputError(f"retain logs: {path} is not valid JSON ({err.msg})") from None
    if not isinstance(logs, dict) or "forget_truth_ratio" not in logs:
        raise EvalInputError(f"retain logs: {path} has no forget_truth_ratio (is it a TOFU_EVAL.json?)")
    return logs, fp.sha256_file(path)


def _read_existing(output_dir: Path) -> tuple[dict | None, dict | None]:
    results = meta = None
    if (output_dir / EVAL_FILE).is_file():
        try:
            results = json.loads((output_dir / EVAL_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            results = None
    if (output_dir / META_FILE).is_file():
        try:
            meta = json.loads((output_dir / META_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            meta = None
    return results, meta


def _what_changed(meta: dict | None, model_sha: str, identity: dict) -> str:
    if meta is None:
        return "no eval_meta.json fingerprint next to them"
    changes = []
    if meta.get("model_sha256") != model_sha:
        changes.append("model weights")
    old = meta.get("settings", {})
    changes += [key for key in sorted(set(old) | set(identity)) if old.get(key) != identity.get(key)]
    return "changed: " + ", ".join(changes) if changes else "fingerprint differs"


# ---- model ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Classifier:
    """forget_Q_A_gibberish's classifier as resolved: its folder and fingerprint, or why it can't be had."""

    name: str
    folder: Path | None = None
    sha256: str | None = None
    reason: str | None = None

    def identity(self) -> dict:
        return {"name": self.name, "sha256": self.sha256 or "absent"}


def resolve_classifier(name: str) -> Classifier:
    """Find the classifier without loading it; a missing one makes the metric absent, never the run fail."""
    try:
        folder = local_model_dir(name, key="gibberish_model")
        return Classifier(name, folder, fp.classifier_fingerprint(folder))
    except (ModelUnavailableError, FileNotFoundError) as err:
        return Classifier(name, reason=first_line(err))


# ---- evaluation ----------------------------------------------------------------------------------------------
def _identity(settings: EvalSettings, sets, tokenizer_dir: Path, classifier: Classifier | None) -> dict:
    holdout = None
    if "holdout" in sets.rows or "holdout" in sets.absent:
        holdout = sets.sources.get("holdout") if "holdout" in sets.rows else "absent"
    return {
        "eval_version": EVAL_VERSION,
        "forget_split": settings.forget_split,
        "metrics": sorted(settings.metrics),
        "holdout": holdout,
        "data": {name: fp.rows_fingerprint(rows)[:16] for name, rows in sorted(sets.rows.items())},
        "eos_as_pad": settings.eos_as_pad,
        "es_one_over_n": settings.es_one_over_n,
        "max_new_tokens": settings.max_new_tokens,
        "limit": settings.limit,
        "dtype": settings.resolved_dtype(),
        "tokenizer_sha256": fp.tokenizer_fingerprint(tokenizer_dir),
        "system_prompt": SYSTEM_PROMPT,
        "date_string": DATE_STRING,
        # only when chosen, so results without the metric keep their fingerprint
        **({"gibberish_model": classifier.identity()} if classifier else {}),
    }


def _load_sets(settings: EvalSettings, datasets: set[str]):
    try:
        return load_eval_sets(
            datasets,
            settings.forget_split,
            settings.data_source,
            settings.holdout_split,
            settings.holdout_file,
            settings.limit,
        )
    except (FileNotFoundError, ValueError) as err:
        raise EvalInputError(str(err)) from None


def evaluate(
    model: str,
    output_dir: str | Path,
    settings: EvalSettings | None = None,
    retain_logs: str | Path | None = None,
    retain_model: str | None = None,
    no_recompute: bool = False,
    self_reference: bool = False,
    progress: bool = True,
    echo: bool = True,
) -> EvalResult:
    """Evaluate `model` (Hub id or folder) on TOFU into `output_dir`, reusing stored results only when current.

    `retain_model` is evaluated first into `output_dir/retain` and used as the reference; `retain_logs` points at
    an existing retain-model TOFU_EVAL.json instead. `self_reference` makes the model its own reference (how the
    retain model's forget quality is 1 and its privleak 0).
    """
    settings = settings or EvalSettings()
    output_dir = Path(output_dir)
    if retain_logs and retain_model:
        raise EvalInputError("pass either --retain-logs or --retain-model, not both")
    retain = None
    if retain_model:
        retain = evaluate(
            retain_model,
            output_dir / RETAIN_SUBDIR,
            settings,
            no_recompute=no_recompute,
            self_reference=True,
            progress=progress,
            echo=False,
        )
        retain_logs = retain.eval_path
    reference, reference_id = (None, None)
    if retain_logs:
        reference, reference_id = read_retain_logs(retain_logs)
    elif self_reference:
        reference_id = "self"

    start = time.perf_counter()
    model_dir = local_model_dir(model)
    tokenizer_dir = local_model_dir(settings.tokenizer, "tokenizer") if settings.tokenizer else model_dir
    check_model_folder(model_dir)
    check_tokenizer_folder(tokenizer_dir, "tokenizer" if settings.tokenizer else "model")
    top = settings.metrics
    names = closure(top)
    need = needs(names)
    sets = _load_sets(settings, need.datasets)
    model_sha = fp.model_fingerprint(model_dir)
    classifier = resolve_classifier(settings.gibberish_model) if GIBBERISH_METRIC in names else None
    identity = _identity(settings, sets, tokenizer_dir, classifier)
    fingerprint = fp.combine({"model_sha256": model_sha, "settings": identity})

    stored, meta = _read_existing(output_dir)
    reused = stored is not None and meta is not None and meta.get("fingerprint") == fingerprint
    stats: dict = {}
    if reused:
        results = dict(stored)
        if meta.get("reference_id") == reference_id:
            top_summary = summary(results, top)
        else:
            results.update(compute_reference_metrics(names, results, results if self_reference else reference))
            meta = {**meta, "reference_id": reference_id, "retain_logs": str(retain_logs) if retain_logs else None}
            top_summary = write_results(output_dir, results, top, meta)
    else:
        if stored is not None or meta is not None:
            why = _what_changed(meta, model_sha, identity)
            if no_recompute:
                raise StaleResultsError(
                    f"stored results in {output_dir} do not match this model/settings ({why}); "
                    "drop --no-recompute to recompute them"
                )
            logger.warning("stored results in %s are stale (%s): recomputing", output_dir, why)
        results, stats = _compute(model_dir, tokenizer_dir, settings, sets, names, progress, classifier)
        results.update(compute_reference_metrics(names, results, results if self_reference else reference))
        meta = {
            "fingerprint": fingerprint,
            "model": str(model),
            "model_dir": str(model_dir),
            "model_sha256": model_sha,
            "settings": identity,
            "reference_id": reference_id,
            "retain_logs": str(retain_logs) if retain_logs else None,
            "device": settings.resolved_device(),
            "wall_time_s": round(time.perf_counter() - start, 2),
            "stats": stats,
            "hf_unlearn_version": _version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        top_summary = write_results(output_dir, results, top, meta)
    title = _title(model, settings, sets, reused)
    table = render_table(results, top, title, retain.results if retain else reference)
    if echo:
        if retain is not None:
            print(f"[hf-unlearn] retain model results: {retain.output_dir} ({'reused' if retain.reused else 'new'})")
        print(table)
        if stats:
            print(_speed_line(stats))
        print(f"[hf-unlearn] wrote {output_dir / EVAL_FILE} and {output_dir / SUMMARY_FILE}")
    return EvalResult(output_dir, results, top_summary, meta, reused, retain, table, stats)


def _compute(
    model_dir, tokenizer_dir, settings: EvalSettings, sets, names, progress: bool, classifier: Classifier | None = None
) -> tuple[dict, dict]:
    import torch

    from hf_unlearn.evaluation.runner import RunOptions, run_model

    device = settings.resolved_device()
    model = load_eval_model(model_dir, settings.resolved_dtype(), device)
    tokenizer = load_tokenizer(str(tokenizer_dir), "tokenizer" if settings.tokenizer else "model")
    formatter = ChatFormatter(tokenizer, eos_as_pad=settings.eos_as_pad)
    options = RunOptions(
        batch_size=settings.batch_size,
        generation_batch_size=settings.resolved_generation_batch_size(),
        max_new_tokens=settings.max_new_tokens,
        eos_as_pad=settings.eos_as_pad,
        es_one_over_n=bool(settings.es_one_over_n),
        progress=progress,
    )
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    outputs, stats = run_model(model, formatter, sets, needs(names), options)
    results = compute_model_metrics(names, outputs)
    out_stats = stats.as_dict()
    if device.startswith("cuda"):
        out_stats["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    if classifier is not None:
        results[GIBBERISH_METRIC] = _gibberish(results, classifier, settings, out_stats)
    return results, out_stats


def _gibberish(results: dict, classifier: Classifier, settings: EvalSettings, stats: dict) -> dict:
    """forget_Q_A_gibberish from forget_Q_A_ROUGE's generations, once the evaluated model is freed."""
    start = time.perf_counter()
    device, dtype = settings.resolved_device(), settings.resolved_dtype()
    entry = gibberish_metric(results[SOURCE_METRIC], classifier.folder, classifier.reason, dtype, device)
    stats["gibberish_s"] = round(time.perf_counter() - start, 3)
    return entry


def _title(model: str, settings: EvalSettings, sets, reused: bool) -> str:
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in sets.rows.items())
    if "holdout" in sets.absent:
        sizes += ", holdout absent"
    return f"TOFU evaluation of {model} on {settings.forget_split} ({sizes}){' [reused stored results]' if reused else ''}"


def _speed_line(stats: dict) -> str:
    parts = []
    if stats.get("sequences_scored"):
        rate = stats["sequences_scored"] / max(stats["scoring_s"], 1e-9)
        parts.append(f"scored {stats['sequences_scored']} sequences in {stats['scoring_s']:.1f}s ({rate:.1f}/s)")
    if stats.get("prompts_generated"):
        rate = stats["tokens_generated"] / max(stats["generation_s"], 1e-9)
        parts.append(
            f"generated {stats['tokens_generated']} tokens for {stats['prompts_generated']} prompts in "
            f"{stats['generation_s']:.1f}s ({rate:.1f} tokens/s)"
        )
    if stats.get("gradnorm_samples"):
        parts.append(f"GradNorm on {stats['gradnorm_samples']} samples in {stats['gradnorm_s']:.1f}s")
    return "[hf-unlearn] " + "; ".join(parts)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hf-unlearn")
    except PackageNotFoundError:
        return "unknown"
