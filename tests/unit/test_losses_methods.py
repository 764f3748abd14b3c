"""Every method loss against its formula, computed by hand (plain `math`, explicit loops) on a fixed tiny batch."""

import math

import pytest
import torch

from hf_unlearn.trainers.losses import (
    ceu_loss,
    dpo_loss,
    logit_margin_loss,
    mask_first_answer_tokens,
    masked_activation_loss,
    npo_loss,
    pdu_dual_update,
    rmu_control_vector,
    sequence_nll,
    simnpo_loss,
    undial_loss,
    weighted_forget_loss,
)

# B=2 rows, L=4 positions, V=4 tokens. Position t predicts labels[t+1].
LOGITS = [
    [[0.1, 1.2, -0.3, 0.5], [2.0, -1.0, 0.3, 0.0], [0.7, 0.2, -0.5, 1.5], [0.0, 0.0, 0.0, 0.0]],
    [[-0.2, 0.4, 1.1, 0.3], [0.9, -0.6, 0.2, 1.3], [1.0, 1.0, -1.0, 0.5], [0.3, -0.3, 0.6, 0.1]],
]
REF = [
    [[0.5, 0.2, 0.1, -0.4], [1.0, 0.1, 0.3, 0.6], [0.2, 0.9, -0.1, 0.4], [0.1, 0.2, 0.3, 0.4]],
    [[0.3, -0.1, 0.8, 0.0], [0.4, 0.4, 0.1, 0.9], [-0.5, 0.6, 0.2, 0.2], [0.0, 0.1, 0.0, 0.1]],
]
LABELS = [[-100, 2, 1, 3], [-100, -100, 0, -100]]
#: (row, position predicting, label) of every scored token
SCORED = [(0, 0, 2), (0, 1, 1), (0, 2, 3), (1, 1, 0)]


def t(x):
    return torch.tensor(x, dtype=torch.float32)


def lsm(row):
    top = max(row)
    log_z = top + math.log(sum(math.exp(x - top) for x in row))
    return [x - log_z for x in row]


def softmax(row):
    return [math.exp(x) for x in lsm(row)]


def token_nll(logits=LOGITS):
    return {(b, p): -lsm(logits[b][p])[y] for b, p, y in SCORED}


def seq_nll(logits=LOGITS):
    nll = token_nll(logits)
    return [sum(v for (b, _), v in nll.items() if b == row) for row in range(2)]


def log1pexp(x):
    return math.log1p(math.exp(x))


def test_sequence_nll_is_summed_over_answer_tokens():
    nll, n = sequence_nll(t(LOGITS), torch.tensor(LABELS))
    assert nll.tolist() == pytest.approx(seq_nll(), rel=1e-6)
    assert n.tolist() == [3, 1]


def test_npo_summed_log_ratio_and_2_over_beta():
    beta = 0.1
    nll, nll_ref = seq_nll(LOGITS), seq_nll(REF)
    ratio = [-a + b for a, b in zip(nll, nll_ref, strict=True)]  # log pi - log pi_ref, summed over tokens
    per_seq = [(2 / beta) * log1pexp(beta * r) for r in ratio]  # (2/beta) log(1 + (pi/pi_ref)^beta)
    got_nll, _ = sequence_nll(t(LOGITS), torch.tensor(LABELS))
    got_ref, _ = sequence_nll(t(REF), torch.tensor(LABELS))
    log_ratio = -got_nll + got_ref
    assert float(npo_loss(log_ratio, beta)) == pytest.approx(sum(per_seq) / 2, rel=1e-6)
    assert float(npo_loss(log_ratio, beta, normalizer=5)) == pytest.approx(sum(per_seq) / 5, rel=1e-6)
    # at r = 0 the loss is (2/beta) log 2 whatever the batch
    assert float(npo_loss(torch.zeros(3), 0.5)) == pytest.approx(4 * math.log(2), rel=1e-6)


def test_simnpo_length_normalised_with_delta_inside_beta():
    beta, delta = 4.5, 1.0
    nll = seq_nll()
    ell = [nll[0] / 3 - delta, nll[1] / 1 - delta]
    per_seq = [(2 / beta) * log1pexp(-beta * x) for x in ell]
    got_nll, n = sequence_nll(t(LOGITS), torch.tensor(LABELS))
    assert float(simnpo_loss(got_nll, n, beta, delta)) == pytest.approx(sum(per_seq) / 2, rel=1e-6)
    assert float(simnpo_loss(got_nll, n, beta, delta, normalizer=4)) == pytest.approx(sum(per_seq) / 4, rel=1e-6)


