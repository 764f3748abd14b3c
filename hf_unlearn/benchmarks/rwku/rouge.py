"""ROUGE as RWKU computes it: the PyPI package `rouge` (pltrdy, 1.0.1), rewritten here from its behaviour.

RWKU's forget and neighbor scores are `Rouge().get_scores(predictions, answers, avg=True)["rouge-l"]["r"]`. The
package's tokenisation decides the numbers: each string is split into sentences on ".", pieces of length 0 dropped,
whitespace collapsed, words = `sentence.split(" ")`, with no lower-casing and no punctuation stripping ("Portland,"
is not "Portland"; "portland" is not "Portland"). N-grams are sets (`exclusive=True`) taken over the concatenated
sentences; ROUGE-L is summary-level: the union, over reference and hypothesis sentences, of the words of each
sentence pair's longest common subsequence (reconstructed with the package's tie-break), over the number of
distinct words. Google's `rouge_score`, which lower-cases, drops punctuation and stems, reads higher: it is offered
under another name (`rouge_l_recall_normalised`).

One deviation: a hypothesis with no sentence (only dots, e.g. "...") makes the package raise and the authors'
evaluation of the whole level crash; here it is scored as `NOANSWER`, the text the authors give empty predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

from hf_unlearn.evaluation.metrics import rouge as rouge_score_rouge

#: What an empty prediction becomes (the authors' evaluators write it for an empty generation).
NO_ANSWER = "NOANSWER"
METRICS = ("rouge-1", "rouge-2", "rouge-l")
STATS = ("r", "p", "f")
#: The package's smoothing term in F1.
F1_EPS = 1e-8


def sentences(text: str) -> list[str]:
    """The package's sentences: split on ".", keep pieces of nonzero length, collapse their whitespace (a piece of
    spaces becomes an empty sentence)."""
    return [" ".join(piece.split()) for piece in text.split(".") if len(piece) > 0]


def words(sents: Sequence[str]) -> list[str]:
    """The words of the sentences, in order (an empty sentence is one empty word)."""
    return [w for s in sents for w in s.split(" ")]


def _f1(precision: float, recall: float) -> float:
    return 2.0 * ((precision * recall) / (precision + recall + F1_EPS))


def rouge_n(hyp_sents: Sequence[str], ref_sents: Sequence[str], n: int) -> dict[str, float]:
    """ROUGE-N over sets of n-grams of the concatenated sentences; 0 precision (recall) when the hypothesis
    (reference) has no n-gram."""
    if not hyp_sents:
        raise ValueError("Hypothesis is empty.")
    if not ref_sents:
        raise ValueError("Reference is empty.")

    def grams(sents: Sequence[str]) -> set[tuple[str, ...]]:
        w = words(sents)
        return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}

    hyp, ref = grams(hyp_sents), grams(ref_sents)
    overlap = len(hyp & ref)
    precision = overlap / len(hyp) if hyp else 0.0
    recall = overlap / len(ref) if ref else 0.0
    return {"f": _f1(precision, recall), "p": precision, "r": recall}


def lcs_words(ref: Sequence[str], hyp: Sequence[str]) -> list[str]:
    """One longest common subsequence of two word lists, chosen as the package chooses it: walking back from the
    ends, take a match, else step back in the reference if that keeps a strictly longer LCS, else in the
    hypothesis."""
    n, m = len(ref), len(hyp)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if ref[i - 1] == hyp[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    out: list[str] = []
    i, j = n, m
    while i > 0 and j > 0:
        if ref[i - 1] == hyp[j - 1]:
            out.append(ref[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return out[::-1]


def rouge_l(hyp_sents: Sequence[str], ref_sents: Sequence[str]) -> dict[str, float]:
    """Summary-level ROUGE-L with distinct words: |union of LCS words over all sentence pairs| over the distinct
    reference (recall) or hypothesis (precision) words."""
    if not hyp_sents or not ref_sents:
        raise ValueError("Collections must contain at least 1 sentence.")
    ref_count = len(set(words(ref_sents)))
    hyp_count = len(set(words(hyp_sents)))
    union: set[str] = set()
    for ref in ref_sents:
        for hyp in hyp_sents:
            union.update(lcs_words(ref.split(" "), hyp.split(" ")))
    recall, precision = len(union) / ref_count, len(union) / hyp_count
    return {"f": _f1(precision, recall), "p": precision, "r": recall}


def rouge_scores(hypothesis: str, reference: str) -> dict[str, dict[str, float]]:
    """The package's `get_scores(hypothesis, reference)` for one pair: rouge-1, rouge-2 and rouge-l, r/p/f."""
    hyp, ref = sentences(hypothesis), sentences(reference)
    return {"rouge-1": rouge_n(hyp, ref, 1), "rouge-2": rouge_n(hyp, ref, 2), "rouge-l": rouge_l(hyp, ref)}


def guarded(prediction: str) -> str:
    """The prediction, or `NOANSWER` when the package would find no sentence in it."""
    return prediction if sentences(prediction) else NO_ANSWER


def average_scores(predictions: Sequence[str], answers: Sequence[str]) -> dict[str, dict[str, float]] | None:
    """The package's `get_scores(predictions, answers, avg=True)` (sums in input order, then divided by the count),
    with dot-only predictions guarded; None for no pairs (the package would divide by zero)."""
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions for {len(answers)} answers")
    if not predictions:
        return None
    totals = {m: dict.fromkeys(STATS, 0) for m in METRICS}
    for prediction, answer in zip(predictions, answers, strict=True):
        pair = rouge_scores(guarded(prediction), answer)
        totals = {m: {s: totals[m][s] + pair[m][s] for s in STATS} for m in METRICS}
    return {m: {s: totals[m][s] / len(predictions) for s in STATS} for m in METRICS}


def rouge_l_recall(prediction: str, answer: str) -> float:
    """RWKU's per-probe score: the package's ROUGE-L recall of the answer by the (guarded) prediction."""
    return rouge_scores(guarded(prediction), answer)["rouge-l"]["r"]


def rouge_l_recall_normalised(prediction: str, answer: str) -> float:
    """ROUGE-L recall with `rouge_score`'s normalisation (lower-cased, punctuation dropped, Porter-stemmed), as
    open-unlearning scores TOFU and MUSE: not RWKU's numbers, a view that forgives case and punctuation."""
    return rouge_score_rouge(answer, prediction)["rougeL_recall"]
