"""RWKU's ROUGE: the `rouge` package's tokenisation and summary-level LCS, against hand-computed values and the
package itself, and the normalised variant kept apart."""

from __future__ import annotations

import pytest
from rouge import Rouge

from hf_unlearn.benchmarks.rwku import rouge as R


def test_case_and_punctuation_are_kept():
    # "Portland," is another word than "Portland"; "portland" is another word than "Portland"
    assert R.rouge_l_recall("Portland, Maine", "Portland") == 0.0
    assert R.rouge_l_recall("portland", "Portland") == 0.0
    assert R.rouge_l_recall("Portland Maine", "Portland") == 1.0
    # the normalised scorer forgives both
    assert R.rouge_l_recall_normalised("Portland, Maine", "Portland") == 1.0
    assert R.rouge_l_recall_normalised("portland", "Portland") == 1.0


def test_recall_counts_distinct_reference_words():
    # reference words {New, York, Jersey}; the LCS with "New Jersey" is New Jersey: 2 of 3
    assert R.rouge_l_recall("New Jersey", "New York New Jersey") == pytest.approx(2 / 3)


def test_summary_level_union_over_reference_sentences():
    # sentences "Born in Dara" and "Works as a sculptor": LCS words {in, Dara} and {Works, as, a, sculptor}
    # -> 6 of the 7 distinct reference words
    scores = R.rouge_scores("Works as a sculptor in Dara", "Born in Dara. Works as a sculptor")["rouge-l"]
    assert scores["r"] == pytest.approx(6 / 7)
    assert scores["p"] == 1.0


def test_lcs_tie_break_decides_the_union():
    # LCS("a b", "b a") has length 1; the package keeps "b" (it steps back in the hypothesis on a tie), and the
    # second hypothesis sentence "a" adds "a": 2 of 2. Stepping back in the reference instead would give 1 of 2.
    assert R.lcs_words(["a", "b"], ["b", "a"]) == ["b"]
    assert R.rouge_l_recall("b a. a", "a b") == 1.0


def test_sentence_split_keeps_a_space_piece_as_an_empty_word():
    assert R.sentences("Paris. ") == ["Paris", ""]
    assert R.sentences("Paris.") == ["Paris"]
    assert R.rouge_l_recall("Paris", "Paris. ") == 0.5  # reference words {"Paris", ""}


def test_dot_only_prediction_is_scored_as_noanswer():
    with pytest.raises(ValueError, match="Hypothesis is empty"):
        R.rouge_scores("...", "Paris")
    with pytest.raises(ValueError, match="Hypothesis is empty"):
        Rouge().get_scores("...", "Paris")  # the package raises too: the authors' whole level crashes
    assert R.guarded("...") == "NOANSWER"
    assert R.rouge_l_recall("...", "Paris") == 0.0
    assert R.average_scores(["...", "Paris"], ["Paris", "Paris"])["rouge-l"]["r"] == 0.5


def test_rouge_n_counts_ngram_sets_across_sentences():
    scores = R.rouge_scores("a b. b c", "a b c")
    # words a b b c: unigrams {a,b,c} = reference's; bigrams {ab, bb, bc} vs {ab, bc}: 2 of 2 recall, 2 of 3 precision
    assert scores["rouge-1"]["r"] == 1.0
    assert scores["rouge-2"]["r"] == 1.0
    assert scores["rouge-2"]["p"] == pytest.approx(2 / 3)
    # one word has no bigram: precision and recall 0
    assert R.rouge_scores("Dara", "Dara")["rouge-2"] == {"f": 0.0, "p": 0.0, "r": 0.0}


def test_average_is_the_mean_of_the_pairs():
    avg = R.average_scores(["Dara", "Rome", "x"], ["Dara", "Paris", "x y"])
    assert avg["rouge-l"]["r"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert R.average_scores([], []) is None


EDGE_CASES = [
    ("Portland, Maine", "Portland"),
    ("portland", "Portland"),
    ("Paris", "Paris. "),
    ("  Paris  . . London", "London. Paris"),
    ("b a. a", "a b"),
    ("the the the", "the cat the"),
    ("New\tYork\n City", "New York City."),
    ("NOANSWER", "Stephen King"),
    ("He was born in Portland, Maine, in 1947.", "Portland, Maine"),
    ("1947", "September 21, 1947"),
    (" ", "Paris"),
    ("a.b.c", "a b c"),
]


@pytest.mark.parametrize(("hypothesis", "reference"), EDGE_CASES)
def test_same_scores_as_the_rouge_package(hypothesis, reference):
    assert R.rouge_scores(hypothesis, reference) == Rouge().get_scores(hypothesis, reference)[0]


def test_same_averages_as_the_rouge_package():
    hyps, refs = zip(*EDGE_CASES, strict=True)
    assert R.average_scores(list(hyps), list(refs)) == Rouge().get_scores(list(hyps), list(refs), avg=True)
