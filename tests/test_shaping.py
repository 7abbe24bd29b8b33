"""Entropy-based advantage shaping: A + min(alpha * H.detach(), |A| / kappa) (docs/method.md §5)."""

import pytest
import torch

import entropy_lens
from entropy_lens.shaping import entropy_bonus, shape_advantages


def test_formula_on_hand_values():
    a = torch.tensor([1.0, -1.0, 0.5, 0.0, 2.0])
    h = torch.tensor([0.5, 3.0, 0.1, 5.0, 1.0])
    # psi = min(0.4 * H, |A| / 2) = [0.2, 0.5, 0.04, 0.0, 0.4]
    expected = torch.tensor([1.2, -0.5, 0.54, 0.0, 2.4])
    assert torch.allclose(shape_advantages(a, h, alpha=0.4, kappa=2.0), expected)
    assert torch.allclose(entropy_bonus(a, h, 0.4, 2.0), torch.tensor([0.2, 0.5, 0.04, 0.0, 0.4]))


def test_public_api_is_the_same_function():
    assert entropy_lens.shape_advantages is shape_advantages


@pytest.mark.parametrize("alpha,kappa", [(0.4, 2.0), (0.1, 2.0), (10.0, 1.01), (1.0, 5.0)])
def test_bonus_is_bounded_and_never_flips_the_sign(alpha, kappa):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 32, generator=g) * 3
    h = torch.rand(64, 32, generator=g) * 6
    shaped = shape_advantages(a, h, alpha, kappa)
    psi = shaped - a
    assert (psi >= 0).all()
    assert (psi <= a.abs() / kappa + 1e-6).all()
    assert (psi <= alpha * h + 1e-6).all()
    nonzero = a != 0
    assert (torch.sign(shaped[nonzero]) == torch.sign(a[nonzero])).all()


def test_zero_advantage_gets_no_bonus():
    a = torch.zeros(4, 5)  # a GRPO group whose rewards are all equal
    h = torch.full((4, 5), 3.0)
    assert torch.equal(shape_advantages(a, h, 0.4, 2.0), a)


def test_masked_positions_are_unchanged():
    a = torch.tensor([[1.0, 1.0, 1.0], [-2.0, -2.0, -2.0]])
    h = torch.ones(2, 3)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    shaped = shape_advantages(a, h, 0.4, 2.0, mask=mask)
    assert torch.allclose(shaped, torch.tensor([[1.4, 1.4, 1.0], [-1.6, -2.0, -2.0]]))


def test_no_gradient_reaches_the_entropy():
    a = torch.tensor([1.0, -1.0, 0.5], requires_grad=True)
    h = torch.tensor([0.5, 3.0, 0.1], requires_grad=True)
    shape_advantages(a, h, 0.4, 2.0).sum().backward()
    assert h.grad is None or torch.count_nonzero(h.grad) == 0
    assert torch.equal(a.grad, torch.ones(3))  # the bonus is a constant: d A_shaped / d A = 1


def test_entropy_adv_gradient_is_the_policy_gradient_with_shaped_constants():
    """With entropy-adv the entropy enters only as a constant: the gradient equals that of
    the surrogate with the shaped advantages plugged in as numbers."""
    from entropy_lens_trainer.losses import clipped_surrogate, logprob_and_entropy

    g = torch.Generator().manual_seed(1)
    logits = (torch.randn(2, 4, 30, generator=g) * 2).requires_grad_()
    ids = torch.randint(0, 30, (2, 4), generator=g)
    mask = torch.ones(2, 4)
    a = torch.tensor([[1.0] * 4, [-1.0] * 4])
    logprob, entropy = logprob_and_entropy(logits, ids)
    shaped = shape_advantages(a, entropy, 0.4, 2.0, mask)
    loss, _ = clipped_surrogate(logprob, logprob.detach(), shaped, mask, 0.2, 0.28)
    (grad,) = torch.autograd.grad(loss, logits)

    logprob2, _ = logprob_and_entropy(logits, ids)
    constants = shaped.detach().clone()
    loss2, _ = clipped_surrogate(logprob2, logprob2.detach(), constants, mask, 0.2, 0.28)
    (grad2,) = torch.autograd.grad(loss2, logits)
    assert torch.equal(grad, grad2)


def test_entropy_regularisation_passes_gradient_to_the_logits():
    from entropy_lens_trainer.advantages import masked_mean
    from entropy_lens_trainer.losses import logprob_and_entropy

    logits = torch.randn(2, 3, 20, generator=torch.Generator().manual_seed(2)).requires_grad_()
    ids = torch.zeros(2, 3, dtype=torch.long)
    _, entropy = logprob_and_entropy(logits, ids)
    loss = -0.01 * masked_mean(entropy, torch.ones(2, 3))
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # gradient ascent on entropy flattens the distribution
    with torch.no_grad():
        _, after = logprob_and_entropy(logits - 10.0 * logits.grad, ids)
    assert after.mean() > entropy.mean()


@pytest.mark.parametrize("alpha,kappa", [(0.4, 1.0), (0.4, 0.5), (0.4, -2.0), (-0.1, 2.0), (float("nan"), 2.0)])
def test_invalid_settings_raise_value_error(alpha, kappa):
    with pytest.raises(ValueError):
        shape_advantages(torch.ones(3), torch.ones(3), alpha, kappa)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        shape_advantages(torch.ones(2, 3), torch.ones(3), 0.4, 2.0)
