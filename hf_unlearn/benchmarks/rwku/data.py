"""RWKU's data (Jin et al. 2024): the Hub dataset `jinzhuoran/RWKU`, its configs, splits and columns, and targets.

RWKU is distributed only through the Hub (`jinzhuoran/RWKU`, CC-BY-4.0). Every config is one JSON file under `All/`
holding all 200 targets; a target's rows are those whose `subject` is its name, as the authors'
`process/data_process.py` splits them. Every config is read through the one `datasets.load_dataset(path,
name=config, split=split)` call, from the Hub id (at a pinned revision: the repo has hundreds of commits) or from a
local folder laid out like the Hub repo (a README.md whose YAML header maps configs to files): that is how tests and
the demo run offline on a synthetic dataset in the same schema (`synthetic.py`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hf_unlearn.errors import UserError

DATASET_ID = "jinzhuoran/RWKU"
#: The Hub revision read by default (the dataset card's commit d72f493, 2024); `revision=None` reads the newest.
HUB_REVISION = "d72f493d481d1b0a9bdc6e869d32baeffad8904f"
#: `source` values that mean the Hub (`auto` is every benchmark's recipe default).
HUB_SOURCES = ("hub", "auto")


@dataclass(frozen=True)
class ConfigSpec:
    """One Hub config: its only split, its file under `All/` and the columns the code reads (more may exist)."""

    split: str
    file: str
    columns: tuple[str, ...]


_PROBE = ("query", "answer", "level", "type", "subject")
_CORPUS = ("id", "text", "subject", "intro")
_PAIR = ("id", "prompt", "response", "subject", "intro")
_REFUSAL = ("instruction", "input", "output", "subject", "intro")
#: config -> its split, file and columns, as the dataset card declares them (the per-target copies the authors'
#: code reads, `Target/<n>_<Name>/<file>`, carry the same file names).
CONFIGS: dict[str, ConfigSpec] = {
    "forget_target": ConfigSpec("train", "intro.json", ("target", "intro")),
    "forget_level1": ConfigSpec("test", "forget_level1.json", _PROBE),
    "forget_level2": ConfigSpec("test", "forget_level2.json", _PROBE),
    "forget_level3": ConfigSpec("test", "forget_level3.json", _PROBE),
    "neighbor_level1": ConfigSpec("test", "neighbor_level1.json", _PROBE),
    "neighbor_level2": ConfigSpec("test", "neighbor_level2.json", _PROBE),
    "mia_forget": ConfigSpec("test", "forget_mia.json", ("text", "subject")),
    "mia_retain": ConfigSpec("test", "retain_mia.json", ("text", "subject")),
    "utility_general": ConfigSpec(
        "test", "retain_mmlu.json", ("task", "question", "choices", "answer", "examples", "subject")
    ),
    "utility_reason": ConfigSpec("test", "retain_bbh.json", ("task", "question", "answer", "cot", "subject")),
    "utility_truthfulness": ConfigSpec("test", "truthful.json", ("question", "mc1_targets", "mc2_targets", "subject")),
    "utility_factuality": ConfigSpec("test", "triviaqa.json", ("question", "answers", "subject")),
    "utility_fluency": ConfigSpec("test", "fluency.json", ("instruction", "subject")),
    "train_original_passage": ConfigSpec("train", "passage.json", ("text", "subject")),
    "train_positive_llama3": ConfigSpec("train", "positive.json", _CORPUS),
    "train_negative_llama3": ConfigSpec("train", "negative.json", _CORPUS),
    "train_pair_llama3": ConfigSpec("train", "pair.json", _PAIR),
    "train_refusal_llama3": ConfigSpec("train", "reject.json", _REFUSAL),
    "train_positive_phi3": ConfigSpec("train", "positive_phi.json", _CORPUS),
    "train_negative_phi3": ConfigSpec("train", "negative_phi.json", _CORPUS),
    "train_pair_phi3": ConfigSpec("train", "pair_phi.json", _PAIR),
    "train_refusal_phi3": ConfigSpec("train", "reject_phi.json", _REFUSAL),
}
#: The probe and utility configs one evaluation reads, per target.
EVAL_CONFIGS = tuple(c for c in CONFIGS if not c.startswith(("train_", "forget_target")))
#: The models the Hub has pre-generated forget corpora for (the `train_*_<model>` configs).
CORPUS_MODELS = ("llama3", "phi3")
#: Targets of the paper's main experiments (1-based rows of `forget_target`).
MAIN_TARGETS = range(1, 101)


class RwkuDataError(UserError, ValueError):
    """An RWKU config or target that cannot be had (offline, missing, wrong schema, unknown name)."""


def dataset_name(source: str = "hub") -> str:
    """What the error messages call the dataset: its Hub id, or the local folder standing in for it."""
    return DATASET_ID if source in HUB_SOURCES else f"{source} (local copy of {DATASET_ID})"


def check_config(config: str) -> ConfigSpec:
    """The config's spec; a one-line error naming the allowed configs otherwise."""
    if config not in CONFIGS:
        raise RwkuDataError(f"RWKU has no config '{config}'; it has: {', '.join(CONFIGS)}")
    return CONFIGS[config]


