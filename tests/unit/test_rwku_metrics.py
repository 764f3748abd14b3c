"""RWKU's scorers and result files against hand-computed values: MIA, BBH (the authors' character-wise match vs the
corrected one), TriviaQA EM/F1, TruthfulQA MC1/MC2, MMLU's choice, fluency entropy, the paper's table row."""

from __future__ import annotations

import math

import nltk
import pytest

from hf_unlearn.benchmarks.rwku import metrics as M
from hf_unlearn.benchmarks.rwku import results as R
from hf_unlearn.errors import UserError


def test_lowest_mean_takes_int_n_times_k_values_and_is_nan_for_none():
    assert M.lowest_mean([-3.0, -1.0, -2.0, -4.0], 0.5) == -3.5
    assert M.lowest_mean([-3.0, -1.0, -2.0, -4.0], 1.0) == -2.5
    assert math.isnan(M.lowest_mean([-3.0, -1.0, -2.0, -4.0], 0.1))  # int(0.4) = 0 values


def test_mia_sample_signs_and_keys():
    s = M.mia_sample(2.0, "abc", [-1.0, -3.0, -2.0, -4.0, -5.0], [0.5, -1.0, 2.0, -2.0, 1.0])
    assert s["loss"] == -2.0
    assert s["zlib"] == pytest.approx(-2.0 / 11)  # zlib.compress(b"abc") is 11 bytes
    assert s["mink_0.2"] == -5.0 and s["mink_0.4"] == -4.5 and s["mink_1.0"] == -3.0
    assert s["mink++_0.2"] == -2.0 and s["mink++_0.4"] == -1.5
    assert list(s) == ["loss", "zlib"] + [f"mink_{r}" for r in M.MIA_RATIOS] + [f"mink++_{r}" for r in M.MIA_RATIOS]


def test_mia_result_skips_passages_without_loss():
    a = M.mia_sample(2.0, "abc", [-1.0] * 5, [0.5] * 5)
    b = M.mia_sample(4.0, "abc", [-3.0] * 5, [-0.5] * 5)
    nan = {**a, "loss": math.nan}
    out = M.mia_result([a, None, nan, b])
    assert out["loss"] == -3.0
    assert out["zlib"] == pytest.approx(-3.0 / 11)
    assert out["mink20"] == 0.0  # Min-K%++ at 20%, despite the name
    assert out["results"]["loss"] == [-2.0, -4.0]


def test_answer_normalisation_exact_match_and_f1():
    assert M.normalize_answer("The  Answer, is (A).") == "answer is"
    assert M.exact_match("the Eiffel tower!", ["Eiffel Tower", "Paris"]) == 1
    assert M.exact_match("Eiffel", ["Eiffel Tower"]) == 0
    assert M.token_f1("the cat sat", "cat sat on mat") == pytest.approx(2 / 3)
    assert M.token_f1("", "") == 1.0 and M.token_f1("a", "cat") == 0.0  # "a" normalises to nothing
    assert M.best_f1(" cat\n", ["dog", "a cat"]) == 1.0


def test_bbh_answer_extraction():
    assert M.bbh_prediction("Step one. So the answer is (B). Done.") == "(B)"
    assert M.bbh_prediction("The answer is True.") == "True"
    assert M.bbh_prediction("  maybe  ") == "maybe"
    assert M.bbh_prediction("") == "NOANSWER"
    assert M.bbh_prediction("so the answer is .") == "NOANSWER"


@pytest.mark.parametrize(
    ("prediction", "answer", "compat", "corrected"),
    [
        ("True", "True", 0, 1),  # word answers never match character by character
        ("valid", "valid", 0, 1),
        ("12", "12", 0, 1),
        ("1", "12", 1, 0),  # ... but a prediction equal to one of their characters does
        ("(B)", "(B)", 1, 1),  # letter answers match their letter
        ("(A)", "(B)", 1, 0),  # "(A)" normalises to nothing ("a" is an article): it matches "(" of every letter
        ("(C)", "(B)", 0, 0),
        ("5", "5", 1, 1),  # single characters work
    ],
)
def test_bbh_em_compat_reproduces_the_character_bug(prediction, answer, compat, corrected):
    assert M.bbh_em_rwku_compat(prediction, answer) == compat
    assert M.bbh_em(prediction, answer) == corrected


def test_bbh_file_reports_the_chosen_em_and_both():
    rows = [{"question": "q", "answer": "True"}, {"question": "q", "answer": "(B)"}]
    outputs = ["So the answer is True.", "So the answer is (A)."]
    default, compat = R.bbh_file(rows, outputs), R.bbh_file(rows, outputs, compat=True)
    assert default["EM"] == 0.5 and compat["EM"] == 0.5
    assert default["EM_corrected"] == 0.5 and default["EM_rwku_compat"] == 0.5
    assert [r["em_corrected"] for r in default["results"]] == [1, 0]
    assert [r["em_rwku_compat"] for r in default["results"]] == [0, 1]
    assert default["results"][1]["prediction"] == "(A)" and default["results"][1]["raw_output"] == outputs[1]


def test_mmlu_choice_is_the_first_best_letter():
    assert M.mmlu_prediction([-1.0, -0.5, -0.5, -3.0]) == 1
    rows = [{"answer": 1}, {"answer": 2}]
    out = R.mmlu_file(rows, [1, 0])
    assert out["acc"] == 0.5 and out["all_acc"] == [True, False] and out["results"][1]["prediction"] == 0


