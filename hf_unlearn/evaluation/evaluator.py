"""The TOFU evaluator: model + settings -> `TOFU_EVAL.json`, `TOFU_SUMMARY.json`, `eval_meta.json` and a table.

This module runs an evaluation; `settings` validates what decides the numbers, `store` reads and writes the result
files and their fingerprint, `report` prints the table.

Stored results are reused only when their fingerprint (weights, tokenizer, data, settings) matches; otherwise they
are recomputed, or, with `no_recompute`, the run stops and says what changed. With a retain model, it is evaluated
first into `<output_dir>/retain/` (itself reused on a fingerprint match) and its logs are the reference for forget
quality, privleak and the Reference attack.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.data.formatting import ChatFormatter
from hf_unlearn.errors import first_line
from hf_unlearn.evaluation import fingerprint as fp
from hf_unlearn.evaluation.eval_sets import load_eval_sets
from hf_unlearn.evaluation.gibberish import GIBBERISH_METRIC, SOURCE_METRIC, gibberish_metric
from hf_unlearn.evaluation.report import render_table, speed_line, title
from hf_unlearn.evaluation.settings import DTYPES, EvalInputError, EvalSettings
from hf_unlearn.evaluation.store import (
    EVAL_FILE,
    SUMMARY_FILE,
    EvalResult,
    Provenance,
    StaleResultsError,
    identity,
    read_retain_logs,
    reuse_or_compute,
    write_json,
)
from hf_unlearn.evaluation.suite import closure, compute_model_metrics, compute_reference_metrics, needs, summary
from hf_unlearn.layout import RETAIN_SUBDIR
from hf_unlearn.models import (
    ModelUnavailableError,
    check_model_folder,
    check_tokenizer_folder,
    load_eval_model,
    load_tokenizer,
    local_model_dir,
)

logger = logging.getLogger(__name__)

__all__ = ["DTYPES", "EvalInputError", "EvalResult", "EvalSettings", "StaleResultsError", "evaluate", "write_json"]


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


def _load_sets(settings: EvalSettings, datasets: set[str]):
    try:
        return load_eval_sets(
            datasets,
            settings.forget_split,
            settings.data_source,
            settings.holdout_split,
            settings.holdout_file,
            settings.limit,
            settings.question_key,
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
    results, top_summary, meta, reused, stats = reuse_or_compute(
        output_dir,
        top,
        model_sha,
        identity(settings, sets, tokenizer_dir, classifier.identity() if classifier else None),
        reference_id,
        retain_logs,
        no_recompute,
        compute=lambda: _compute(model_dir, tokenizer_dir, settings, sets, names, progress, classifier),
        reference_metrics=lambda results: compute_reference_metrics(
            names, results, results if self_reference else reference
        ),
        provenance=Provenance(str(model), model_dir, settings.resolved_device(), start, package_version()),
    )
    table = render_table(results, top, title(model, settings, sets, reused), retain.results if retain else reference)
    if echo:
        if retain is not None:
            print(f"[hf-unlearn] retain model results: {retain.output_dir} ({'reused' if retain.reused else 'new'})")
        print(table)
        if stats:
            print(speed_line(stats))
        print(f"[hf-unlearn] wrote {output_dir / EVAL_FILE} and {output_dir / SUMMARY_FILE}")
    return EvalResult(output_dir, results, top_summary, meta, reused, retain, table, stats)


def _compute(
    model_dir, tokenizer_dir, settings: EvalSettings, sets, names, progress: bool, classifier: Classifier | None = None
) -> tuple[dict, dict]:
    import torch

    device = settings.resolved_device()
    model = load_eval_model(model_dir, settings.resolved_dtype(), device)
    tokenizer = load_tokenizer(str(tokenizer_dir), "tokenizer" if settings.tokenizer else "model")
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    results, out_stats = _run_loaded(model, tokenizer, settings, sets, names, progress)
    if device.startswith("cuda"):
        out_stats["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    if classifier is not None:
        results[GIBBERISH_METRIC] = _gibberish(results, classifier, settings, out_stats)
    return results, out_stats


def _run_loaded(model, tokenizer, settings: EvalSettings, sets, names, progress: bool) -> tuple[dict, dict]:
    """The model metrics of a model already in memory (no reference metrics yet)."""
    from hf_unlearn.evaluation.runner import RunOptions, run_model

    formatter = ChatFormatter(tokenizer, eos_as_pad=settings.eos_as_pad)
    options = RunOptions(
        batch_size=settings.batch_size,
        generation_batch_size=settings.resolved_generation_batch_size(),
        max_new_tokens=settings.max_new_tokens,
        eos_as_pad=settings.eos_as_pad,
        es_one_over_n=bool(settings.es_one_over_n),
        progress=progress,
        answer_prefix=settings.answer_prefix,
    )
    outputs, stats = run_model(model, formatter, sets, needs(names), options)
    return compute_model_metrics(names, outputs), stats.as_dict()


def evaluate_loaded(
    model, tokenizer, settings: EvalSettings, reference: dict | None = None, self_reference: bool = False
) -> tuple[dict, dict]:
    """Evaluate a model object as it is (e.g. the one being trained): no load, no files; returns (results,
    summary). The model is put in eval mode for the passes and given back in the mode it came in.

    Every process of a distributed run calls this with the same data, so sharded parameters (FSDP2, ZeRO-3) are
    gathered by the forward passes as during training, in step on every process.
    """
    import torch

    names = closure(settings.metrics)
    sets = _load_sets(settings, needs(names).datasets)
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            results, _ = _run_loaded(model, tokenizer, settings, sets, names, progress=False)
    finally:
        model.train(training)
    results.update(compute_reference_metrics(names, results, results if self_reference else reference))
    return results, summary(results, settings.metrics)


def _gibberish(results: dict, classifier: Classifier, settings: EvalSettings, stats: dict) -> dict:
    """forget_Q_A_gibberish from forget_Q_A_ROUGE's generations, once the evaluated model is freed."""
    start = time.perf_counter()
    device, dtype = settings.resolved_device(), settings.resolved_dtype()
    entry = gibberish_metric(results[SOURCE_METRIC], classifier.folder, classifier.reason, dtype, device)
    stats["gibberish_s"] = round(time.perf_counter() - start, 3)
    return entry


def package_version() -> str:
    """The installed hf-unlearn version, recorded in every eval_meta.json."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hf-unlearn")
    except PackageNotFoundError:
        return "unknown"
