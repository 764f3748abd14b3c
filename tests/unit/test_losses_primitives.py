"""Pure losses against values computed by hand."""

import math

import pytest
import torch

from hf_unlearn.trainers.losses import kl_ref_to_model, label_token_count, nll_loss, sequence_nll

# batch of 2 sequences, length 3, vocab 3; labels score positions 1..2 of row 0 and position 2 of row 1
LOGITS = torch.tensor(
    [
        [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]],
        [[0.0, 0.0, 0.0], [1.0, 1.0, 3.0], [5.0, 0.0, 0.0]],
    ]
)
LABELS = torch.tensor([[-100, 0, 1], [-100, -100, 2]])


def _logsm(row, k):
    return row[k] - math.log(sum(math.exp(x) for x in row))


# token NLLs by hand: row 0 predicts label 0 from position 0 and label 1 from position 1; row 1 label 2 from pos 1
T00 = -_logsm([1.0, 0.0, 0.0], 0)
T01 = -_logsm([0.0, 2.0, 0.0], 1)
T11 = -_logsm([1.0, 1.0, 3.0], 2)


def test_sequence_nll_by_hand():
    total, count = sequence_nll(LOGITS, LABELS)
    assert total.tolist() == pytest.approx([T00 + T01, T11], rel=1e-6)
    assert count.tolist() == [2, 1]
    assert int(label_token_count(LABELS)) == 3


def test_nll_token_mean_and_external_normalizer():
    assert float(nll_loss(LOGITS, LABELS)) == pytest.approx((T00 + T01 + T11) / 3, rel=1e-6)
    assert float(nll_loss(LOGITS, LABELS, normalizer=10)) == pytest.approx((T00 + T01 + T11) / 10, rel=1e-6)


def test_nll_is_fp32_for_bf16_logits():
    assert nll_loss(LOGITS.bfloat16(), LABELS).dtype == torch.float32


def _kl_by_hand(p_logits, q_logits):
    """KL(q || p) for one position: sum_v q(v) (log q(v) - log p(v))."""
    lp = [_logsm(p_logits, v) for v in range(len(p_logits))]
    lq = [_logsm(q_logits, v) for v in range(len(q_logits))]
    return sum(math.exp(b) * (b - a) for a, b in zip(lp, lq, strict=True))


def test_kl_direction_and_masking():
    ref = torch.tensor([[[0.0, 1.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 2.0]]])
    model = LOGITS[:1]
    mask = torch.tensor([[1, 1, 0]])
    expected = (
        _kl_by_hand(model[0, 0].tolist(), ref[0, 0].tolist()) + _kl_by_hand(model[0, 1].tolist(), ref[0, 1].tolist())
    ) / 2
    assert float(kl_ref_to_model(model, ref, mask)) == pytest.approx(expected, rel=1e-6)
    # the reverse direction is a different number: the test would catch a swapped KL
    reverse = (
        _kl_by_hand(ref[0, 0].tolist(), model[0, 0].tolist()) + _kl_by_hand(ref[0, 1].tolist(), model[0, 1].tolist())
    ) / 2
    assert abs(expected - reverse) > 1e-3


def test_kl_open_unlearning_batchmean_counts_every_position():
    ref = torch.zeros_like(LOGITS)
    expected = sum(_kl_by_hand(LOGITS[b, t].tolist(), [0.0, 0.0, 0.0]) for b in range(2) for t in range(3)) / 6
    assert float(kl_ref_to_model(LOGITS, ref)) == pytest.approx(expected, rel=1e-6)
    assert float(kl_ref_to_model(LOGITS, LOGITS)) == pytest.approx(0.0, abs=1e-7)
