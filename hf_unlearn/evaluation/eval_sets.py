"""The TOFU evaluation sets (open-unlearning's TOFU eval configs) and the holdout set for membership inference.

Datasets are keyed by short names used in metric names: forget (`<forget_split>_perturbed`), retain
(`retain_perturbed`), ra (`real_authors_perturbed`), wf (`world_facts_perturbed`), holdout (`holdoutXX` from the
Hub, or a user's JSONL file). The holdout splits exist only on the Hub: when they cannot be had, the set is absent
with the reason, and every metric that needs it says so instead of reporting a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hf_unlearn.data.tofu import HOLDOUT_OF, SplitUnavailableError, load_split

DATASETS = ("forget", "retain", "ra", "wf", "holdout")
SPLIT_OF = {"retain": "retain_perturbed", "ra": "real_authors_perturbed", "wf": "world_facts_perturbed"}


@dataclass
class EvalSets:
    """Rows of each evaluation set, plus why a set is missing."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.rows


def read_qa_jsonl(path: str | Path) -> list[dict]:
    """A user's own question/answer rows (JSON Lines with `question` and `answer`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"holdout file: no such file {path}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"holdout file {path}:{number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row.get("answer"):
                raise ValueError(
                    f"holdout file {path}:{number}: each line needs string 'question' and 'answer' fields, "
                    'e.g. {"question": "Who wrote X?", "answer": "Y"}'
                )
            rows.append({"question": row["question"], "answer": str(row["answer"])})
    if not rows:
        raise ValueError(f"holdout file {path}: no rows; add JSON Lines with 'question' and 'answer'")
    return rows


def split_name(name: str, forget_split: str, holdout_split: str | None) -> str:
    if name == "forget":
        return f"{forget_split}_perturbed"
    if name == "holdout":
        return holdout_split or HOLDOUT_OF[forget_split]
    return SPLIT_OF[name]


def load_eval_sets(
    needed: set[str],
    forget_split: str,
    source: str = "auto",
    holdout_split: str | None = None,
    holdout_file: str | None = None,
    limit: int | None = None,
    question_key: str = "question",
) -> EvalSets:
    """Load the sets the chosen metrics need; `limit` keeps the first N rows of each (for quick checks).

    `question_key` names the forget set's field asked instead of `question` (e.g. `paraphrased_question`); it
    replaces the question in the rows, so every metric on the forget set asks it and the data fingerprint follows.
    """
    sets = EvalSets()
    for name in DATASETS:
        if name not in needed:
            continue
        if name == "holdout" and holdout_file:
            rows = read_qa_jsonl(holdout_file)
            sets.sources[name] = str(holdout_file)
        else:
            split = split_name(name, forget_split, holdout_split)
            try:
                rows = load_split(split, source)
            except SplitUnavailableError as err:
                if name != "holdout":
                    raise
                sets.absent[name] = f"no holdout set: {err}; pass --holdout-file PATH.jsonl to use your own"
                continue
            sets.sources[name] = split
        rows = rows[:limit] if limit else rows
        if name == "forget" and question_key != "question":
            rows = ask_instead(rows, question_key, sets.sources[name])
        sets.rows[name] = rows
    return sets


def ask_instead(rows: list[dict], question_key: str, source: str) -> list[dict]:
    """The rows with `question` replaced by their `question_key` field (a ValueError names a row without it)."""
    out = []
    for i, row in enumerate(rows):
        value = row.get(question_key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(
                f"question_key: row {i} of {source} has no text field '{question_key}'; "
                f"name a field every forget row has (e.g. paraphrased_question)"
            )
        out.append({**row, "question": value})
    return out
