"""Stored evaluation results: the files in open-unlearning's layout, their fingerprint, and whether they are stale.

`TOFU_EVAL.json` (every metric, per-item values) and `TOFU_SUMMARY.json` (top-level values) are written first,
`eval_meta.json` (the fingerprint of weights, tokenizer, data and settings) last, so a fingerprint never stands next
to older numbers. Stored results are reused only when their fingerprint matches.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hf_unlearn.data.formatting import DATE_STRING, SYSTEM_PROMPT
from hf_unlearn.errors import UserError
from hf_unlearn.evaluation import fingerprint as fp
from hf_unlearn.evaluation.settings import EvalInputError, EvalSettings
from hf_unlearn.evaluation.suite import summary
from hf_unlearn.layout import EVAL_META

logger = logging.getLogger(__name__)

EVAL_FILE = "TOFU_EVAL.json"
SUMMARY_FILE = "TOFU_SUMMARY.json"
#: Bumped whenever a change here changes numbers, so older stored results are recomputed.
EVAL_VERSION = 1


class StaleResultsError(UserError, RuntimeError):
    """Stored results do not match the model or settings, and recomputing was turned off."""


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


def write_results(
    output_dir: Path,
    results: dict,
    top: tuple[str, ...],
    meta: dict,
    eval_file: str = EVAL_FILE,
    summary_file: str = SUMMARY_FILE,
) -> dict:
    """TOFU_EVAL.json (every metric, top-level keys sorted), TOFU_SUMMARY.json, then eval_meta.json last (MUSE
    passes its own file names)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / EVAL_META).unlink(missing_ok=True)  # never leave an old fingerprint next to new numbers
    write_json(output_dir / eval_file, dict(sorted(results.items())))
    top_summary = summary(results, top)
    write_json(output_dir / summary_file, top_summary)
    write_json(output_dir / EVAL_META, meta)
    return top_summary


def read_retain_logs(
    path: str | Path, eval_file: str = EVAL_FILE, required: str = "forget_truth_ratio"
) -> tuple[dict, str]:
    """A retain model's TOFU_EVAL.json (or a folder holding one; MUSE: its MUSE_EVAL.json, which must hold
    `mia_min_k`) and its sha256."""
    path = Path(path)
    if path.is_dir():
        path = path / eval_file
    if not path.is_file():
        raise EvalInputError(f"retain logs: no such file {path}")
    try:
        logs = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise EvalInputError(f"retain logs: {path} is not valid JSON ({err.msg})") from None
    if not isinstance(logs, dict) or required not in logs:
        raise EvalInputError(f"retain logs: {path} has no {required} (is it a {eval_file}?)")
    return logs, fp.sha256_file(path)


def read_stored(path: Path) -> dict | None:
    """A stored JSON file, or None when it is missing or unreadable (then the results are recomputed)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def read_existing(output_dir: Path, eval_file: str = EVAL_FILE) -> tuple[dict | None, dict | None]:
    return read_stored(output_dir / eval_file), read_stored(output_dir / EVAL_META)


@dataclass(frozen=True)
class Provenance:
    """What eval_meta.json says about a fresh computation besides the fingerprint."""

    model: str
    model_dir: Path
    device: str
    start: float  # time.perf_counter() when the evaluation began
    version: str


def reuse_or_compute(
    output_dir: Path,
    top: tuple[str, ...],
    model_sha: str,
    identity: dict,
    reference_id: str | None,
    retain_logs: str | Path | None,
    no_recompute: bool,
    compute: Callable[[], tuple[dict, dict]],
    reference_metrics: Callable[[dict], dict],
    provenance: Provenance,
    eval_file: str = EVAL_FILE,
    summary_file: str = SUMMARY_FILE,
) -> tuple[dict, dict, dict, bool, dict]:
    """Every benchmark's store rule: reuse the stored results when their fingerprint matches (recomputing only the
    reference metrics when the reference changed), otherwise `compute()` the model metrics (or, with
    `no_recompute`, stop and say what changed), add `reference_metrics(results)`, and write the files.
    Returns (results, top-level summary, meta, reused, stats)."""
    fingerprint = fp.combine({"model_sha256": model_sha, "settings": identity})
    logs = str(retain_logs) if retain_logs else None
    stored, meta = read_existing(output_dir, eval_file)
    if stored is not None and meta is not None and meta.get("fingerprint") == fingerprint:
        results = dict(stored)
        if meta.get("reference_id") == reference_id:
            return results, summary(results, top), meta, True, {}
        results.update(reference_metrics(results))
        meta = {**meta, "reference_id": reference_id, "retain_logs": logs}
        return results, write_results(output_dir, results, top, meta, eval_file, summary_file), meta, True, {}
    if stored is not None or meta is not None:
        why = what_changed(meta, model_sha, identity)
        if no_recompute:
            raise StaleResultsError(
                f"stored results in {output_dir} do not match this model/settings ({why}); "
                "drop --no-recompute to recompute them"
            )
        logger.warning("stored results in %s are stale (%s): recomputing", output_dir, why)
    results, stats = compute()
    results.update(reference_metrics(results))
    meta = {
        "fingerprint": fingerprint,
        "model": provenance.model,
        "model_dir": str(provenance.model_dir),
        "model_sha256": model_sha,
        "settings": identity,
        "reference_id": reference_id,
        "retain_logs": logs,
        "device": provenance.device,
        "wall_time_s": round(time.perf_counter() - provenance.start, 2),
        "stats": stats,
        "hf_unlearn_version": provenance.version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return results, write_results(output_dir, results, top, meta, eval_file, summary_file), meta, False, stats


def what_changed(meta: dict | None, model_sha: str, identity: dict) -> str:
    if meta is None:
        return "no eval_meta.json fingerprint next to them"
    changes = []
    if meta.get("model_sha256") != model_sha:
        changes.append("model weights")
    old = meta.get("settings", {})
    changes += [key for key in sorted(set(old) | set(identity)) if old.get(key) != identity.get(key)]
    return "changed: " + ", ".join(changes) if changes else "fingerprint differs"


def identity(settings: EvalSettings, sets, tokenizer_dir: Path, classifier: dict | None = None) -> dict:
    """What the numbers depend on besides the weights: settings, data, tokenizer, prompt, the classifier chosen."""
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
        **({"gibberish_model": classifier} if classifier else {}),
        **({"question_key": settings.question_key} if settings.question_key != "question" else {}),
        **({"answer_prefix": settings.answer_prefix} if settings.answer_prefix is not None else {}),
    }
