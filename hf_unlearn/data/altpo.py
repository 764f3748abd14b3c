"""AltPO's alternate answers: the file format, and the forget/retain dataset that pairs each with the true answer.

The file is written once by `hf-unlearn altpo-data` (`hf_unlearn.altpo`) and read by every AltPO run that names it
(`alternates:` in the recipe). It holds the generation settings (the protocol among them) and one row per alternate,
{"question", "answer", "alternate"} (several rows per question). Also read: the JSON Lines open-unlearning's
`community/methods/AltPO/generate.py` writes (one {"question", "answer", "alternate"} object a line), the JSON Lines
of the original AltPO repository (github.com/molereddy/Alternate-Preference-Optimization, whose `generate.py` names
the alternate `sub_answer`), and a plain JSON list of rows in either naming.
"""

from __future__ import annotations

import json
from pathlib import Path

from hf_unlearn.data.pairing import ForgetRetainDataset
from hf_unlearn.data.tofu import DataFileError

FORMAT = "hf-unlearn/altpo-alternates"
#: The keys an alternate answer goes by: ours and open-unlearning's, then the original AltPO code's.
ALTERNATE_KEYS = ("alternate", "sub_answer")


def write_alternates(path: Path, settings: dict, rows: list[dict]) -> None:
    """The file, byte for byte the same for the same settings and rows."""
    body = {"format": FORMAT, "settings": settings, "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_settings(path: Path) -> dict | None:
    """The settings an existing file was generated with (None: no such file, or another format)."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body.get("settings") if isinstance(body, dict) and body.get("format") == FORMAT else None


def _parse(text: str, path: Path):
    """The file's JSON value, or its JSON Lines as a list; one-line error if it is neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise DataFileError(
                f"alternates: '{path}' is neither JSON nor JSON Lines (line {number}); generate it with "
                "hf-unlearn altpo-data"
            ) from None
    return rows


def _alternate_row(row) -> dict | None:
    """{"question", "answer", "alternate"} from a row in any of the layouts read, or None if it is not one."""
    if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not isinstance(row.get("answer"), str):
        return None
    alternate = next((row[k] for k in ALTERNATE_KEYS if k in row), None)
    if not isinstance(alternate, str):
        return None
    return {"question": row["question"], "answer": row["answer"], "alternate": alternate}


def load_alternates(path: str | Path) -> list[dict]:
    """Rows {"question", "answer", "alternate"} of an alternates file in any layout read; one-line errors name the
    file."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataFileError(
            f"alternates: cannot read '{path}' ({err.strerror}); generate it with hf-unlearn altpo-data"
        ) from None
    body = _parse(text, path)
    rows = body.get("rows") if isinstance(body, dict) else body
    parsed = [_alternate_row(r) for r in rows] if isinstance(rows, list) else [None]
    if not parsed or None in parsed:
        raise DataFileError(
            f"alternates: '{path}' needs rows with question, answer and alternate (or sub_answer, as the original "
            "AltPO code names it)"
        )
    return parsed


def matching_alternates(forget_rows: list[dict], alternates: list[dict], path: str) -> list[tuple[int, str]]:
    """(forget index, alternate answer) for every usable alternate, in file order; every forget question needs one."""
    index = {row["question"]: i for i, row in enumerate(forget_rows)}
    pairs = [
        (index[r["question"]], r["alternate"].strip())
        for r in alternates
        if r["question"] in index and r["alternate"].strip()
    ]
    covered = {i for i, _ in pairs}
    missing = [row["question"] for i, row in enumerate(forget_rows) if i not in covered]
    if missing:
        raise DataFileError(
            f"alternates: '{path}' has no alternate answer for {len(missing)} forget question(s), e.g. "
            f"{missing[0]!r}; generate it for this forget split with hf-unlearn altpo-data"
        )
    return pairs


class AlternateForgetRetainDataset(ForgetRetainDataset):
    """One item per alternate answer (several per forget question, as open-unlearning's AltPO data):
    {"forget": {"original": the true QA, "alternate": the same question with the alternate}, "retain": partner}.

    The alternate feature's `index` is its position k, unique, so precomputed reference log-probs key on it; the
    original keeps its forget row's index. Retain partners are drawn per (seed, epoch, k) as for any forget set.
    """

    def __init__(self, formatter, forget_rows: list[dict], pairs: list[tuple[int, str]], retain: list, seed: int = 0):
        self.originals = formatter.encode_rows(forget_rows)
        items = []
        for k, (i, answer) in enumerate(pairs):
            alternate = formatter.encode(forget_rows[i]["question"], answer)
            alternate["index"] = k
            items.append({"original": self.originals[i], "alternate": alternate})
        super().__init__(items, retain, seed=seed)

    def reference_features(self, path: str, epochs: int) -> dict[int, dict]:
        """{index: feature} of every sequence under `path` (precomputed reference log-probs; epochs do not matter)."""
        if path == "forget.original":
            return {int(f["index"]): f for f in self.originals}
        if path == "forget.alternate":
            return {int(item["alternate"]["index"]): item["alternate"] for item in self.forget}
        raise ValueError(f"precompute_ref_log_probs: the alternates dataset has no '{path}' sequences")


def build_altpo_dataset(recipe, formatter, rows: dict) -> AlternateForgetRetainDataset:
    """AltPO: each alternate answer (preferred) against the true one (dispreferred), plus a retain partner.

    The alternates used are added to `rows` as "alternates", so the run's fingerprint and card cover them.
    """
    path = recipe["alternates"]
    pairs = matching_alternates(rows["forget"], load_alternates(path), path)
    rows["alternates"] = [
        {"question": rows["forget"][i]["question"], "answer": rows["forget"][i]["answer"], "alternate": a}
        for i, a in pairs
    ]
    return AlternateForgetRetainDataset(
        formatter, rows["forget"], pairs, formatter.encode_rows(rows["retain"]), seed=recipe["seed"]
    )