def test_dpo_margin_and_2_over_beta():
    beta = 0.1
    chosen, rejected = [0.4, -1.5], [-0.2, 2.0]
    per_pair = [(2 / beta) * log1pexp(-beta * (w - r)) for w, r in zip(chosen, rejected, strict=True)]
    got = dpo_loss(t(chosen), t(rejected), beta)
    assert float(got) == pytest.approx(sum(per_pair) / 2, rel=1e-6)
    # preferring the refusal more lowers the loss
    assert float(dpo_loss(t([5.0, 5.0]), t(rejected), beta)) < float(got)


def _weighted_by_hand(weight):
    nll = token_nll()
    return -sum(weight(math.exp(-v)) * v for v in nll.values())


def test_wga_weights_are_p_to_the_beta():
    beta = 2.0
    expected = _weighted_by_hand(lambda p: p**beta)
    assert float(weighted_forget_loss(t(LOGITS), torch.tensor(LABELS), beta)) == pytest.approx(expected / 4, rel=1e-6)
    got = weighted_forget_loss(t(LOGITS), torch.tensor(LABELS), beta, normalizer=10)
    assert float(got) == pytest.approx(expected / 10, rel=1e-6)


def test_satimp_weights_are_p_beta1_times_one_minus_p_beta2():
    b1, b2 = 5.0, 1.0
    expected = _weighted_by_hand(lambda p: p**b1 * (1 - p) ** b2)
    got = weighted_forget_loss(t(LOGITS), torch.tensor(LABELS), b1, b2)
    assert float(got) == pytest.approx(expected / 4, rel=1e-6)


@pytest.mark.parametrize(("beta", "beta2"), [(1.0, None), (5.0, 1.0)])
def test_token_weights_are_detached(beta, beta2):
    """dL/dz_t = -w_t (softmax(z_t) - onehot(y_t)) / N: the weights act as constants."""
    logits = t(LOGITS).requires_grad_(True)
    weighted_forget_loss(logits, torch.tensor(LABELS), beta, beta2).backward()
    for b, p, y in SCORED:
        prob = math.exp(-token_nll()[(b, p)])
        w = prob**beta * ((1 - prob) ** beta2 if beta2 is not None else 1.0)
        expected = [-w * (s - (1.0 if v == y else 0.0)) / 4 for v, s in enumerate(softmax(LOGITS[b][p]))]
        assert logits.grad[b, p].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert logits.grad[1, 2].abs().sum() == 0  # unscored position


def test_undial_adjusted_teacher_distribution():
    beta = 3.0
    total = 0.0
    for b, p, y in SCORED:
        adjusted = [z - (beta if v == y else 0.0) for v, z in enumerate(REF[b][p])]
        target = softmax(adjusted)
        total -= sum(q * lp for q, lp in zip(target, lsm(LOGITS[b][p]), strict=True))
    got = undial_loss(t(LOGITS), t(REF), torch.tensor(LABELS), beta)
    assert float(got) == pytest.approx(total / 4, rel=1e-6)
    assert float(undial_loss(t(LOGITS), t(REF), torch.tensor(LABELS), beta, normalizer=8)) == pytest.approx(
        total / 8, rel=1e-6
    )


def test_ceu_masks_first_answer_token_and_excludes_label_from_target():
    labels = mask_first_answer_tokens(torch.tensor(LABELS), 1)
    assert labels.tolist() == [[-100, -100, 1, 3], [-100, -100, -100, -100]]
    assert mask_first_answer_tokens(torch.tensor(LABELS), 0).tolist() == LABELS
    total, n = 0.0, 0
    for b, p, y in [(0, 1, 1), (0, 2, 3)]:
        z = LOGITS[b][p]
        denom = sum(math.exp(x) for v, x in enumerate(z) if v != y)
        q = [0.0 if v == y else math.exp(x) / denom for v, x in enumerate(z)]
        assert q[y] == 0
        total -= sum(qv * lp for qv, lp in zip(q, lsm(z), strict=True))
        n += 1
    logits = t(LOGITS).requires_grad_(True)
    loss = ceu_loss(logits, labels)
    assert float(loss.detach()) == pytest.approx(total / n, rel=1e-6)
    # the target is detached: dL/dz = (softmax(z) - q) / N
    loss.backward()
    z = LOGITS[0][1]
    denom = sum(math.exp(x) for v, x in enumerate(z) if v != 1)
    q = [0.0 if v == 1 else math.exp(x) / denom for v, x in enumerate(z)]
    expected = [(s - qv) / n for s, qv in zip(softmax(z), q, strict=True)]
    assert logits.grad[0, 1].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_pdu_logit_margin_at_positions_predicting_answer_tokens():
    total = sum((max(LOGITS[b][p]) - sum(LOGITS[b][p]) / 4) ** 2 for b, p, _ in SCORED)
    assert float(logit_margin_loss(t(LOGITS), torch.tensor(LABELS))) == pytest.approx(total / 4, rel=1e-6)


