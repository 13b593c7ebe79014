"""PPO with a critic (baselines/ppo.py) as a specification: GAE, the clipped value loss, per-token rewards, and one
update on a tiny model moving the critic toward the returns.

    python -m pytest tests/test_ppo.py -q
"""
import random

import pytest
import torch

from nanor1.grpo import train_step
from nanor1.model import GPT, ModelConfig
from baselines.ppo import PPOConfig, PPOTrainer, clipped_value_loss, gae, token_rewards
from nanor1.tokenizer import get_tokenizer

TOK = get_tokenizer()


def test_gae_matches_a_hand_computed_example():
    # row 0: three tokens, reward 1 at the end.  gamma = 1, lam = 0.5
    #   delta_2 = 1 - 0.8 = 0.2            A_2 = 0.2
    #   delta_1 = 0 + 0.8 - 0.4 = 0.4      A_1 = 0.4 + 0.5 * 0.2 = 0.5
    #   delta_0 = 0 + 0.4 - 0.5 = -0.1     A_0 = -0.1 + 0.5 * 0.5 = 0.15
    # row 1: two tokens then padding; the value stored on the padding (9.0) must not leak in
    #   delta_1 = 1 - 0.6 = 0.4            A_1 = 0.4
    #   delta_0 = 0 + 0.6 - 0.2 = 0.4      A_0 = 0.4 + 0.5 * 0.4 = 0.6
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 5.0]])
    values = torch.tensor([[0.5, 0.4, 0.8], [0.2, 0.6, 9.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    torch.testing.assert_close(adv, torch.tensor([[0.15, 0.5, 0.2], [0.6, 0.4, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.65, 0.9, 1.0], [0.8, 1.0, 0.0]]))


def test_gae_with_lambda_one_is_the_monte_carlo_return_minus_the_value():
    rewards = torch.tensor([[0.0, -0.1, 0.0, 2.0]])
    values = torch.tensor([[0.3, 0.1, -0.2, 0.7]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=1.0)
    mc = torch.tensor([[-0.1 * 0.9 + 2.0 * 0.9 ** 3, -0.1 + 2.0 * 0.9 ** 2, 2.0 * 0.9, 2.0]])
    torch.testing.assert_close(ret, mc)
    torch.testing.assert_close(adv, mc - values)


def test_clipped_value_loss_takes_the_worse_of_clipped_and_unclipped():
    returns, old = torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0])
    values = torch.tensor([1.0, 0.1])
    loss = clipped_value_loss(values, old, returns, clip=0.2)
    # row 0: V jumped 1.0 past the clip: the clipped value 0.2 is still 0.8 off -> 0.5 * 0.64
    # row 1: inside the clip range: the plain squared error 0.5 * 0.9^2
    torch.testing.assert_close(loss, torch.tensor([0.32, 0.405]))


def test_value_loss_gradient_is_zero_where_clipping_binds_and_plain_elsewhere():
    values = torch.tensor([1.0, 0.1], requires_grad=True)
    clipped_value_loss(values, torch.zeros(2), torch.ones(2), clip=0.2).sum().backward()
    torch.testing.assert_close(values.grad, torch.tensor([0.0, -0.9]))


def test_token_rewards_put_the_outcome_on_the_last_token_and_the_kl_everywhere():
    mask = torch.tensor([[True, True, False], [True, True, True], [False, False, False]])
    kl = torch.full((3, 3), 0.5)
    r = token_rewards(torch.tensor([1.0, 2.0, 3.0]), mask, kl, kl_coef=0.1)
    torch.testing.assert_close(r, torch.tensor([[-0.05, 0.95, 0.0], [-0.05, -0.05, 1.95], [0.0, 0.0, 0.0]]))


def tiny_trainer(tmp_path, **kw):
    torch.manual_seed(0)
    model = GPT(ModelConfig.preset("tiny", vocab_size=TOK.vocab_size))
    cfg = PPOConfig(prompts_per_step=2, num_generations=3, max_new_tokens=8, micro_batch_rows=4, warmup_steps=0,
                    **kw)
    # a constant reward: with gamma = lam = 1 every return is exactly 1, and the fresh critic says 0 everywhere
    return PPOTrainer(model, cfg, out_dir=str(tmp_path / "ppo"), tok=TOK,
                      reward_fn=lambda text, problem, step: (1.0, {"accuracy": 1.0}))


def value_mse(trainer, r):
    with torch.no_grad():
        v = trainer.critic(r.prompt_ids, r.prompt_pad, r.tokens)
    m = r.mask.float()
    return float(((v - 1.0) ** 2 * m).sum() / m.sum())


def test_one_ppo_step_on_a_tiny_model_reduces_the_value_error(tmp_path):
    trainer = tiny_trainer(tmp_path, gamma=1.0, lam=1.0, critic_lr=3e-2, cliprange_value=10.0)
    r = trainer.sample(random.Random(0), torch.Generator().manual_seed(0))
    before = value_mse(trainer, r)
    assert before == pytest.approx(1.0)  # zero-initialised value head
    stats = trainer.update(r)
    assert value_mse(trainer, r) < 0.9 * before  # one AdamW step, gradient clipped to norm 1: 1.0 -> ~0.7
    assert stats["value_mse_before"] == pytest.approx(1.0)


def test_the_critic_is_a_separate_network_of_the_policys_size(tmp_path):
    trainer = tiny_trainer(tmp_path)
    policy, critic = list(trainer.model.parameters()), list(trainer.critic.body.parameters())
    assert sum(p.numel() for p in policy) == sum(p.numel() for p in critic)
    assert not {p.data_ptr() for p in policy} & {p.data_ptr() for p in critic}


def test_ppo_trainer_runs_under_grpo_train_step_with_a_kl_penalised_reward(tmp_path):
    trainer = tiny_trainer(tmp_path, beta=0.1)
    row = train_step(trainer)
    assert row["step"] == 1 and row["value_mse_before"] > 0 and row["kl"] == pytest.approx(0.0, abs=1e-5)
    assert trainer.ref_model is not None and "seconds_update" in row
