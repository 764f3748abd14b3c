"""Recipes: YAML files that name a run. Load, validate, apply command-line overrides, derive names.

Everything here runs before any model is loaded (and without importing torch), so a bad recipe fails in
milliseconds with an error naming the key and what is allowed, not after minutes of downloads.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from hf_unlearn import naming
from hf_unlearn.benchmarks import BENCHMARKS, DEFAULT_BENCHMARK, Benchmark, get_benchmark
from hf_unlearn.errors import UserError
from hf_unlearn.evaluation.settings import setting_default
from hf_unlearn.methods import METHODS, check_value, get_method
from hf_unlearn.selection import KEEP, RULE_METRICS, RULES

TASKS = ("unlearn", "finetune")
LOSS_NORMALIZATIONS = ("effective_batch", "micro_batch")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")
SAVE_STRATEGIES = ("no", "epoch", "steps")
#: The during-training evaluation's default metrics: the fast ones the selection rules read (no MIA, no classifier).
DURING_TRAINING_METRICS = ["forget_quality", "forget_truth_ratio", "forget_Q_A_Prob", "model_utility"]
#: Metrics that cannot run inside training: a backward pass per sample, or a second model (a classifier).
NOT_DURING_TRAINING = ("mia_gradnorm", "forget_Q_A_gibberish")


class RecipeError(UserError, ValueError):
    """A recipe problem, always naming the offending key."""


REQUIRED = object()


@dataclass(frozen=True)
class Field:
    default: object
    kind: type | tuple = str
    choices: tuple | None = None
    minimum: float | None = None
    exclusive_minimum: bool = False
    nullable: bool = False
    help: str = ""
    #: The `TrainingArguments` fields this key sets, as is (`build_training_args` copies them).
    train_args: tuple[str, ...] = ()


#: Every recipe key. Nested YAML sections (data:, eval:) are the dotted keys below.
SCHEMA: dict[str, Field] = {
    "task": Field("unlearn", str, TASKS, help="unlearn a model, or finetune one (target/retain models)"),
    "benchmark": Field(
        DEFAULT_BENCHMARK, str, tuple(BENCHMARKS), help="the benchmark whose data and metrics are used"
    ),
    "model": Field(REQUIRED, str, help="Hub id or local folder of the starting model; 'tiny' builds the tiny model"),
    "tokenizer": Field(None, str, nullable=True, help="tokenizer id/folder (default: the model's)"),
    "model_name": Field(None, str, nullable=True, help="the {model} part of names (default: tokenizer repo name)"),
    "method": Field("GradDiff", str, help="unlearning method"),
    "forget_split": Field(None, str, nullable=True, help="default: the benchmark's (TOFU: forget10, WMDP: cyber)"),
    "retain_split": Field(None, str, nullable=True, help="default: the forget split's complement"),
    "holdout_split": Field(None, str, nullable=True, help="default: holdoutXX matching the forget split"),
    "finetune_splits": Field(["full"], list, help="splits a finetune run trains on"),
    "finetune_name": Field(None, str, nullable=True, help="name of a finetuned model (default: from its splits)"),
    # optimisation
    "learning_rate": Field(1e-5, float, minimum=0.0, exclusive_minimum=True, train_args=("learning_rate",)),
    "num_train_epochs": Field(5.0, float, minimum=0.0, exclusive_minimum=True, train_args=("num_train_epochs",)),
    "max_steps": Field(
        -1, int, help="stop after this many optimizer steps (-1: use num_train_epochs)", train_args=("max_steps",)
    ),
    "effective_batch_size": Field(32, int, minimum=1, help="examples per optimizer step over all processes"),
    "per_device_train_batch_size": Field(
        8,
        int,
        minimum=1,
        help="micro-batch size (accumulation is derived)",
        train_args=("per_device_train_batch_size", "per_device_eval_batch_size"),
    ),
    "weight_decay": Field(0.01, float, minimum=0.0, train_args=("weight_decay",)),
    "warmup_epochs": Field(1.0, float, minimum=0.0, help="linear warm-up length in epochs of the train set"),
    "lr_scheduler_type": Field("linear", str, SCHEDULERS, train_args=("lr_scheduler_type",)),
    "max_grad_norm": Field(1.0, float, minimum=0.0, train_args=("max_grad_norm",)),
    "optim": Field("adamw_torch", str, train_args=("optim",)),
    "seed": Field(0, int, train_args=("seed", "data_seed")),
    "bf16": Field(True, bool, help="bf16 autocast (over model_dtype's weights)", train_args=("bf16",)),
    "model_dtype": Field(
        "float32",
        str,
        ("float32", "bfloat16"),
        help="dtype of the trained weights and the frozen reference: float32 (master weights) or bfloat16 (half "
        "the memory; the WMDP paper's RMU code and open-unlearning load their models so)",
    ),
    "gradient_checkpointing": Field(False, bool, train_args=("activation_checkpointing",)),
    "loss_normalization": Field(
        "effective_batch",
        str,
        LOSS_NORMALIZATIONS,
        help="effective_batch (split-invariant) or micro_batch (open-unlearning compatible)",
        train_args=("loss_normalization",),
    ),
    "precompute_ref_log_probs": Field(
        False,
        bool,
        help="score the forget set with the reference once before training, then free the reference",
        train_args=("precompute_ref_log_probs",),
    ),
    "sam_rho": Field(
        None,
        float,
        minimum=0.0,
        exclusive_minimum=True,
        nullable=True,
        help="sharpness-aware unlearning: radius of the forget-loss perturbation (unset: off)",
        train_args=("sam_rho",),
    ),
    "logging_steps": Field(5, int, minimum=1, help="log every N optimizer steps", train_args=("logging_steps",)),
    "save_strategy": Field("no", str, SAVE_STRATEGIES, train_args=("save_strategy",)),
    "save_steps": Field(500, int, minimum=1, train_args=("save_steps",)),
    "save_total_limit": Field(None, int, minimum=1, nullable=True, train_args=("save_total_limit",)),
    "output_dir": Field(None, str, nullable=True, help="default: saves/<task>/<run name>"),
    "report_to": Field("none", str, train_args=("report_to",)),
    # data
    "data.source": Field(
        setting_default("data_source"), str, help="auto | hub | bundled | a directory of <split>.jsonl"
    ),
    "data.eos_as_pad": Field(False, bool, help="open-unlearning's pad=EOS masking, for comparable numbers"),
    "data.forget_limit": Field(None, int, minimum=1, nullable=True, help="use only the first N forget rows"),
    "data.retain_limit": Field(None, int, minimum=1, nullable=True, help="use only the first N retain rows"),
    "data.max_length": Field(512, int, minimum=1, help="raw-text corpora (WMDP, MUSE): tokens per training window"),
    "data.schedule": Field(
        "windows",
        str,
        ("windows", "documents"),
        help="WMDP: how the corpora are read: windows (open-unlearning: shuffled data.max_length-token windows) or "
        "documents (the WMDP paper's RMU code: documents in order, steps alternating bio and cyber batches, each "
        "document cut at 512 tokens, 768 for cyber)",
    ),
    "data.corpus": Field("news", str, ("news", "books"), help="MUSE: which corpus (News articles or Books)"),
    "data.forget_file": Field(
        None, str, nullable=True, help="WMDP: a local copy of the forget corpus (the gated bio one), JSON Lines `text`"
    ),
    # evaluation (unlearning runs): the benchmark's metrics of the unlearned model into <run_dir>/evals/
    "eval.enabled": Field(True, bool, help="evaluate the unlearned model on its benchmark after training"),
    "eval.metrics": Field(setting_default("metrics"), str, help="'default', 'all' or comma-separated metric names"),
    "eval.batch_size": Field(setting_default("batch_size"), int, minimum=1, help="answers scored per forward"),
    "eval.generation_batch_size": Field(
        None, int, minimum=1, nullable=True, help="prompts generated together (default: 512 on CUDA, 128 on CPU)"
    ),
    "eval.max_new_tokens": Field(
        setting_default("max_new_tokens"), int, minimum=1, help="greedy generation length for ROUGE"
    ),
    "eval.limit": Field(None, int, minimum=1, nullable=True, help="first N items of each eval set (quick checks)"),
    "eval.icl_shots": Field(
        None,
        int,
        minimum=0,
        nullable=True,
        help="MUSE: in-context examples before each KnowMem question (unset: all, open-unlearning's 10); "
        "0 for a model too small to learn in context",
    ),
    "eval.retain_logs": Field(None, str, nullable=True, help="retain model's eval file, TOFU: TOFU_EVAL.json"),
    "eval.retain_model": Field(None, str, nullable=True, help="retain model, evaluated (or reused) as the reference"),
    "eval.holdout_file": Field(None, str, nullable=True, help="own MIA holdout set (JSONL question/answer)"),
    "eval.tasks": Field(None, list, nullable=True, help="WMDP: lm-eval tasks (default: wmdp_bio, wmdp_cyber, mmlu)"),
    "eval.include_path": Field(None, str, nullable=True, help="WMDP: a folder of your own lm-eval task YAMLs"),
    "eval.add_bos_token": Field(
        None,
        bool,
        nullable=True,
        help="WMDP: start each prompt with BOS (unset: as lm-eval 0.4.2 and 0.4.8 did, the WMDP paper's and "
        "open-unlearning's: no BOS, except for Gemma models)",
    ),
    "eval.robustness": Field(
        [], list, help="attacks run on the unlearned model after its evaluation (robustness suite), e.g. [relearn]"
    ),
    "eval.robustness_options": Field(
        None, dict, nullable=True, help="per attack, its settings, e.g. {relearn: {steps: 13}, quantize: {bits: 8}}"
    ),
    "eval.compare_target": Field(True, bool, help="also evaluate the starting model (evals/comparison.json)"),
    "eval.gibberish_model": Field(
        setting_default("gibberish_model"),
        str,
        help="sequence classifier (Hub id or folder) of the optional forget_Q_A_gibberish metric",
    ),
    # evaluation during training (a fast subset, in memory) and the checkpoint it selects
    "eval.during_training.every": Field(
        None, str, nullable=True, help="evaluate the model being trained every 'epoch' or every N steps (unset: off)"
    ),
    "eval.during_training.metrics": Field(DURING_TRAINING_METRICS, list, help="metrics evaluated during training"),
    "eval.during_training.limit": Field(32, int, minimum=1, help="first N items of each eval set during training"),
    "select_checkpoint.rule": Field(
        None, str, RULES, nullable=True, help="pick the evaluated checkpoint to keep by this rule (unset: the last)"
    ),
    "select_checkpoint.keep": Field("best", str, KEEP, help="save and publish the selected (best) or the last"),
    "select_checkpoint.min_utility": Field(0.0, float, minimum=0.0, help="max_forget_quality: model utility bound"),
    "select_checkpoint.min_utility_ratio": Field(
        0.9, float, minimum=0.0, help="utility_ratio: bound as a fraction of the starting model's utility"
    ),
    "select_checkpoint.stop_below": Field(
        None, float, minimum=0.0, nullable=True, help="stop training once model utility falls below this"
    ),
    # publishing
    "push_to_hub": Field(False, bool, help="push the model + card to the Hub at the end of the run"),
    "hub_org": Field(None, str, nullable=True, help="user or organisation the repo goes under"),
    "hub_repo_id": Field(None, str, nullable=True, help="full repo id, overriding {hub_org}/<default name>"),
    "hub_private": Field(False, bool, help="create the repo private"),
    "exist_ok": Field(False, bool, help="update the repo if it already holds files (else refuse)"),
    "publish.merge_adapter": Field(True, bool, help="LoRA runs: publish merged BF16 weights (false: the adapter)"),
    # LoRA: set peft.r to train an adapter instead of the full weights
    "peft.r": Field(None, int, minimum=1, nullable=True, help="LoRA rank (unset: full finetuning)"),
    "peft.alpha": Field(16.0, float, minimum=0.0, exclusive_minimum=True, help="LoRA scaling numerator"),
    "peft.dropout": Field(0.0, float, minimum=0.0, help="dropout on the adapter input"),
    "peft.target_modules": Field(["all-linear"], list, help="module names to adapt ('all-linear': every linear)"),
}


def method_param_keys() -> list[str]:
    """Every hyper-parameter any registered method declares (each method accepts only its own)."""
    return sorted({key for spec in METHODS.values() for key in spec.params})


def allowed_keys() -> list[str]:
    return list(SCHEMA) + method_param_keys()


def _suggest(key: str, candidates) -> str:
    close = difflib.get_close_matches(key, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested YAML sections (data:, eval:) as the schema's dotted keys; other mappings stay values."""
    out = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and any(k.startswith(dotted + ".") for k in SCHEMA):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _coerce(key: str, value, kind: type, nullable: bool):
    if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~")):
        if nullable:
            return None
        if kind is str and value is not None:
            return value  # a word such as report_to's "none" (a saved recipe must load back)
        raise RecipeError(f"{key}: a value is required (got null)")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise RecipeError(f"{key}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise RecipeError(f"{key}: expected an integer, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise RecipeError(f"{key}: expected an integer, got {value!r}") from None
        if not number.is_integer():
            raise RecipeError(f"{key}: expected an integer, got {value!r}")
        return int(number)
    if kind is float:
        if isinstance(value, bool):
            raise RecipeError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise RecipeError(f"{key}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise RecipeError(f"{key}: expected a finite number, got {value!r}")
        return number
    if kind is dict:
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise RecipeError(f"{key}: expected a mapping of names to mappings, got {value!r}")
        return {str(k): dict(v) for k, v in value.items()}
    if kind is list:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise RecipeError(f"{key}: expected a list, got {value!r}")
        return [str(v) for v in value]
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise RecipeError(f"{key}: expected a string, got {value!r}")
    return str(value)


def _check_range(key: str, value, minimum, exclusive: bool, choices) -> None:
    try:
        check_value(key, value, choices, minimum, exclusive)
    except ValueError as err:
        raise RecipeError(str(err)) from None


def _check_eval(values: dict) -> None:
    """Evaluation settings fail at load time, not after training."""
    if values["eval.retain_logs"] and values["eval.retain_model"]:
        raise RecipeError("eval.retain_logs: give either eval.retain_logs or eval.retain_model, not both")
    try:
        get_benchmark(values["benchmark"]).check_metrics(values["eval.metrics"])
    except ValueError as err:
        raise RecipeError(f"eval.{err}") from None


def _check_during_training(values: dict) -> None:
    """eval.during_training and select_checkpoint fail at load time, each error naming its key."""
    every = values["eval.during_training.every"]
    if every is not None and every != "epoch" and not (every.isdigit() and int(every) >= 1):
        raise RecipeError(f"eval.during_training.every: '{every}' is not allowed; allowed: epoch or a step count >= 1")
    metrics = values["eval.during_training.metrics"]
    if every is not None:  # the metrics are the benchmark's, checked only when they will be evaluated
        try:
            get_benchmark(values["benchmark"]).check_metrics(",".join(metrics))
        except ValueError as err:
            raise RecipeError(f"eval.during_training.{err}") from None
    for name in metrics:
        if name in NOT_DURING_TRAINING:
            raise RecipeError(
                f"eval.during_training.metrics: {name} cannot run during training; allowed: any other metric"
            )
    rule = values["select_checkpoint.rule"]
    wanted = set(RULE_METRICS.get(rule, ())) | ({"model_utility"} if values["select_checkpoint.stop_below"] else set())
    key = "select_checkpoint.rule" if rule else "select_checkpoint.stop_below"
    if wanted and every is None:
        raise RecipeError(f"{key}: needs eval.during_training.every (epoch or N steps) to have points to select from")
    missing = sorted(wanted - set(metrics))
    if missing:
        raise RecipeError(f"{key}: needs eval.during_training.metrics to include {', '.join(missing)}")
    if rule and values["save_total_limit"] is not None:
        raise RecipeError("save_total_limit: select_checkpoint keeps the checkpoint of every evaluation; unset it")


class Recipe:
    """A validated recipe: flat dotted keys -> values, plus the derived run name."""

    def __init__(self, values: dict, source: Path | None = None) -> None:
        self.values = values
        self.source = source

    def __getitem__(self, key: str):
        return self.values[key]

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict, overrides: dict | None = None, source: Path | None = None) -> Recipe:
        flat = flatten(raw or {})
        flat.update(flatten(overrides or {}))
        allowed = allowed_keys()
        unknown = [k for k in flat if k not in allowed]
        if unknown:
            key = unknown[0]
            raise RecipeError(f"{key}: unknown recipe key{_suggest(key, allowed)}; allowed keys: {', '.join(allowed)}")
        values = {key: flat.get(key) for key in method_param_keys()}
        for key, spec in SCHEMA.items():
            if key in flat:
                value = _coerce(key, flat[key], spec.kind, spec.nullable)
            elif spec.default is REQUIRED:
                raise RecipeError(f"{key}: required key is missing")
            else:
                value = list(spec.default) if isinstance(spec.default, list) else spec.default
            _check_range(key, value, spec.minimum, spec.exclusive_minimum, spec.choices)
            values[key] = value
        recipe = cls(values, source)
        recipe._validate_task()
        problem = recipe.benchmark.recipe_problem(recipe.values)
        if problem:
            raise RecipeError(problem)
        _check_eval(recipe.values)
        _check_during_training(recipe.values)
        recipe._validate_hub()
        return recipe

    def _validate_task(self) -> None:
        v = self.values
        benchmark = self.benchmark
        source = v["data.source"]
        if source not in benchmark.sources and not Path(source).expanduser().is_dir():
            allowed = ", ".join(benchmark.sources)
            raise RecipeError(f"data.source: '{source}' is not allowed; allowed: {allowed} or a directory")
        if v["forget_split"] is None:
            v["forget_split"] = benchmark.default_forget_split
        _check_range("forget_split", v["forget_split"], None, False, benchmark.forget_splits)
        _check_range("retain_split", v["retain_split"], None, False, benchmark.retain_splits)
        if v["task"] == "finetune":
            for key in method_param_keys():
                if v[key] is not None:
                    raise RecipeError(f"{key}: not a finetune parameter (finetune recipes take no method settings)")
            if v["precompute_ref_log_probs"]:
                raise RecipeError("precompute_ref_log_probs: finetuning uses no reference model (set it to false)")
            if v["sam_rho"] is not None:
                raise RecipeError("sam_rho: finetuning has no forget loss to perturb (unset sam_rho)")
            for split in v["finetune_splits"]:
                _check_range("finetune_splits", split, None, False, benchmark.finetune_splits)
            if not v["finetune_splits"]:
                raise RecipeError("finetune_splits: at least one split is needed")
            return
        try:
            spec = get_method(v["method"])
        except KeyError as err:
            raise RecipeError(str(err.args[0])) from None
        expected_retain = benchmark.retain_split(v["forget_split"])
        if v["retain_split"] is None:
            v["retain_split"] = expected_retain
        elif v["retain_split"] != expected_retain:
            raise RecipeError(
                f"retain_split: '{v['retain_split']}' overlaps {v['forget_split']}; allowed: {expected_retain} "
                "(the complement of the forget split)"
            )
        if v["holdout_split"] is None:
            v["holdout_split"] = benchmark.holdout_split(v["forget_split"])
        for key in method_param_keys():
            if v[key] is not None and key not in spec.params:
                allowed = ", ".join(spec.params) or "none"
                raise RecipeError(f"{key}: not a parameter of {spec.name}; its parameters: {allowed}")
        for key, param in spec.params.items():
            v[key] = _coerce(key, v[key] if v[key] is not None else param.default, param.kind, False)
        try:
            spec.check({key: v[key] for key in spec.params})
        except ValueError as err:
            raise RecipeError(str(err)) from None
        if v["sam_rho"] is not None and not spec.sam:
            raise RecipeError(f"sam_rho: {spec.name} replaces the optimizer step with its own rule; unset sam_rho")
        if v["precompute_ref_log_probs"]:
            problem = spec.precompute_error(v.get("retain_loss_type"))
            if problem:
                raise RecipeError(problem)
        if v["effective_batch_size"] % v["per_device_train_batch_size"]:
            raise RecipeError(
                "per_device_train_batch_size: must divide effective_batch_size "
                f"({v['per_device_train_batch_size']} does not divide {v['effective_batch_size']})"
            )

    def _validate_hub(self) -> None:
        v = self.values
        if v["push_to_hub"] and not (v["hub_org"] or v["hub_repo_id"]):
            raise RecipeError("push_to_hub: needs hub_org (or hub_repo_id) to know where the model goes")
        repo_id = v["hub_repo_id"]
        if repo_id is not None and (repo_id.count("/") != 1 or not all(repo_id.split("/"))):
            raise RecipeError(f"hub_repo_id: '{repo_id}' is not of the form ORG/NAME")

    # ---- derived names --------------------------------------------------------------------------------------
    @property
    def benchmark(self) -> Benchmark:
        return get_benchmark(self["benchmark"])

    @property
    def method_spec(self):
        return METHODS[self["method"]]

    @property
    def method_params(self) -> dict:
        if self["task"] != "unlearn":
            return {}
        return {k: self[k] for k in self.method_spec.params}

    @property
    def model_name(self) -> str:
        if self["model_name"]:
            return self["model_name"]
        if self["model"] == "tiny" and not self["tokenizer"]:
            return "tiny-llama"
        return naming.model_short_name(self["tokenizer"] or self["model"])

    @property
    def finetune_name(self) -> str:
        if self["finetune_name"]:
            return self["finetune_name"]
        return "+".join(self["finetune_splits"])

    @property
    def run_name(self) -> str:
        if self["task"] == "finetune":
            return self.benchmark.finetune_run_name(
                self.model_name, self.benchmark.run_label(self, self.finetune_name)
            )
        return naming.unlearn_run_name(
            self.benchmark.run_label(self, self["forget_split"]),
            self["method"],
            self["learning_rate"],
            self["num_train_epochs"],
            self.method_params,
            sam_rho=self["sam_rho"],
        )

    def repo_id(self, org: str) -> str:
        if self["task"] == "finetune":
            return f"{org}/{self.run_name}"
        return self.benchmark.unlearn_repo_id(org, self.model_name, self.run_name)

    @property
    def output_dir(self) -> str:
        return self["output_dir"] or str(Path("saves") / self["task"] / self.run_name)

    def to_yaml_dict(self) -> dict:
        """The resolved recipe as nested YAML data (every key, defaults filled in)."""
        out: dict = {}
        for key, value in self.values.items():
            if key in method_param_keys() and (self["task"] != "unlearn" or key not in self.method_spec.params):
                continue
            node = out
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return out


def parse_overrides(args: list[str]) -> dict:
    """`--key value`, `--key=value` and bare `--flag` (true) into a dict of dotted keys."""
    out: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise RecipeError(f"unexpected argument {arg!r}: overrides look like --key value")
        key = arg[2:]
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            value = args[i + 1]
            i += 2
        else:
            value = "true"
            i += 1
        out[key.replace("-", "_") if key.replace("-", "_") in allowed_keys() else key] = yaml.safe_load(value)
    return out


def read_yaml_mapping(path: str | Path, what: str, expected: str = "a mapping of keys to values") -> dict:
    """A YAML file that must hold a mapping; every failure is a one-line RecipeError naming `what` it is."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{what}: no such file {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"{what}: {path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{what}: {path} must hold {expected}")
    return raw


def load_recipe(path: str | Path, overrides: dict | None = None) -> Recipe:
    """Read a YAML recipe, validate it, check the file name under recipes/<benchmark>/, then apply overrides."""
    path = Path(path)
    raw = read_yaml_mapping(path, "recipe")
    as_written = Recipe.from_dict(raw, source=path)
    folder = path.parent.name
    if folder in BENCHMARKS and path.parent.parent.name == "recipes" and path.stem != as_written.run_name:
        raise RecipeError(
            f"recipe file name: '{path.stem}' does not match its run name '{as_written.run_name}' "
            f"(files under recipes/{folder}/ are named after their run)"
        )
    return Recipe.from_dict(raw, overrides, source=path) if overrides else as_written
