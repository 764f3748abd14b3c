"""Robustness scores against hand-computed values: open-unlearning's worked Extraction Strength example (three
unlearned models, one retain control) and the edge cases (no excess gain, negative control gain, drops, zeros)."""

import pytest

from hf_unlearn.benchmarks.base import KnowledgeMetric
from hf_unlearn.robustness import scores as S

CONTROL = (0.08, 0.20)  # the retain model's ES before / after relearning: delta 0.12
# model: ES before, after relearning, after 4-bit; expected R, Q, R_sym, Q_sym (computed by hand)
EXAMPLE = {
    "A": ((0.10, 0.40, 0.125), (0.12 / 0.30, 0.10 / 0.125, 1 - 0.18 / 0.42, 1 - 0.025 / 0.225)),
    "B": ((0.05, 0.15, 0.050), (1.0, 1.0, 1 - 0.02 / 0.22, 1.0)),
    "C": ((0.20, 0.30, 0.180), (1.0, 1.0, 1 - 0.02 / 0.22, 1 - 0.02 / 0.38)),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE))
def test_worked_example_per_model(name):
    (before, relearned, quantized), (r, q, r_sym, q_sym) = EXAMPLE[name]
    assert S.relearn_score(before, relearned, *CONTROL) == pytest.approx(r)
    assert S.quantize_score(before, quantized) == pytest.approx(q)
    assert S.relearn_score_sym(before, relearned, *CONTROL) == pytest.approx(r_sym)
    assert S.quantize_score_sym(before, quantized) == pytest.approx(q_sym)


def test_worked_example_aggregates():
    rows = [values for values, _ in EXAMPLE.values()]
    r = [S.relearn_score(b, a, *CONTROL) for b, a, _ in rows]
    q = [S.quantize_score(b, qa) for b, _, qa in rows]
    agg = S.robustness(r, q)
    assert agg["R"] == pytest.approx(0.8)
    assert agg["Q"] == pytest.approx(2.8 / 3)
    assert agg["robustness"] == pytest.approx(0.862, abs=5e-4)
    assert (agg["n_R"], agg["n_Q"]) == (3, 3)
    assert S.harmonic_mean(0.89, agg["robustness"]) == pytest.approx(0.876, abs=5e-4)
    sym = S.robustness(
        [S.relearn_score_sym(b, a, *CONTROL) for b, a, _ in rows], [S.quantize_score_sym(b, qa) for b, _, qa in rows]
    )
    assert sym["R"] == pytest.approx(0.797, abs=5e-4)
    assert sym["Q"] == pytest.approx(0.945, abs=5e-4)
    assert sym["robustness"] == pytest.approx(0.865, abs=5e-4)
    assert S.harmonic_mean(0.4, 0.8) == pytest.approx(0.5333, abs=5e-5)  # model A alone


def test_relearn_edge_cases():
    assert S.relearn_score(0.1, 0.1, 0.1, 0.1) == 1.0  # nobody gains
    assert S.relearn_score(0.1, 0.05, 0.1, 0.2) == 1.0  # the model loses: no excess recovery
    assert S.relearn_score(0.1, 0.3, 0.2, 0.1) == 0.0  # the model gains, the control loses
    assert S.relearn_score(0.1, 0.15, 0.2, 0.1) == 0.0  # any gain is excess when the control's is negative
    assert S.relearn_score(0.1, 0.3, 0.1, 0.2) == pytest.approx(0.5)
    assert S.relearn_score(0.0, 0.0, 0.0, 0.0) == 1.0


def test_quantize_edge_cases():
    assert S.quantize_score(0.0, 0.0) == 1.0
    assert S.quantize_score(0.4, 0.2) == 1.0  # a drop is not penalised one-directionally ...
    assert S.quantize_score_sym(0.4, 0.2) == pytest.approx(1 - 0.2 / 0.6)  # ... symmetrically it is
    assert S.quantize_score(0.0, 0.3) == 0.0  # knowledge from nothing
    assert S.quantize_score_sym(0.0, 0.0) == 1.0
    assert S.relearn_score_sym(0.1, 0.1, 0.2, 0.2) == 1.0  # no gain on either side


def test_harmonic_mean_and_missing_values():
    assert S.harmonic_mean(0.0, 0.0) == 0.0
    assert S.harmonic_mean(None, 0.5) is None
    assert S.mean_score([0.5, None, 1.0]) == (0.75, 2)
    assert S.mean_score([None]) == (None, 0)
    entry = S.relearn_entry(KnowledgeMetric("es"), 0.1, None, 0.1, 0.2)
    assert entry["R"] is None and entry["R_sym"] is None and entry["before"] == 0.1


def test_orientation_maps_before_scoring():
    loss = KnowledgeMetric("loss", higher_is_knowledge=False, bounded=False)
    share = KnowledgeMetric("forgotten_share", higher_is_knowledge=False)
    assert S.orient(2.0, loss) == -2.0
    assert S.orient(0.25, share) == 0.75
    assert S.orient(None, share) is None
    # the loss halves under quantization: knowledge rose (a ratio of the negated values, -2 / -1, would give 1)
    assert S.quantize_entry(loss, 2.0, 1.0)["Q"] == pytest.approx(0.5)
    assert S.quantize_entry(loss, 1.0, 2.0)["Q"] == 1.0
    assert S.quantize_entry(share, 0.5, 0.75)["Q"] == 1.0  # share forgotten rose: knowledge fell
    assert S.quantize_entry(share, 0.75, 0.5) == {
        "before": 0.75,
        "after": 0.5,
        "Q": pytest.approx(0.25 / 0.5),
        "Q_sym": pytest.approx(1 - 0.25 / 0.75),
    }
