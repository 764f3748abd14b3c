"""GRU's rectification and SAM's perturbation on vectors small enough to check by hand."""

import pytest
import torch

from hf_unlearn.trainers.gradients import gru_update, inner, rectify, running_average, sam_perturbation


def _split(values):
    """One 'model' with two parameters: a [2] vector and a [1] vector (inner products must span both)."""
    t = torch.tensor(values, dtype=torch.float32)
    return [t[:2].clone(), t[2:].clone()]


def test_inner_spans_every_parameter_and_skips_missing_gradients():
    assert float(inner(_split([1, 2, 3]), _split([4, 5, 6]))) == 32.0
    assert float(inner([torch.tensor([1.0]), None], [torch.tensor([2.0]), torch.tensor([9.0])])) == 2.0


def test_conflicting_forget_gradient_is_projected_off_the_retain_gradient():
    # g_f = (1, 0, 0), g_r = (-1, 1, 0): <g_f, g_r> = -1, ||g_r||^2 = 2, so g_f' = g_f + 0.5 g_r = (0.5, 0.5, 0)
    forget, retain = _split([1, 0, 0]), _split([-1, 1, 0])
    projected = rectify(forget, retain)
    torch.testing.assert_close(torch.cat(projected), torch.tensor([0.5, 0.5, 0.0]))
    assert float(inner(projected, retain)) == pytest.approx(0.0, abs=1e-7)
    update = [f + r for f, r in zip(projected, retain, strict=True)]
    assert float(inner(update, retain)) == pytest.approx(2.0)  # = ||g_r||^2 >= 0


def test_non_conflicting_forget_gradient_is_kept():
    forget = _split([1, 1, 2])
    projected = rectify(forget, _split([1, 0, 0]))  # <g_f, g_r> = 1 > 0
    assert all(torch.equal(a, b) for a, b in zip(projected, forget, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(rectify(forget, _split([0, 0, 0])), forget, strict=True))


@pytest.mark.parametrize("seed", range(5))
def test_update_never_opposes_the_retain_gradient(seed):
    g = torch.Generator().manual_seed(seed)
    forget, retain = list(torch.randn(2, 7, generator=g)), list(torch.randn(2, 7, generator=g))
    update = [f + r for f, r in zip(rectify(forget, retain), retain, strict=True)]
    assert float(inner(update, retain)) >= -1e-6


def test_sam_perturbation_is_rho_along_the_gradient():
    # g = (3, 0, 4): ||g|| = 5, delta = 0.1 * g / 5
    delta = sam_perturbation(_split([3, 0, 4]), rho=0.1)
    torch.testing.assert_close(torch.cat(delta), torch.tensor([0.06, 0.0, 0.08]))
    assert all(float(d.abs().sum()) == 0 for d in sam_perturbation(_split([0, 0, 0]), rho=0.1))


def test_sam_gradient_on_a_quadratic_matches_the_closed_form():
    """L(theta) = 1/2 theta^T A theta: g = A theta, delta = rho g/||g||, and the gradient at theta + delta is
    A theta + rho A^2 theta / ||A theta||. theta = (1, 1), A = diag(1, 2), rho = 0.5: g = (1, 2), ||g|| = sqrt(5),
    so the perturbed gradient is (1 + 0.5/sqrt(5), 2 + 2/sqrt(5))."""
    a = torch.tensor([1.0, 2.0], dtype=torch.float64)
    theta = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)

    def loss(t):
        return 0.5 * (a * t * t).sum()

    (g,) = torch.autograd.grad(loss(theta), theta)
    (delta,) = sam_perturbation([g], rho=0.5)
    perturbed = (theta + delta).detach().requires_grad_(True)
    (g_sam,) = torch.autograd.grad(loss(perturbed), perturbed)
    root5 = 5**0.5
    torch.testing.assert_close(g_sam, torch.tensor([1 + 0.5 / root5, 2 + 2 / root5], dtype=torch.float64))
    assert float(delta.norm()) == pytest.approx(0.5)