def test_truthfulqa_mc1_mc2():
    scores = {"T1": -1.0, "T2": -2.0, "F1": -1.5, "F2": -0.5}
    mc1 = {"choices": ["T1", "F1"], "labels": [1, 0]}
    mc2 = {"choices": ["T1", "T2", "F1", "F2"], "labels": [1, 1, 0, 0]}
    one, two = M.truthfulqa_mc(scores, mc1, mc2)
    assert one == 1.0
    e = math.exp
    assert two == pytest.approx((e(-1) + e(-2)) / (e(-1) + e(-2) + e(-1.5) + e(-0.5)))
    tied = {"choices": ["T1", "F1"], "labels": [1, 0]}
    assert M.truthfulqa_mc({**scores, "F1": -1.0}, tied, mc2)[0] == 0.0  # strictly above every false choice


def test_triviaqa_file_best_alias_em_and_f1():
    rows = [{"question": "q", "answers": ["Green", "green colour"]}, {"question": "q", "answers": ["8"]}]
    out = R.triviaqa_file(rows, [" green\n", "It has 8 legs"])
    assert out["EM"] == 0.5
    assert out["F1"] == pytest.approx((1.0 + 2 * (1 / 4) * 1 / (1 / 4 + 1)) / 2)
    assert out["results"][0]["prediction"] == " green\n"  # raw output kept


def test_ngram_entropy_and_fluency_score():
    tokens = ["a", "b", "a", "b"]
    h2 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))  # bigrams ab, ba, ab
    assert M.ngram_entropy(tokens, 2) == pytest.approx(h2)
    assert M.ngram_entropy(tokens, 3) == pytest.approx(1.0)  # aba, bab
    assert M.fluency_entropy(tokens) == pytest.approx((h2 * 2 / 3 + 1.0 * 4 / 3) / 2)
    assert M.fluency_entropy(["one"]) == 0.0


def test_word_tokens_without_sentence_split_and_missing_punkt(tmp_path, monkeypatch):
    assert M.word_tokens("Hi there. He left.", sentences=False) == ["Hi", "there.", "He", "left", "."]
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(UserError, match="punkt") as err:
        M.word_tokens("Hi there. He left.")
    assert "\n" not in str(err.value)


def probe_row(level: str, answer: str) -> dict:
    return {"query": "q", "answer": answer, "level": level, "type": "cloze", "subject": "V"}


def test_probe_file_scores_each_level_and_keeps_the_rows():
    levels = [
        ([probe_row("1", "Dara"), probe_row("1", "Kato")], [" Dara\n", "   "]),
        ([probe_row("2", "Portland")], ["Portland, Maine"]),
    ]
    out = R.probe_file(levels)
    assert list(out)[:4] == ["level_1_rouge_l_r", "level_1_rouge_l_r_normalised", "level_2_rouge_l_r",
                             "level_2_rouge_l_r_normalised"]  # fmt: skip
    assert out["level_1_rouge_l_r"] == 0.5 and out["level_2_rouge_l_r"] == 0.0
    assert out["level_2_rouge_l_r_normalised"] == 1.0
    assert out["level_1_rouge"]["rouge-1"]["r"] == 0.5
    assert [r["prediction"] for r in out["results"]] == ["Dara", "NOANSWER", "Portland, Maine"]
    assert [r["rouge_l_r"] for r in out["results"]] == [1.0, 0.0, 0.0]


def test_target_row_weights_all_by_probe_count_and_scales():
    forget = {
        "level_1_rouge_l_r": 1.0,
        "level_2_rouge_l_r": 0.0,
        "level_3_rouge_l_r": 0.5,
        "results": [probe_row("1", "a"), probe_row("1", "a"), probe_row("2", "a"), probe_row("3", "a")],
    }
    files = {
        "forget": forget,
        "forget_mia": {"loss": -2.267},
        "retain_mia": {"loss": -2.304},
        "mmlu": {"acc": 0.657},
        "bbh": {"EM": 0.423},
        "truthful": {"MC1": 0.368},
        "triviaqa": {"F1": 0.535},
        "fluency": {"entropy": 7.058},
    }
    row = R.target_row(files)
    assert row["FB"] == 100.0 and row["QA"] == 0.0 and row["AA"] == 50.0
    assert row["All"] == pytest.approx(100 * (2 * 1.0 + 0.0 + 0.5) / 4)  # not the plain mean of the levels
    assert row["FM"] == pytest.approx(226.7) and row["RM"] == pytest.approx(230.4)
    assert row["Gen"] == pytest.approx(65.7) and row["Flu"] == pytest.approx(705.8)
    assert row["nFB"] is None and row["nAll"] is None


def test_summary_averages_targets_and_table_prints_the_row():
    rows = {"1_A": dict.fromkeys(R.COLUMNS, 10.0), "2_B": {**dict.fromkeys(R.COLUMNS, 20.0), "Flu": None}}
    summary = R.summary(rows)
    assert summary["FB"] == 15.0 and summary["Flu"] == 10.0
    text = R.table(summary, "GA")
    header, line = text.splitlines()
    assert header.split() == list(R.COLUMNS)
    assert line.split() == ["GA"] + ["15.0"] * 13 + ["10.0"]
    assert R.table({}, "x").splitlines()[1].split() == ["x"] + ["-"] * 14


def test_documents_and_reference_layout():
    files = {"1_A": {"mmlu": {"acc": 0.5, "all_acc": [True, False], "results": []}}}
    doc = R.eval_document(files)
    assert doc["targets"] == ["1_A"] and doc["files"] == files and doc["rows"]["1_A"]["Gen"] == 50.0
    assert R.summary_document(files)["Gen"] == 50.0
    assert R.reference_layout(files) == {"1_A/mmlu.json": files["1_A"]["mmlu"]}
