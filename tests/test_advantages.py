"""GRPO group advantages, GAE and whitening against hand-computed values."""

import math

import pytest
import torch

from entropy_lens_trainer.advantages import (GROUP_STD_EPS, broadcast, gae, group_advantages, masked_mean,
                                             outcome_token_rewards, whiten)


def test_grpo_group_normalisation_by_hand():
    rewards = torch.tensor([1.0, -1.0, -1.0, 1.0,  1.0, 1.0, 1.0, 1.0,  1.0, -1.0, -1.0, -1.0])
    a = group_advantages(rewards, group_size=4)
    # group 1: mean 0, sample std sqrt(4/3)
    s = math.sqrt(4 / 3) + GROUP_STD_EPS
    assert torch.allclose(a[:4], torch.tensor([1 / s, -1 / s, -1 / s, 1 / s]))
    # group 2: equal rewards -> exactly zero
    assert torch.equal(a[4:8], torch.zeros(4))
    # group 3: mean -0.5, deviations (1.5, -0.5, -0.5, -0.5), sample variance 3/3 = 1
    assert torch.allclose(a[8:], torch.tensor([1.5, -0.5, -0.5, -0.5]) / (1 + GROUP_STD_EPS))


def test_grpo_uses_the_sample_std():
    a = group_advantages(torch.tensor([0.0, 2.0]), group_size=2)
    # population std would be 1 (giving +-1); sample std is sqrt(2)
    assert torch.allclose(a, torch.tensor([-1.0, 1.0]) / (math.sqrt(2) + GROUP_STD_EPS))


def test_grpo_needs_a_group():
    with pytest.raises(ValueError):
        group_advantages(torch.tensor([1.0, 0.0]), group_size=1)


def test_broadcast_puts_the_sequence_advantage_on_real_tokens_only():
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    assert torch.equal(broadcast(torch.tensor([0.5, -2.0]), mask), torch.tensor([[0.5, 0.5, 0.5], [-2.0, 0.0, 0.0]]))


def test_outcome_reward_sits_on_the_last_real_token():
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    r = outcome_token_rewards(torch.tensor([1.0, -1.0, 5.0]), mask)
    assert torch.equal(r, torch.tensor([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0]]))


def test_gae_by_hand():
    gamma, lam = 0.9, 0.8
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    rewards = outcome_token_rewards(torch.tensor([1.0, -1.0]), mask)
    values = torch.tensor([[0.5, 0.6, 0.7], [0.2, 0.4, 9.9]])  # 9.9: padding, must be ignored
    a, ret = gae(rewards, values, mask, gamma, lam)
    # row 0: delta = (0.04, 0.03, 0.3); A2 = 0.3, A1 = 0.03 + 0.72 * 0.3, A0 = 0.04 + 0.72 * A1
    a1 = 0.03 + 0.72 * 0.3
    expected0 = [0.04 + 0.72 * a1, a1, 0.3]
    # row 1: delta1 = -1 - 0.4 = -1.4; delta0 = 0.9 * 0.4 - 0.2 = 0.16; A0 = 0.16 + 0.72 * -1.4
    expected1 = [0.16 + 0.72 * -1.4, -1.4, 0.0]
    assert torch.allclose(a, torch.tensor([expected0, expected1]), atol=1e-6)
    assert torch.allclose(ret, torch.tensor([[expected0[0] + 0.5, a1 + 0.6, 1.0], [expected1[0] + 0.2, -1.0, 0.0]]), atol=1e-6)


def test_gae_with_gamma_and_lambda_one_is_reward_minus_value():
    mask = torch.ones(1, 4)
    values = torch.tensor([[0.1, -0.3, 0.25, 0.5]])
    a, ret = gae(outcome_token_rewards(torch.tensor([1.0]), mask), values, mask, 1.0, 1.0)
    assert torch.allclose(a, 1.0 - values)
    assert torch.allclose(ret, torch.ones(1, 4))


def test_gae_with_lambda_zero_is_the_td_error():
    mask = torch.ones(1, 3)
    values = torch.tensor([[0.2, 0.4, 0.8]])
    a, _ = gae(outcome_token_rewards(torch.tensor([1.0]), mask), values, mask, 0.5, 0.0)
    assert torch.allclose(a, torch.tensor([[0.5 * 0.4 - 0.2, 0.5 * 0.8 - 0.4, 1.0 - 0.8]]))


def test_whitening_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 100.0]])
    mask = torch.tensor([[1, 1], [1, 0]])
    w = whiten(x, mask)
    # mean 2, sample variance 1 over the three real tokens; padding stays 0
    assert torch.allclose(w, torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), atol=1e-6)


def test_whitening_gives_zero_mean_unit_sample_variance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 10, generator=g) * 4 + 3
    mask = (torch.rand(6, 10, generator=g) > 0.3).long()
    w = whiten(x, mask)
    real = w[mask.bool()]
    assert abs(float(real.mean())) < 1e-5
    assert abs(float(real.var()) - 1.0) < 1e-4  # torch.var is the sample variance
    assert torch.count_nonzero(w[~mask.bool()]) == 0


def test_masked_mean_counts_real_tokens_only():
    x = torch.tensor([[1.0, 3.0, 100.0]])
    assert float(masked_mean(x, torch.tensor([[1, 1, 0]]))) == 2.0
    assert float(masked_mean(x, torch.zeros(1, 3))) == 0.0


def test_top_entropy_mask_keeps_the_top_share_of_real_tokens():
    from entropy_lens_trainer.advantages import top_entropy_mask

    entropy = torch.tensor([[0.1, 0.9, 0.5, 0.3, 7.0], [0.8, 0.2, 0.7, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=torch.float32)  # 7.0 sits on padding
    keep = top_entropy_mask(entropy, mask, 0.5)  # 7 real tokens: the median, 0.5, and the tokens above it
    assert keep.tolist() == [[0, 1, 1, 0, 0], [1, 0, 1, 0, 0]]
    assert torch.equal(top_entropy_mask(entropy, mask, 1.0), mask)
    assert top_entropy_mask(entropy, mask, 1e-9).sum() == 1  # the single highest real token