def load_config(config: str, source: str = "hub", revision: str | None = HUB_REVISION) -> list[dict]:
    """Every row of one RWKU config (all targets), as dicts with at least the config's columns.

    `source` is "hub" ("auto") or a local folder in the Hub repo's layout. Anything that stops the load (offline and
    not cached, no such folder, a missing column) is a one-line error naming the dataset."""
    spec = check_config(config)
    hub = source in HUB_SOURCES
    name = dataset_name(source)
    if not hub:
        folder = Path(source).expanduser()
        if not (folder / "README.md").is_file():
            raise RwkuDataError(
                f"data.source: {folder} is not an RWKU dataset folder (no README.md listing its configs); "
                f"use 'hub' for {DATASET_ID}"
            )
    from huggingface_hub import constants

    try:
        names, rows = _read(DATASET_ID if hub else str(Path(source).expanduser()), config, spec.split, hub, revision)
    except Exception as err:  # offline, missing and network errors come in many types
        if hub and constants.HF_HUB_OFFLINE:
            raise RwkuDataError(
                f"data.source: RWKU dataset {name} ({config}) is not cached and offline mode is on: "
                "connect and unset HF_HUB_OFFLINE, or set data.source to a local copy"
            ) from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RwkuDataError(f"data.source: RWKU dataset {name} ({config}) could not be loaded: {reason}") from None
    missing = [c for c in spec.columns if c not in names]
    if missing:
        raise RwkuDataError(
            f"data.source: RWKU dataset {name} ({config}) has no column '{missing[0]}' "
            f"(expected {', '.join(spec.columns)}; another revision of the dataset?)"
        )
    return rows


def _read(path: str, config: str, split: str, hub: bool, revision: str | None) -> tuple[list[str], list[dict]]:
    """The split's column names and rows. A local folder goes through a throwaway cache: `datasets` keys a local
    folder's cache by its name, so a cached copy could be another folder's, or this one's before a rewrite."""
    from datasets import load_dataset

    if hub:
        rows = load_dataset(path, name=config, split=split, revision=revision)
        return rows.column_names, list(rows)
    with tempfile.TemporaryDirectory(prefix="hf_unlearn_rwku_") as cache:
        rows = load_dataset(path, name=config, split=split, cache_dir=cache)
        return rows.column_names, list(rows)


def rows_for(rows: Sequence[dict], target: str) -> list[dict]:
    """The rows of one target: `subject` equal to its name (`forget_target` rows: `target`)."""
    return [row for row in rows if row.get("subject", row.get("target")) == target]


def target_names(source: str = "hub", revision: str | None = HUB_REVISION) -> list[str]:
    """The targets in `forget_target`'s row order (target n is row n, 1-based)."""
    return [row["target"] for row in load_config("forget_target", source, revision)]


@dataclass(frozen=True)
class Target:
    """One unlearning target: its 1-based row in `forget_target` and its name."""

    index: int
    name: str

    @property
    def dir_name(self) -> str:
        """The authors' folder and run name, e.g. `1_Stephen_King` (spaces only are replaced)."""
        return f"{self.index}_{self.name.replace(' ', '_')}"


_RANGE = re.compile(r"^(\d+)-(\d+)$")


def resolve_targets(selection: Sequence[str | int], names: Sequence[str]) -> list[Target]:
    """Targets named by 1-based index (`3`), inclusive range (`1-10`), name (`Stephen King`) or folder name
    (`1_Stephen_King`), in the order given, without repeats. `names` is `forget_target`'s column in row order."""
    by_name = {n: i + 1 for i, n in enumerate(names)}
    by_dir = {Target(i + 1, n).dir_name: i + 1 for i, n in enumerate(names)}
    chosen: list[int] = []
    for item in selection:
        text = str(item).strip()
        match = _RANGE.match(text)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            indices = list(range(first, last + 1)) if first <= last else []
        elif text.isdigit():
            indices = [int(text)]
        elif text in by_name or text in by_dir:
            indices = [by_name.get(text) or by_dir[text]]
        else:
            raise RwkuDataError(
                f"targets: '{text}' is not an RWKU target; give a number 1-{len(names)}, a range like 1-10, "
                f"or a name such as '{names[0] if names else 'Stephen King'}'"
            )
        for index in indices:
            if not 1 <= index <= len(names):
                raise RwkuDataError(f"targets: {text} is out of range; RWKU has targets 1-{len(names)}")
            if index not in chosen:
                chosen.append(index)
    if not chosen:
        raise RwkuDataError("targets: no target selected; give numbers (1), ranges (1-10) or names")
    return [Target(i, names[i - 1]) for i in chosen]


def batch_name(targets: Sequence[Target]) -> str:
    """The authors' batch-setting run id for consecutive targets (`1-10`); a single target's folder name."""
    if len(targets) == 1:
        return targets[0].dir_name
    indices = [t.index for t in targets]
    if indices == list(range(indices[0], indices[0] + len(indices))):
        return f"{indices[0]}-{indices[-1]}"
    return "+".join(str(i) for i in indices)


def target_rows(
    configs: Sequence[str], targets: Sequence[Target], source: str = "hub", revision: str | None = HUB_REVISION
) -> dict[str, dict[str, list[dict]]]:
    """target folder name -> config -> that target's rows, each config loaded once for all targets."""
    out: dict[str, dict[str, list[dict]]] = {t.dir_name: {} for t in targets}
    for config in configs:
        rows = load_config(config, source, revision)
        for target in targets:
            out[target.dir_name][config] = rows_for(rows, target.name)
    return out
