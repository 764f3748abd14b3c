"""Pure TOFU metric functions and the suite's assembly, against values worked out by hand."""

import math

import pytest

from hf_unlearn.evaluation import metrics as M
from hf_unlearn.evaluation.likelihood import SequenceScore
from hf_unlearn.evaluation.suite import (
    ALL_METRICS,
    DEFAULT_METRICS,
    ModelOutputs,
    closure,
    compute_model_metrics,
    compute_reference_metrics,
    needs,
    parse_metrics,
    summary,
)

LN2 = math.log(2)


def test_probability_is_geometric_mean_token_probability():
    assert M.probability(LN2) == pytest.approx(0.5)
    assert M.probability(0.0) == 1.0


def test_normalised_probability():
    assert M.normalised_probability(0.5, [0.25, 0.25]) == pytest.approx(0.5)
    assert M.normalised_probability(0.0, [0.0, 0.0]) == 0.0  # the epsilon keeps 0/0 finite


def test_truth_ratio_uses_the_geometric_mean_of_perturbed_probabilities():
    # P_c = exp(-ln 2) = 1/2; P_w = exp(-(ln 4 + ln 16)/2) = exp(-ln 8) = 1/8; R = P_w / P_c = 1/4.
    correct, wrong = [LN2], [math.log(4), math.log(16)]
    assert M.truth_ratio(correct, wrong, "closer_to_1_better") == pytest.approx(0.25)
    assert M.truth_ratio(correct, wrong, "true_better") == pytest.approx(0.25)
    # prob_mean: P_c / (P_c + P_w) = 0.5 / 0.625.
    assert M.truth_ratio(correct, wrong, "prob_mean") == pytest.approx(0.8)
    with pytest.raises(ValueError, match="aggregator"):
        M.truth_ratio(correct, wrong, "median")


def test_truth_ratio_aggregators():
    ratios = [0.25, 2.0]
    assert M.aggregate_truth_ratio(ratios, "closer_to_1_better") == pytest.approx((0.25 + 0.5) / 2)
    assert M.aggregate_truth_ratio(ratios, "true_better") == pytest.approx((0.75 + 0.0) / 2)
    assert M.aggregate_truth_ratio(ratios, "prob_mean") == pytest.approx(1.125)


def test_ks_identical_samples_give_one_and_separated_samples_the_exact_p_value():
    assert M.ks_pvalue([0.1, 0.5, 0.9], [0.1, 0.5, 0.9]) == pytest.approx(1.0)
    # Fully separated samples of 3 and 3: two-sided exact p = 2 / C(6, 3) = 0.1.
    assert M.ks_pvalue([0, 1, 2], [3, 4, 5]) == pytest.approx(0.1)


@pytest.mark.parametrize(("n", "published"), [(40, 1.86e-23), (200, 1.94e-119), (400, 1.06e-239)])
def test_ks_floor_matches_open_unlearning_published_floors(n, published):
    assert M.ks_floor(n, n) == pytest.approx(published, rel=5e-3)


def test_forget_quality_reports_log10_and_flags_the_floor():
    separated = M.forget_quality(list(range(400)), list(range(400, 800)))
    assert separated["at_ks_floor"] is True
    assert separated["log10_agg_value"] == pytest.approx(math.log10(1.0635896769518578e-239))
    same = M.forget_quality([0.2, 0.4, 0.6], [0.2, 0.4, 0.6])
    assert same["agg_value"] == pytest.approx(1.0)
    assert same["log10_agg_value"] == pytest.approx(0.0, abs=1e-12)
    assert same["at_ks_floor"] is False


def test_harmonic_mean_with_a_zero_component_is_zero():
    assert M.harmonic_mean([1.0, 0.5]) == pytest.approx(2 / 3)
    assert M.harmonic_mean([0.9, 0.0, 0.8]) == 0.0
    with pytest.raises(ValueError):
        M.harmonic_mean([0.5, -0.1])


