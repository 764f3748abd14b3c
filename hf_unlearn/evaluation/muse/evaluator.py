"""The MUSE evaluator: model + settings -> `MUSE_EVAL.json`, `MUSE_SUMMARY.json`, `eval_meta.json` and a table.

As for TOFU: stored results are reused only when their fingerprint (weights, tokenizer, data, settings) matches,
otherwise recomputed (or, with `no_recompute`, the run stops and says what changed). A retain model is evaluated
first into `<output_dir>/retain/` and is privleak's reference; without a reference privleak is absent with the
reason, where open-unlearning silently assumes a retain AUC of 0.5.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.data.muse import load_split
from hf_unlearn.evaluation import fingerprint as fp
from hf_unlearn.evaluation.evaluator import Classifier, package_version, resolve_classifier
from hf_unlearn.evaluation.gibberish import gibberish_metric
from hf_unlearn.evaluation.muse import store
from hf_unlearn.evaluation.muse.report import title
from hf_unlearn.evaluation.muse.settings import MuseEvalSettings, MuseInputError, closure
from hf_unlearn.evaluation.muse.suite import ICL_SETS, SETS, compute_model_metrics, needs, reference_metrics
from hf_unlearn.evaluation.report import render_table, speed_line
from hf_unlearn.evaluation.store import EvalResult, Provenance, reuse_or_compute
from hf_unlearn.evaluation.suite import summary
from hf_unlearn.layout import RETAIN_SUBDIR
from hf_unlearn.models import (
    check_model_folder,
    check_tokenizer_folder,
    load_eval_model,
    load_tokenizer,
    local_model_dir,
)

logger = logging.getLogger(__name__)
#: forget_gibberish classifies VerbMem generations, which are long: 512 classifier tokens (open-unlearning's MUSE)
GIBBERISH_MAX_LENGTH = 512


@dataclass
class MuseResult(EvalResult):
    @property
    def eval_path(self) -> Path:
        return self.output_dir / store.EVAL_FILE


def load_sets(settings: MuseEvalSettings, datasets: set[str]) -> dict[str, list[dict]]:
    """The eval sets the chosen metrics need, the first `limit` rows of each (in-context examples whole)."""
    sets = {}
    for name in sorted(datasets):
        config, split = SETS[name]
        rows = load_split(settings.corpus, config, split, settings.source)
        sets[name] = rows if name in ICL_SETS or settings.limit is None else rows[: settings.limit]
    return sets


def evaluate(
    model: str,
    output_dir: str | Path,
    settings: MuseEvalSettings | None = None,
    retain_logs: str | Path | None = None,
    retain_model: str | None = None,
    no_recompute: bool = False,
    progress: bool = True,
    echo: bool = True,
    self_reference: bool = False,
) -> MuseResult:
    """Evaluate `model` (Hub id or folder) on MUSE into `output_dir`, reusing stored results only when current.

    `retain_model` is evaluated first into `output_dir/retain` (as its own reference: privleak 0) and used as the
    reference; `retain_logs` points at an existing retain-model MUSE_EVAL.json instead.
    """
    settings = settings or MuseEvalSettings()
    output_dir = Path(output_dir)
    if retain_logs and retain_model:
        raise MuseInputError("pass either --retain-logs or --retain-model, not both")
    retain = None
    if retain_model:
        retain = evaluate(retain_model, output_dir / RETAIN_SUBDIR, settings, no_recompute=no_recompute,
                          progress=progress, echo=False, self_reference=True)  # fmt: skip
        retain_logs = retain.eval_path
    reference, reference_id = store.read_retain_logs(retain_logs) if retain_logs else (None, None)
    reference_id = "self" if self_reference and not retain_logs else reference_id

    start = time.perf_counter()
    model_dir = local_model_dir(model)
    tokenizer_dir = local_model_dir(settings.tokenizer, "tokenizer") if settings.tokenizer else model_dir
    check_model_folder(model_dir)
    check_tokenizer_folder(tokenizer_dir, "tokenizer" if settings.tokenizer else "model")
    top = settings.metrics
    names = closure(top)
    need = needs(names)
    sets = load_sets(settings, need.datasets)
    model_sha = fp.model_fingerprint(model_dir)
    classifier = resolve_classifier(settings.gibberish_model) if need.classifier else None
    results, top_summary, meta, reused, stats = reuse_or_compute(
        output_dir,
        top,
        model_sha,
        store.identity(settings, sets, tokenizer_dir, classifier.identity() if classifier else None),
        reference_id,
        retain_logs,
        no_recompute,
        compute=lambda: _compute(model_dir, tokenizer_dir, settings, sets, names, progress, classifier),
        reference_metrics=lambda results: reference_metrics(names, results, results if self_reference else reference),
        provenance=Provenance(str(model), model_dir, settings.resolved_device(), start, package_version()),
        eval_file=store.EVAL_FILE,
        summary_file=store.SUMMARY_FILE,
    )
    table = render_table(results, top, title(model, settings, sets, reused), retain.results if retain else reference)
    if echo:
        if retain is not None:
            print(f"[hf-unlearn] retain model results: {retain.output_dir} ({'reused' if retain.reused else 'new'})")
        print(table)
        if stats:
            print(speed_line(stats))
        print(f"[hf-unlearn] wrote {output_dir / store.EVAL_FILE} and {output_dir / store.SUMMARY_FILE}")
    return MuseResult(output_dir, results, top_summary, meta, reused, retain, table, stats)


def _compute(model_dir, tokenizer_dir, settings, sets, names, progress, classifier: Classifier | None):
    import torch

    device = settings.resolved_device()
    model = load_eval_model(model_dir, settings.resolved_dtype(), device)
    tokenizer = load_tokenizer(str(tokenizer_dir), "tokenizer" if settings.tokenizer else "model")
    results, stats = _run_loaded(model, tokenizer, settings, sets, names, progress)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    if classifier is not None:
        start = time.perf_counter()
        results["forget_gibberish"] = gibberish_metric(
            results["forget_verbmem_ROUGE"], classifier.folder, classifier.reason,
            settings.resolved_dtype(), device, GIBBERISH_MAX_LENGTH,
        )  # fmt: skip
        stats["gibberish_s"] = round(time.perf_counter() - start, 3)
    return results, stats


def _run_loaded(model, tokenizer, settings, sets, names, progress: bool) -> tuple[dict, dict]:
    """The model metrics of a model already in memory (no reference metrics yet)."""
    from hf_unlearn.evaluation.muse.engine import run_model

    outputs, stats = run_model(model, tokenizer, sets, needs(names), settings, progress)
    return compute_model_metrics(names, outputs, settings.min_k_ratio, settings.es_one_over_n), stats.as_dict()


def evaluate_loaded(model, tokenizer, settings: MuseEvalSettings, reference: dict | None = None) -> dict:
    """The summary of a model object as it is (e.g. the one being trained): no load, no files. forget_gibberish
    needs the evaluated model freed first, so it is absent here. The model comes back in the mode it came in."""
    import torch

    names = closure(settings.metrics)
    sets = load_sets(settings, needs(names).datasets)
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            results, _ = _run_loaded(model, tokenizer, settings, sets, names, progress=False)
    finally:
        model.train(training)
    results.update(reference_metrics(names, results, reference))
    if "forget_gibberish" in names:
        results["forget_gibberish"] = {"agg_value": None, "absent_reason": "not computed on a model in memory"}
    return summary(results, settings.metrics)


def retain_summary(result, settings: MuseEvalSettings) -> dict | None:
    """The retain model's summary beside an evaluation (evaluated with it, or read from the logs it used)."""
    if result.retain is not None:
        return result.retain.summary
    logs_path = result.meta.get("retain_logs")
    if not logs_path:
        return None
    path = Path(logs_path)
    summary_path = (path if path.is_dir() else path.parent) / store.SUMMARY_FILE
    if summary_path.is_file():
        return store.store.read_stored(summary_path)
    logs, _ = store.read_retain_logs(path)
    return summary(logs, settings.metrics)
