"""Run names and Hub repo ids, exactly as open-unlearning publishes them, and their inverse."""

from __future__ import annotations

import re
import string

from hf_unlearn.methods import METHODS


def format_lr(lr: float) -> str:
    """Learning rates print as Python's `str(float)`: 1e-05, 2e-05, 0.0001."""
    return str(float(lr))


def format_number(x: float) -> str:
    """Other numbers without a trailing `.0`: 5, 0.1, 3.5."""
    x = float(x)
    return str(int(x)) if x.is_integer() else str(x)


#: Run-name suffix of sharpness-aware runs (`sam_rho`), after the method's own pattern.
SAM_SUFFIX = "_sam{sam_rho}"


def unlearn_run_name(
    forget_split: str, method: str, learning_rate: float, epochs: float, params: dict, sam_rho: float | None = None
) -> str:
    spec = METHODS[method]
    values = {
        "forget": forget_split,
        "method": method,
        "lr": format_lr(learning_rate),
        "epochs": format_number(epochs),
    }
    for key in pattern_params(spec.pattern):
        values[key] = format_number(params[key])
    name = spec.pattern.format(**values)
    return name if sam_rho is None else name + SAM_SUFFIX.format(sam_rho=format_number(sam_rho))


def pattern_params(pattern: str) -> list[str]:
    """The method hyper-parameters a run-name pattern prints (every placeholder but forget/method/lr/epochs)."""
    fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name]
    return [name for name in fields if name not in ("forget", "method", "lr", "epochs")]


_NUM = r"[0-9][0-9.e+-]*"


def _pattern_regex(pattern: str, method: str) -> re.Pattern:
    regex = re.escape(pattern)
    regex = regex.replace(re.escape("{forget}"), r"(?P<forget>[A-Za-z0-9-]+)")  # split names hold no "_"
    regex = regex.replace(re.escape("{method}"), re.escape(method))
    for key in ["lr", "epochs", *pattern_params(pattern)]:
        regex = regex.replace(re.escape("{" + key + "}"), rf"(?P<{key}>{_NUM})")
    return re.compile(regex + rf"(?:_sam(?P<sam_rho>{_NUM}))?\Z")


def parse_run_name(name: str) -> dict:
    """Recipe fields from a run name (the inverse of `unlearn_run_name`)."""
    for method, spec in METHODS.items():
        match = _pattern_regex(spec.pattern, method).match(name)
        if not match:
            continue
        groups = match.groupdict()
        fields = {
            "forget_split": groups.pop("forget"),
            "method": method,
            "learning_rate": float(groups.pop("lr")),
            "num_train_epochs": _number(groups.pop("epochs")),
        }
        fields.update({k: _number(v) for k, v in groups.items() if v is not None})
        return fields
    raise ValueError(f"'{name}' is not a run name of any registered method ({', '.join(sorted(METHODS))})")


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def model_short_name(model_id: str) -> str:
    """`meta-llama/Llama-3.2-1B-Instruct` -> `Llama-3.2-1B-Instruct` (the {model} part of repo ids)."""
    return model_id.rstrip("/").split("/")[-1]
