"""MUSE's metric engine (VerbMem, KnowMem, privleak, extraction strength and the optional MIAs, exact
memorisation and gibberish), built on TOFU's batched scoring, generation, fingerprints and result files."""

from hf_unlearn.evaluation.muse.evaluator import MuseResult, evaluate, evaluate_loaded, retain_summary
from hf_unlearn.evaluation.muse.settings import (
    ALL_METRICS,
    DEFAULT_METRICS,
    MuseEvalSettings,
    MuseInputError,
    add_eval_arguments,
    check_metrics,
    settings_from_args,
    settings_from_recipe,
)
from hf_unlearn.evaluation.muse.store import EVAL_FILE, SUMMARY_FILE

__all__ = [
    "ALL_METRICS",
    "DEFAULT_METRICS",
    "EVAL_FILE",
    "SUMMARY_FILE",
    "MuseEvalSettings",
    "MuseInputError",
    "MuseResult",
    "add_eval_arguments",
    "check_metrics",
    "evaluate",
    "evaluate_loaded",
    "retain_summary",
    "settings_from_args",
    "settings_from_recipe",
]
