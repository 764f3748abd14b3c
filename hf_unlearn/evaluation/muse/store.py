"""MUSE's result files and what their fingerprint covers.

`MUSE_EVAL.json` (every metric with per-item values, `mia_min_k` included as privleak's pre-compute) and
`MUSE_SUMMARY.json` (the chosen top-level metrics) follow open-unlearning's layout; `eval_meta.json` holds the
fingerprint, written last by the shared writer so it never stands next to older numbers.
"""

from __future__ import annotations

from pathlib import Path

from hf_unlearn.evaluation import fingerprint as fp
from hf_unlearn.evaluation import store
from hf_unlearn.evaluation.muse.settings import MuseEvalSettings

EVAL_FILE = "MUSE_EVAL.json"
SUMMARY_FILE = "MUSE_SUMMARY.json"
#: Bumped whenever a change here changes numbers, so older stored results are recomputed.
EVAL_VERSION = 1


def identity(settings: MuseEvalSettings, sets: dict[str, list[dict]], tokenizer_dir: Path, classifier=None) -> dict:
    """What the numbers depend on besides the weights: settings, data, tokenizer, the classifier chosen."""
    return {
        "eval_version": EVAL_VERSION,
        "corpus": settings.corpus,
        "metrics": sorted(settings.metrics),
        "data": {name: fp.rows_fingerprint(rows)[:16] for name, rows in sorted(sets.items())},
        "limit": settings.limit,
        "verbmem_max_new_tokens": settings.verbmem_max_new_tokens,
        "knowmem_max_new_tokens": settings.knowmem_max_new_tokens,
        "icl_shots": settings.icl_shots,
        "min_k_ratio": settings.min_k_ratio,
        "max_length": settings.max_length,
        "knowmem_max_length": settings.knowmem_max_length,
        "es_one_over_n": settings.es_one_over_n,
        "dtype": settings.resolved_dtype(),
        "tokenizer_sha256": fp.tokenizer_fingerprint(tokenizer_dir),
        **({"gibberish_model": classifier} if classifier else {}),
    }


def read_retain_logs(path: str | Path) -> tuple[dict, str]:
    """The retain model's MUSE_EVAL.json (or its folder); it must hold mia_min_k, privleak's reference AUC."""
    return store.read_retain_logs(path, EVAL_FILE, "mia_min_k")


def write_results(output_dir: Path, results: dict, top: tuple[str, ...], meta: dict) -> dict:
    return store.write_results(output_dir, results, top, meta, EVAL_FILE, SUMMARY_FILE)