def test_rouge_recall_and_f1_with_stemming():
    scores = M.rouge("the cat sat on the mat", "the cat sat")
    assert scores["rouge1_recall"] == pytest.approx(0.5)
    assert scores["rougeL_recall"] == pytest.approx(0.5)
    assert scores["rougeL_f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert M.rouge("cats running", "cat run")["rougeL_recall"] == pytest.approx(1.0)
    assert M.rouge("a b", "")["rougeL_recall"] == 0.0


def test_min_k_takes_the_lowest_fraction():
    # n = 5, k = 0.4: the 2 lowest log-probs (-5, -4) -> 4.5.
    assert M.min_k_score([-1.0, -2.0, -3.0, -4.0, -5.0]) == pytest.approx(4.5)


def test_min_k_with_very_short_answers_keeps_at_least_one_token():
    assert M.min_k_score([-3.0]) == pytest.approx(3.0)  # int(0.4) = 0 -> 1 token
    assert M.min_k_score([-1.0, -2.0]) == pytest.approx(2.0)  # int(0.8) = 0 -> 1 token
    assert M.min_k_score([]) == 0.0


def test_min_k_plus_plus():
    assert M.min_k_plus_plus_z(-1.0, -2.0, 4.0) == pytest.approx(0.5)
    # the variance is floored at 1e-6 (std 1e-3)
    assert M.min_k_plus_plus_z(-1.0, -1.001, 0.0) == pytest.approx(1.0)
    assert M.min_k_plus_plus_score([0.5, -1.0, 2.0, -3.0, 1.0]) == pytest.approx(2.0)


def test_zlib_divides_by_the_compressed_length():
    # zlib.compress(b"aaaa") = 2-byte header + 6-byte deflate block + 4-byte adler32 = 12 bytes.
    assert M.zlib_score(2.4, "aaaa") == pytest.approx(0.2)


def test_auc_is_probability_that_holdout_scores_higher():
    assert M.auc([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1.0)
    assert M.auc([3.0, 4.0], [1.0, 2.0]) == pytest.approx(0.0)
    assert M.auc([1.0, 3.0], [2.0, 4.0]) == pytest.approx(0.75)
    assert M.auc([1.0], [1.0]) == pytest.approx(0.5)


def test_privleak():
    assert M.privleak(1.0, 0.5) == pytest.approx(-100.0)
    assert M.privleak(0.5, 0.5) == pytest.approx(0.0)
    assert M.privleak(0.25, 0.5) == pytest.approx(50.0)


def test_gradnorm_is_the_mean_of_per_tensor_norms():
    assert M.mean_gradient_norm([1.0, 2.0, 3.0]) == pytest.approx(2.0)


def test_exact_memorization():
    assert M.exact_memorization([True, False, True, True]) == pytest.approx(0.75)
    assert M.exact_memorization([]) is None


@pytest.mark.parametrize(
    ("matches", "exact", "quirk"),
    [
        ([True, True, True, True], 1.0, 1.0),
        ([False, True, True, True], 0.75, 0.75),
        ([True, False, True, True], 0.5, 0.5),
        ([True, True, False, True], 0.25, 0.25),
        ([True, True, True, False], 0.0, 0.25),  # no suffix matches: 0, open-unlearning's loop says 1/n
        ([False], 0.0, 1.0),
        ([], 0.0, 0.0),
    ],
)
def test_extraction_strength(matches, exact, quirk):
    assert M.extraction_strength(matches) == pytest.approx(exact)
    assert M.extraction_strength(matches, one_over_n_floor=True) == pytest.approx(quirk)


def test_mean_drops_missing_values():
    assert M.mean([1.0, None, float("nan"), 3.0]) == 2.0
    assert M.mean([None]) is None


# ---- suite assembly -----------------------------------------------------------------------------------------
def test_parse_metrics_and_closure():
    assert parse_metrics(None) == DEFAULT_METRICS
    assert parse_metrics("all") == ALL_METRICS
    assert parse_metrics("forget_Q_A_Prob,default")[0] == "forget_Q_A_Prob"
    with pytest.raises(ValueError, match="unknown metric 'forget_prob'"):
        parse_metrics("forget_prob")
    order = closure(("forget_quality",))
    assert order == ["forget_Q_A_PARA_Prob", "forget_Q_A_PERT_Prob", "forget_truth_ratio", "forget_quality"]
    assert len([n for n in closure(("model_utility",)) if n != "model_utility"]) == 15  # 5 per dataset


def test_needs_union_scores_each_set_once():
    need = needs(closure(DEFAULT_METRICS))
    assert ("forget", "answer") in need.detail  # extraction strength / Min-K need per-token detail
    assert ("holdout", "answer") in need.detail
    assert {"forget", "retain", "ra", "wf"} == need.generate
    assert need.gradnorm == set()
    assert {("retain", "paraphrased_answer"), ("ra", "perturbed_answer")} <= need.score


def _score(avg_loss: float, matches=(True, True)) -> SequenceScore:
    n = 4
    return SequenceScore(avg_loss * n, n, [-1.0, -2.0], list(matches), [0.1, -0.2])


def _outputs() -> ModelOutputs:
    """Two forget items, one retain / RA / WF item, and a holdout set of two."""
    rows = {
        "forget": [
            {"question": "f0", "answer": "a0", "paraphrased_answer": "p0", "perturbed_answer": ["w0", "x0"]},
            {"question": "f1", "answer": "a1", "paraphrased_answer": "p1", "perturbed_answer": ["w1", "x1"]},
        ],
        "retain": [{"question": "r0", "answer": "a", "paraphrased_answer": "p", "perturbed_answer": ["w", "x"]}],
        "ra": [{"question": "q", "answer": "a", "perturbed_answer": ["w", "x"]}],
        "wf": [{"question": "q2", "answer": "a", "perturbed_answer": ["w", "x"]}],
        "holdout": [{"question": "h0", "answer": "a"}, {"question": "h1", "answer": "a"}],
    }
    scores = {
        ("f0", "a0"): _score(0.1),
        ("f0", "p0"): _score(LN2),
        ("f0", "w0"): _score(math.log(4)),
        ("f0", "x0"): _score(math.log(16)),
        ("f1", "a1"): _score(0.2, (True, False)),
        ("f1", "p1"): _score(LN2),
        ("f1", "w1"): _score(LN2),
        ("f1", "x1"): _score(LN2),
        ("r0", "a"): _score(LN2),
        ("r0", "p"): _score(LN2),
        ("r0", "w"): _score(math.log(4)),
        ("r0", "x"): _score(math.log(4)),
        ("q", "a"): _score(LN2),
        ("q", "w"): _score(math.log(4)),
        ("q", "x"): _score(math.log(4)),
        ("q2", "a"): _score(LN2),
        ("q2", "w"): _score(0.1),
        ("q2", "x"): _score(0.1),
        ("h0", "a"): _score(3.0),
        ("h1", "a"): _score(4.0),
    }
    generations = {}
    for ds in ("forget", "retain", "ra", "wf"):
        for i, row in enumerate(rows[ds]):
            generations[(ds, i)] = {"input": row["question"], "ground_truth": "the cat sat", "generation": "the cat"}
    texts = {(ds, i): "aaaa" for ds in ("forget", "holdout") for i in range(2)}
    return ModelOutputs(rows=rows, absent={}, scores=scores, generations=generations, answer_texts=texts)


def test_model_metrics_layout_and_values():
    names = closure(ALL_METRICS[:-2])  # without GradNorm (needs a model) and the Reference attack
    results = compute_model_metrics(names, _outputs())
    assert results["forget_Q_A_Prob"]["agg_value"] == pytest.approx((math.exp(-0.1) + math.exp(-0.2)) / 2)
    assert results["forget_Q_A_PERT_Prob"]["value_by_index"]["0"]["prob"] == pytest.approx([0.25, 1 / 16])
    # forget item 0: R = (1/8) / (1/2) = 1/4 -> min(R, 1/R) = 1/4; item 1: R = 1 -> 1.
    assert results["forget_truth_ratio"]["value_by_index"]["0"]["score"] == pytest.approx(0.25)
    assert results["forget_truth_ratio"]["agg_value"] == pytest.approx((0.25 + 1.0) / 2)
    # retain: R = (1/4)/(1/2) = 1/2 -> true_better max(0, 1 - R) = 1/2.
    assert results["retain_Truth_Ratio"]["agg_value"] == pytest.approx(0.5)
    assert results["ra_Q_A_Prob_normalised"]["agg_value"] == pytest.approx(0.5 / (0.5 + 0.25 + 0.25))
    p_wf = 0.5 / (0.5 + 2 * math.exp(-0.1))
    assert results["wf_Q_A_Prob_normalised"]["agg_value"] == pytest.approx(p_wf)
    assert results["forget_Q_A_ROUGE"]["value_by_index"]["1"]["rougeL_recall"] == pytest.approx(2 / 3)
    assert set(results["forget_Q_A_ROUGE"]["value_by_index"]["0"]) == {
        "rouge1_recall",
        "rougeL_f1",
        "rougeL_recall",
        "input",
        "ground_truth",
        "generation",
    }
    # WF: P_w = exp(-0.1) > P_c = 1/2, so R > 1 and true_better gives 0: one zero component zeroes model utility.
    assert results["wf_Truth_Ratio"]["agg_value"] == 0.0
    assert results["model_utility"]["agg_value"] == 0.0
    out = _outputs()
    out.scores[("q2", "w")] = out.scores[("q2", "x")] = _score(math.log(4))
    # every component is 1/2 or 2/3 (ROUGE): 9 / (6 * 2 + 3 * 1.5)
    assert compute_model_metrics(names, out)["model_utility"]["agg_value"] == pytest.approx(9 / 16.5)
    assert results["extraction_strength"]["value_by_index"]["1"]["score"] == 0.0
    assert results["exact_memorization"]["agg_value"] == pytest.approx(0.75)
    mia = results["mia_loss"]
    assert set(mia) == {"forget", "holdout", "auc", "agg_value"}
    assert mia["agg_value"] == mia["auc"] == pytest.approx(1.0)
    assert mia["forget"]["value_by_index"]["1"]["score"] == pytest.approx(0.2)
    assert results["mia_min_k"]["forget"]["value_by_index"]["0"]["score"] == pytest.approx(2.0)
    assert results["mia_zlib"]["holdout"]["value_by_index"]["0"]["score"] == pytest.approx(0.25)


def _min_k_outputs(forget_logprobs: list[list[float]]) -> ModelOutputs:
    """Outputs whose Min-K scores are known: holdout answers 6.5 and 5.5, forget answers as given."""
    out = _outputs()
    lps = {("h0", "a"): [-3.0, -4.0, -5.0, -6.0, -7.0], ("h1", "a"): [-2.0, -3.0, -4.0, -5.0, -6.0]}
    lps.update({(f"f{i}", f"a{i}"): lp for i, lp in enumerate(forget_logprobs)})
    for key, lp in lps.items():
        out.scores[key] = SequenceScore(1.0, len(lp), lp, [True] * len(lp), [0.0] * len(lp))
    return out


def test_privleak_orientation_from_min_k_scores():
    """Memorised -> -100, the retain model -> 0, partly unlearned in between, over-unlearned -> positive.

    Min-K (k=0.4) of five log-probs is minus the mean of the two lowest: holdout scores 6.5 and 5.5.
    """
    names = closure(("privleak",))

    def privleak_and_auc(forget_logprobs, reference):
        results = compute_model_metrics(names, _min_k_outputs(forget_logprobs))
        ref = results if reference is None else reference
        return compute_reference_metrics(names, results, ref)["privleak"]["agg_value"], results

    low, high = [-0.1] * 5, [-5.0, -6.0, -7.0, -6.0, -5.0]  # Min-K 0.1 and 6.5 (a tie with h0)
    _, retain = privleak_and_auc([[-6.0] * 5, [-6.0] * 5], None)  # 6.0 vs 6.5, 5.5: AUC 2/4
    assert retain["mia_min_k"]["auc"] == pytest.approx(0.5)
    memorised, target = privleak_and_auc([low, low], retain)  # both below both holdout scores
    assert target["mia_min_k"]["auc"] == pytest.approx(1.0) and memorised == pytest.approx(-100.0)
    partly, _ = privleak_and_auc([low, [-6.0] * 5], retain)  # AUC 3/4
    assert partly == pytest.approx(-50.0)
    over, _ = privleak_and_auc([[-9.0] * 5, [-9.0] * 5], retain)  # above both holdout scores: AUC 0
    assert over == pytest.approx(100.0)
    tied, _ = privleak_and_auc([high, high], retain)  # 6.5: (0.5 + 0) per pair -> AUC 1/4
    assert tied == pytest.approx(50.0)
    assert memorised < partly < privleak_and_auc([[-6.0] * 5, [-6.0] * 5], retain)[0] < tied < over


def test_without_holdout_mia_metrics_are_absent_with_reason():
    out = _outputs()
    out.rows.pop("holdout")
    out.absent["holdout"] = "no holdout set here"
    results = compute_model_metrics(closure(("privleak", "mia_loss")), out)
    results.update(compute_reference_metrics(closure(("privleak",)), results, results))
    for name in ("mia_min_k", "mia_loss", "privleak"):
        assert results[name] == {"agg_value": None, "absent_reason": "no holdout set here"}
    assert summary(results, ("privleak", "mia_loss")) == {"mia_loss": None, "privleak": None}


def test_reference_metrics_against_itself_and_against_nothing():
    names = closure(("forget_quality", "privleak", "mia_reference"))
    results = compute_model_metrics(names, _outputs())
    against_self = compute_reference_metrics(names, results, results)
    assert against_self["forget_quality"]["agg_value"] == pytest.approx(1.0)
    assert against_self["privleak"]["agg_value"] == pytest.approx(0.0)
    assert against_self["mia_reference"]["auc"] == pytest.approx(0.5)
    without = compute_reference_metrics(names, results, None)
    assert all(v["agg_value"] is None and "retain" in v["absent_reason"] for v in without.values())


def test_forget_quality_refuses_a_retain_log_of_another_size():
    names = closure(("forget_quality",))
    results = compute_model_metrics(names, _outputs())
    other = {"forget_truth_ratio": {"agg_value": 0.5, "value_by_index": {"0": {"score": 0.3}}}}
    fq = compute_reference_metrics(names, results, other)["forget_quality"]
    assert fq["agg_value"] is None and "1 forget items, this evaluation 2" in fq["absent_reason"]


def test_summary_holds_top_level_values_sorted():
    results = {"b": {"agg_value": 2.0}, "a": {"agg_value": 1.0}, "child": {"agg_value": 3.0}}
    assert list(summary(results, ("b", "a")).items()) == [("a", 1.0), ("b", 2.0)]
