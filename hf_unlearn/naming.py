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


def format_option(value) -> str:
    """A run-name option's value: numbers as `format_number`, words with "+" as "-" (Hub repo names refuse "+")."""
    return value.replace("+", "-") if isinstance(value, str) else format_number(value)


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
    for key, part in spec.name_options.items():
        if params[key] != spec.params[key].default:
            name += part.format(**{key: format_option(params[key])})
    return name if sam_rho is None else name + SAM_SUFFIX.format(sam_rho=format_number(sam_rho))


def pattern_params(pattern: str) -> list[str]:
    """The method hyper-parameters a run-name pattern prints (every placeholder but forget/method/lr/epochs)."""
    fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name]
    return [name for name in fields if name not in ("forget", "method", "lr", "epochs")]


_NUM = r"[0-9][0-9.e+-]*"


def run_name_regex(method: str) -> re.Pattern:
    """The run names of `method`: its pattern, its optional parts, then the optional SAM suffix."""
    spec = METHODS[method]
    regex = re.escape(spec.pattern)
    regex = regex.replace(re.escape("{forget}"), r"(?P<forget>[A-Za-z0-9-]+)")  # split names hold no "_"
    regex = regex.replace(re.escape("{method}"), re.escape(method))
    for key in ["lr", "epochs", *pattern_params(spec.pattern)]:
        regex = regex.replace(re.escape("{" + key + "}"), rf"(?P<{key}>{_NUM})")
    for key, part in spec.name_options.items():
        choices = spec.params[key].choices
        value = "|".join(re.escape(format_option(c)) for c in choices) if choices else _NUM
        regex += "(?:" + re.escape(part).replace(re.escape("{" + key + "}"), rf"(?P<{key}>{value})") + ")?"
    return re.compile(regex + rf"(?:_sam(?P<sam_rho>{_NUM}))?\Z")


def parse_run_name(name: str) -> dict:
    """Recipe fields from a run name (the inverse of `unlearn_run_name`); an option the name omits is at its
    default."""
    for method, spec in METHODS.items():
        match = run_name_regex(method).match(name)
        if not match:
            continue
        groups = match.groupdict()
        fields = {
            "forget_split": groups.pop("forget"),
            "method": method,
            "learning_rate": float(groups.pop("lr")),
            "num_train_epochs": _number(groups.pop("epochs")),
        }
        for key in spec.name_options:
            text, param = groups.pop(key), spec.params[key]
            if text is None:
                fields[key] = param.default
            elif param.choices:
                fields[key] = next(c for c in param.choices if format_option(c) == text)
            else:
                fields[key] = _number(text)
        fields.update({k: _number(v) for k, v in groups.items() if v is not None})
        return fields
    raise ValueError(f"'{name}' is not a run name of any registered method ({', '.join(sorted(METHODS))})")


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def model_short_name(model_id: str) -> str:
    """`meta-llama/Llama-3.2-1B-Instruct` -> `Llama-3.2-1B-Instruct` (the {model} part of repo ids)."""
    return model_id.rstrip("/").split("/")[-1]
