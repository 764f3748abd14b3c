"""RWKU's result files, built from computed values: the authors' per-target files and hf-unlearn's two summaries.

The authors' evaluators write, per target, `forget.json`, `neighbor.json`, `mmlu.json`, `bbh.json`,
`truthful.json`, `triviaqa.json`, `forget_mia.json`, `retain_mia.json` and `fluency.json`, with the keys kept
here (each `results` list holds the probe rows with their predictions). hf-unlearn adds, per probe, its ROUGE-L
recall (and the normalised variant), so the per-attack analysis of the paper's Fig. 4 needs no re-scoring.

`RWKU_EVAL.json` holds every target's files and its row of the paper's table; `RWKU_SUMMARY.json` holds the table
row averaged over the targets. The table reads as the paper's: every score x 100, FM/RM = mean NLL x 100 of the MIA
passages (minus the stored mean log-likelihood), Flu = entropy x 100, and All = the probe-count-weighted mean of
the levels, i.e. the mean over all of a target's probes (the authors publish no aggregation script; this weighting
reproduces their Table 1's "All" from its FB/QA/AA columns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hf_unlearn.benchmarks.rwku import metrics as M
from hf_unlearn.benchmarks.rwku.rouge import average_scores, rouge_l_recall, rouge_l_recall_normalised

EVAL_FILE = "RWKU_EVAL.json"
SUMMARY_FILE = "RWKU_SUMMARY.json"
#: The authors' per-target files (without ".json"), in the order their workflow evaluates.
TASKS = ("forget", "neighbor", "mmlu", "bbh", "truthful", "triviaqa", "forget_mia", "retain_mia", "fluency")
#: The paper's table columns (Tables 1, 2, 6).
COLUMNS = ("FB", "QA", "AA", "All", "nFB", "nQA", "nAll", "FM", "RM", "Gen", "Rea", "Tru", "Fac", "Flu")
SCALE = 100.0


def _with(row: dict, **values) -> dict:
    return {**row, **values}


def probe_file(levels: Sequence[tuple[Sequence[dict], Sequence[str]]]) -> dict:
    """`forget.json` / `neighbor.json`: per level (1-based, in order) the ROUGE-L recall averaged over its probes,
    the full rouge-1/2/l r/p/f averages, and under `results` every probe with its `prediction` (the generation
    stripped, `NOANSWER` if empty) and its own scores. `levels`: (probe rows, raw generations) per level."""
    out: dict = {}
    full: dict = {}
    results = []
    for number, (rows, generations) in enumerate(levels, start=1):
        predictions = [M.probe_prediction(g) for g in generations]
        answers = [row["answer"] for row in rows]
        scores = average_scores(predictions, answers)
        out[f"level_{number}_rouge_l_r"] = scores["rouge-l"]["r"] if scores else None
        full[f"level_{number}_rouge"] = scores
        normalised = [rouge_l_recall_normalised(p, a) for p, a in zip(predictions, answers, strict=True)]
        out[f"level_{number}_rouge_l_r_normalised"] = sum(normalised) / len(normalised) if normalised else None
        results += [
            _with(row, prediction=p, rouge_l_r=rouge_l_recall(p, row["answer"]), rouge_l_r_normalised=n)
            for row, p, n in zip(rows, predictions, normalised, strict=True)
        ]
    return {**out, **full, "results": results}


def mmlu_file(rows: Sequence[dict], predictions: Sequence[int]) -> dict:
    """`mmlu.json`: accuracy, the per-question correctness and the rows with their predicted option (0-3)."""
    correct = [p == row["answer"] for row, p in zip(rows, predictions, strict=True)]
    return {
        "acc": sum(correct) / len(correct) if correct else None,
        "all_acc": correct,
        "results": [_with(row, prediction=p) for row, p in zip(rows, predictions, strict=True)],
    }


def bbh_file(rows: Sequence[dict], outputs: Sequence[str], compat: bool = False) -> dict:
    """`bbh.json`: `EM` is the authors' character-wise match when `compat`, the corrected exact match otherwise;
    both are stored (`EM_rwku_compat`, `EM_corrected`), and per row the raw output, the extracted prediction and
    both matches."""
    items = []
    for row, output in zip(rows, outputs, strict=True):
        prediction = M.bbh_prediction(output)
        items.append(
            _with(
                row,
                raw_output=output,
                prediction=prediction,
                em_rwku_compat=M.bbh_em_rwku_compat(prediction, row["answer"]),
                em_corrected=M.bbh_em(prediction, row["answer"]),
            )
        )
    compat_em = _mean([i["em_rwku_compat"] for i in items])
    corrected = _mean([i["em_corrected"] for i in items])
    return {
        "EM": compat_em if compat else corrected,
        "EM_rwku_compat": compat_em,
        "EM_corrected": corrected,
        "results": items,
    }


def truthful_file(rows: Sequence[dict], choice_scores: Sequence[dict[str, float]]) -> dict:
    """`truthful.json`: mean MC1 and MC2 (MC1 is the paper's Tru) and per row its MC1 and MC2; `choice_scores`:
    per row, each choice's summed log-probability."""
    items = []
    for row, scores in zip(rows, choice_scores, strict=True):
        mc1, mc2 = M.truthfulqa_mc(scores, row["mc1_targets"], row["mc2_targets"])
        items.append(_with(row, MC1=mc1, MC2=mc2))
    return {"MC1": _mean([i["MC1"] for i in items]), "MC2": _mean([i["MC2"] for i in items]), "results": items}


def triviaqa_file(rows: Sequence[dict], outputs: Sequence[str]) -> dict:
    """`triviaqa.json`: SQuAD exact match and token F1 of the raw outputs against the answer aliases (best alias);
    F1 is the paper's Fac."""
    em = [M.exact_match(o, row["answers"]) for row, o in zip(rows, outputs, strict=True)]
    f1 = [M.best_f1(o, row["answers"]) for row, o in zip(rows, outputs, strict=True)]
    return {
        "EM": _mean(em),
        "F1": _mean(f1),
        "results": [_with(row, prediction=o) for row, o in zip(rows, outputs, strict=True)],
    }


def fluency_file(rows: Sequence[dict], outputs: Sequence[str], token_lists: Sequence[Sequence[str]]) -> dict:
    """`fluency.json`: the mean weighted bi/tri-gram entropy of the outputs (`token_lists`: their words)."""
    entropies = [M.fluency_entropy(tokens) for tokens in token_lists]
    return {
        "entropy": _mean(entropies),
        "results": [_with(row, prediction=o) for row, o in zip(rows, outputs, strict=True)],
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _scaled(value: float | None, sign: float = 1.0) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return sign * value * SCALE


def _pooled(file: dict, levels: int) -> float | None:
    """The mean over every probe of the file's levels: each level's mean weighted by its probe count."""
    counts = [sum(1 for r in file["results"] if str(r["level"]) == str(n)) for n in range(1, levels + 1)]
    values = [file.get(f"level_{n}_rouge_l_r") for n in range(1, levels + 1)]
    pairs = [(v, c) for v, c in zip(values, counts, strict=True) if v is not None and c]
    total = sum(c for _, c in pairs)
    return sum(v * c for v, c in pairs) / total if total else None


def target_row(files: dict[str, dict]) -> dict[str, float | None]:
    """One target's row of the paper's table from its files (a column whose file is absent is None)."""
    row: dict[str, float | None] = dict.fromkeys(COLUMNS)
    if "forget" in files:
        f = files["forget"]
        row["FB"], row["QA"], row["AA"] = (_scaled(f.get(f"level_{n}_rouge_l_r")) for n in (1, 2, 3))
        row["All"] = _scaled(_pooled(f, 3))
    if "neighbor" in files:
        f = files["neighbor"]
        row["nFB"], row["nQA"] = (_scaled(f.get(f"level_{n}_rouge_l_r")) for n in (1, 2))
        row["nAll"] = _scaled(_pooled(f, 2))
    for column, task, key, sign in (
        ("FM", "forget_mia", "loss", -1.0),
        ("RM", "retain_mia", "loss", -1.0),
        ("Gen", "mmlu", "acc", 1.0),
        ("Rea", "bbh", "EM", 1.0),
        ("Tru", "truthful", "MC1", 1.0),
        ("Fac", "triviaqa", "F1", 1.0),
        ("Flu", "fluency", "entropy", 1.0),
    ):
        if task in files:
            row[column] = _scaled(files[task].get(key), sign)
    return row


def summary(rows: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    """`RWKU_SUMMARY.json`: each column's mean over the targets that have it (the paper averages targets 1-100)."""
    out: dict[str, float | None] = {}
    for column in COLUMNS:
        values = [r[column] for r in rows.values() if r.get(column) is not None]
        out[column] = sum(values) / len(values) if values else None
    return out


def eval_document(per_target: dict[str, dict[str, dict]]) -> dict:
    """`RWKU_EVAL.json`: per target (its folder name, e.g. `1_Stephen_King`) its files and its table row."""
    return {
        "targets": list(per_target),
        "rows": {target: target_row(files) for target, files in per_target.items()},
        "files": per_target,
    }


def summary_document(per_target: dict[str, dict[str, dict]]) -> dict:
    """`RWKU_SUMMARY.json` from every target's files."""
    return summary({target: target_row(files) for target, files in per_target.items()})


def reference_layout(per_target: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """The authors' files as relative paths `<target folder>/<task>.json` -> content, for tools written for them."""
    return {
        f"{target}/{task}.json": content for target, files in per_target.items() for task, content in files.items()
    }


def table(values: dict[str, float | None], label: str = "") -> str:
    """The paper's table header and one row (one decimal; "-" for an absent column)."""
    width = max(8, len(label))
    header = f"{'':<{width}} " + " ".join(f"{c:>7}" for c in COLUMNS)
    cells = " ".join(f"{v:>7.1f}" if v is not None else f"{'-':>7}" for v in (values.get(c) for c in COLUMNS))
    return f"{header}\n{label:<{width}} {cells}"