def test_pdu_dual_update_is_projected_ascent():
    assert pdu_dual_update(1.0, 0.5, 0.3, 2.0) == pytest.approx(1.4)
    assert pdu_dual_update(1.0, 0.1, 0.3, 2.0) == pytest.approx(0.6)
    assert pdu_dual_update(0.2, 0.0, 0.3, 5.0) == 0.0  # projected onto lambda >= 0


def test_rmu_control_vector_norm_and_seed():
    c = rmu_control_vector(16, 6.5, seed=3)
    assert c.shape == (1, 1, 16)
    assert float(c.norm()) == pytest.approx(6.5, rel=1e-6)
    assert bool((c >= 0).all())  # u ~ U[0, 1)
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(c, rmu_control_vector(16, 6.5, seed=3))
    assert not torch.equal(c, rmu_control_vector(16, 6.5, seed=4))
    generator = torch.Generator().manual_seed(3)
    u = torch.rand(1, 1, 16, generator=generator)
    torch.testing.assert_close(c, 6.5 * u / u.norm())


def test_rmu_control_vector_per_topic_is_the_next_draw():
    """The original RMU code draws one vector per topic, in topic order; topic 0's is a one-topic run's."""
    generator = torch.Generator().manual_seed(5)
    first, second = torch.rand(1, 1, 8, generator=generator), torch.rand(1, 1, 8, generator=generator)
    torch.testing.assert_close(rmu_control_vector(8, 2.0, seed=5, topic=0), rmu_control_vector(8, 2.0, seed=5))
    torch.testing.assert_close(rmu_control_vector(8, 2.0, seed=5, topic=0), 2.0 * first / first.norm())
    torch.testing.assert_close(rmu_control_vector(8, 2.0, seed=5, topic=1), 2.0 * second / second.norm())


def test_rmu_activation_loss_over_every_position_is_the_plain_mse():
    """labels=None: the original's F.mse_loss over [B, L, d], padding included (the mask would drop it)."""
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 5.0]], [[0.0, 1.0], [2.0, 2.0]]])
    target = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]])  # one vector per sequence
    # squared errors per position (mean over d): seq 0: (0+1)/2, (4+16)/2 -> 0.5, 10; seq 1: (0+1)/2, (4+4)/2 -> 0.5, 4
    assert float(masked_activation_loss(hidden, target, None)) == pytest.approx((0.5 + 10 + 0.5 + 4) / 4)
    labels = torch.tensor([[5, -100], [5, 6]])  # seq 0's second position masked
    assert float(masked_activation_loss(hidden, target, labels)) == pytest.approx((0.5 + (0.5 + 4) / 2) / 2)


def test_rmu_masked_activation_loss_is_mean_of_per_sequence_means():
    torch.manual_seed(0)
    hidden = torch.randn(2, 4, 3)
    target = torch.randn(1, 1, 3)
    labels = torch.tensor(LABELS)
    per_seq = []
    for b in range(2):
        positions = [p for p in range(4) if LABELS[b][p] != -100]  # unshifted: the answer tokens themselves
        sq = [sum((float(hidden[b, p, d]) - float(target[0, 0, d])) ** 2 for d in range(3)) / 3 for p in positions]
        per_seq.append(sum(sq) / len(sq))
    assert float(masked_activation_loss(hidden, target, labels)) == pytest.approx(sum(per_seq) / 2, rel=1e-6)
    assert float(masked_activation_loss(hidden, target, labels, normalizer=4)) == pytest.approx(
        sum(per_seq) / 4, rel=1e-6
    )
    same = masked_activation_loss(hidden, hidden.clone(), labels)
    assert float(same) == 0.0