def test_running_average_starts_at_zero_and_weights_the_new_gradient():
    """m_1 = 0.8 g_1 (m_0 = 0, no bias correction, as GRU's official code); m_2 = 0.8 g_2 + 0.2 m_1."""
    first = running_average(None, _split([5, 0, 0]), 0.8)
    torch.testing.assert_close(torch.cat(first), torch.tensor([4.0, 0.0, 0.0]))
    second = running_average(first, _split([-1, 3.75, 0]), 0.8)
    torch.testing.assert_close(torch.cat(second), torch.tensor([0.0, 3.0, 0.0]))
    assert running_average(None, [torch.tensor([1.0]), None], 0.5)[1] is None  # a missing gradient stays missing


#: Two steps, one 'model' of three numbers. Retain NLL gradients d_1 = (5, 0, 0), d_2 = (-1, 3.75, 0), so with
#: moving_avg 0.8 the running average is m_1 = (4, 0, 0) and m_2 = 0.8 d_2 + 0.2 m_1 = (0, 3, 0) (started at d_1
#: instead of 0 it would be (0.2, 3, 0); without averaging, along d_2). Forget gradients g_1 = (-2, 1, 0) and
#: g_2 = (1, -3, 2); retain terms t_1 = (1, 0, 0), t_2 = (-0.2, 0.75, 0) (alpha 0.2 times d, as for an NLL term).
#:   ga_gru:  <g_1, m_1> = -8, ||m_1||^2 = 16: g_1 + 0.5 m_1 = (0, 1, 0);  <g_2, m_2> = -9, ||m_2||^2 = 9: g_2 + m_2
#:            = (1, 0, 2).
#:   inside:  g_1 + t_1 = (-1, 1, 0), <., m_1> = -4: + 0.25 m_1 = (0, 1, 0);  g_2 + t_2 = (0.8, -2.25, 2),
#:            <., m_2> = -6.75: + 0.75 m_2 = (0.8, 0, 2).
#:   after:   (0, 1, 0) + t_1 = (1, 1, 0);  (1, 0, 2) + t_2 = (0.8, 0.75, 2).
GRU_TWO_STEPS = {
    None: ([0, 1, 0], [1, 0, 2]),
    "inside": ([0, 1, 0], [0.8, 0, 2]),
    "after": ([1, 1, 0], [0.8, 0.75, 2]),
}


@pytest.mark.parametrize("place", list(GRU_TWO_STEPS))
def test_gru_update_two_steps_by_hand(place):
    forget = [_split([-2, 1, 0]), _split([1, -3, 2])]
    direction = [_split([5, 0, 0]), _split([-1, 3.75, 0])]
    term = [_split([1, 0, 0]), _split([-0.2, 0.75, 0])] if place else [None, None]
    average = None
    for step, want in enumerate(GRU_TWO_STEPS[place]):
        update, average = gru_update(forget[step], direction[step], average, 0.8, term[step], place)
        torch.testing.assert_close(torch.cat(update), torch.tensor(want, dtype=torch.float32), msg=f"step {step + 1}")
    torch.testing.assert_close(torch.cat(average), torch.tensor([0.0, 3.0, 0.0]))


def test_gru_update_without_averaging_projects_off_the_current_retain_gradient():
    """moving_avg 1: m_2 = d_2 = (-1, 3.75, 0), so g_2 = (1, -3, 2) loses (<g_2, d_2> / ||d_2||^2) d_2."""
    _, average = gru_update(_split([-2, 1, 0]), _split([5, 0, 0]), None, 1.0)
    update, _ = gru_update(_split([1, -3, 2]), _split([-1, 3.75, 0]), average, 1.0)
    d = torch.tensor([-1, 3.75, 0])
    expected = torch.tensor([1.0, -3.0, 2.0]) - (-12.25 / 15.0625) * d
    torch.testing.assert_close(torch.cat(update), expected)
