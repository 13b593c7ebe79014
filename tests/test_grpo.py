"""The GRPO trainer (nanor1/grpo.py) as a specification, on CPU, with the tiny model.

    python -m pytest tests/test_grpo.py -q

Advantages, token weights, the aggregated loss and its gradient (REINFORCE with a group baseline at rho = 1),
k3 KL to the reference, clipping, dynamic sampling, bit-exact resume, and the guard against non-finite steps.
The per-token loss itself is specified in tests/test_loss.py.
"""
import math
import random
from contextlib import contextmanager

import pytest
import torch

from nanor1.checkpoint import load_training_checkpoint, save_training_checkpoint
from nanor1.grpo import (GRPOConfig, GRPOTrainer, Rollout, completion_logits, filter_groups, group_advantages,
                         token_weights, train_step)
from nanor1.loss import grpo_token_loss
from nanor1.model import GPT, ModelConfig
from nanor1.rewards import REWARDS, register_reward
from nanor1.sampler import left_pad
from nanor1.tasks import format_prompt, sample_problem
from nanor1.tokenizer import get_tokenizer

TOK = get_tokenizer()


@contextmanager
def temp_reward(name, fn):
    """Register a reward for the duration of a test, then remove it from the registry."""
    register_reward(name)(fn)
    try:
        yield name
    finally:
        REWARDS.pop(name, None)


def parity(text: str) -> float:
    """A deterministic reward that differs between random completions: gives the groups non-zero advantages."""
    return float(sum(map(ord, text)) % 2)


def tiny_model(seed=0) -> GPT:
    torch.manual_seed(seed)
    return GPT(ModelConfig.preset("tiny", vocab_size=TOK.vocab_size))


def make_trainer(tmp_path, model=None, **kw) -> GRPOTrainer:
    cfg = dict(prompts_per_step=2, num_generations=4, max_new_tokens=8, micro_batch_rows=3, warmup_steps=0,
               reward_weights="accuracy=1")
    cfg.update(kw)
    return GRPOTrainer(model or tiny_model(), GRPOConfig(**cfg), out_dir=str(tmp_path / "run"), tok=TOK)


def hand_rollout(rewards, T=6, seed=0, prompt_len_offset=0) -> Rollout:
    """A Rollout built by hand: P prompts of different lengths (left padding), random completion tokens with
    ragged masks (one row with an empty mask), given rewards (P, G)."""
    rewards = torch.as_tensor(rewards, dtype=torch.float32)
    P, G = rewards.shape
    rng, g = random.Random(seed), torch.Generator().manual_seed(seed)
    problems = [sample_problem(rng, "arithmetic", 1 + p % 3, split="train") for p in range(P)]
    prompts = [TOK.encode(format_prompt(prob))[:20 + 3 * i + prompt_len_offset] for i, prob in enumerate(problems)]
    prompt_ids, prompt_pad = left_pad(prompts, TOK.pad_id, "cpu")
    rows = torch.arange(P).repeat_interleave(G)
    tokens = torch.randint(0, TOK.vocab_size, (P * G, T), generator=g)
    lengths = torch.randint(1, T + 1, (P * G,), generator=g)
    lengths[-1] = 0
    mask = torch.arange(T)[None, :] < lengths[:, None]
    tokens[~mask] = TOK.pad_id
    return Rollout(problems, prompt_ids[rows], prompt_pad[rows], tokens, mask, rewards,
                   {"accuracy": rewards.clone()}, [f"text {i}" for i in range(P * G)], lengths == T, lengths, 0, P)


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


# -----------------------------------------------------------------------------
# 1. advantages

def test_group_advantages_single_sample_group_is_zero_and_finite():
    adv = group_advantages(torch.tensor([[1.0], [0.0], [3.5]]))
    assert torch.isfinite(adv).all() and torch.equal(adv, torch.zeros(3, 1))


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
@pytest.mark.parametrize("value,G", [(0.0, 4), (1.25, 4), (0.1, 7), (0.7, 8), (1 / 3, 16)])
def test_group_advantages_all_equal_rewards_give_exactly_zero(scale, value, G):
    spread = torch.tensor([[1.0] + [0.0] * (G - 1)])
    adv = group_advantages(torch.cat([torch.full((1, G), value), spread]), scale)
    assert torch.equal(adv[0], torch.zeros(G))  # not 6e-4 from float rounding of the mean
    assert (adv[1] != 0).all()  # a group whose rewards differ keeps its advantages


def test_group_advantages_group_batch_none_scalings_on_a_hand_example():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 5.0]])
    eps = 1e-4
    centered = torch.tensor([[0.5, -0.5, -0.5, 0.5], [-0.75, -0.75, -0.75, 2.25]])  # minus each group's mean
    std_group = torch.tensor([[0.5], [math.sqrt((3 * 0.75 ** 2 + 2.25 ** 2) / 4)]])   # population std per group
    std_batch = math.sqrt(39 / 8 - (13 / 8) ** 2)                                     # population std of all 8
    torch.testing.assert_close(group_advantages(rewards, "group", eps), centered / (std_group + eps))
    torch.testing.assert_close(group_advantages(rewards, "batch", eps), centered / (std_batch + eps))
    torch.testing.assert_close(group_advantages(rewards, "none", eps), centered)


def test_group_advantages_rows_sum_to_zero_with_group_scaling():
    rewards = torch.rand(6, 5, generator=torch.Generator().manual_seed(0)) * 3
    adv = group_advantages(rewards, "group")
    assert adv.abs().max() > 0.5
    torch.testing.assert_close(adv.sum(1), torch.zeros(6), atol=1e-5, rtol=0)


def test_nan_rewards_are_replaced_by_zero_counted_and_advantages_stay_finite(tmp_path):
    nan_if_odd = lambda text, problem: math.nan if parity(text) else 1.0  # noqa: E731
    with temp_reward("test_nan", nan_if_odd):
        trainer = make_trainer(tmp_path, reward_weights="test_nan=1")
        r = trainer.sample_round(random.Random(0), torch.Generator().manual_seed(0))
    expected_bad = sum(parity(t) == 1.0 for t in r.texts)
    assert 0 < expected_bad < len(r.texts)  # the test exercises both kinds of rows
    assert r.n_bad_rewards == expected_bad
    assert torch.isfinite(r.rewards).all()
    assert r.rewards.flatten().tolist() == [0.0 if parity(t) else 1.0 for t in r.texts]
    assert torch.isfinite(group_advantages(r.rewards)).all()
    stats = trainer.update(r)
    assert "skipped" not in stats and all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_reward_that_raises_on_some_rows_counts_zero_and_keeps_parts_aligned(tmp_path):
    def raise_if_odd(text, problem):
        if parity(text):
            raise ValueError("buggy reward")
        return 1.0
    with temp_reward("test_raise", raise_if_odd):
        trainer = make_trainer(tmp_path, reward_weights="test_raise=1")
        r = trainer.sample_round(random.Random(0), torch.Generator().manual_seed(0))
    odd = torch.tensor([parity(t) for t in r.texts]).view(2, 4)
    assert 0 < odd.sum() < odd.numel()
    assert torch.equal(r.parts["error/test_raise"], odd)  # (P, G), 1 exactly on the rows that raised
    assert torch.equal(r.rewards, 1 - odd)


# -----------------------------------------------------------------------------
# 2. token weights

MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)


def test_token_weights_grpo_is_mean_per_output_then_mean_over_outputs():
    w = token_weights(MASK, "grpo", max_len=4)
    expected = torch.tensor([[1 / 9, 1 / 9, 1 / 9, 0], [1 / 3, 0, 0, 0], [1 / 6, 1 / 6, 0, 0]])
    torch.testing.assert_close(w, expected)
    assert w.sum().item() == pytest.approx(1.0)


def test_token_weights_dapo_counts_every_token_in_the_batch_the_same():
    w = token_weights(MASK, "dapo", max_len=4)
    torch.testing.assert_close(w, MASK.float() / 6)
    assert w.sum().item() == pytest.approx(1.0)


def test_token_weights_dr_grpo_is_mask_over_outputs_times_max_len():
    torch.testing.assert_close(token_weights(MASK, "dr_grpo", max_len=10), MASK.float() / (3 * 10))


def test_token_weights_all_masked_row_gets_no_weight_and_no_nan():
    mask = torch.tensor([[1, 1], [0, 0]], dtype=torch.bool)
    for loss_type in ("grpo", "dapo", "dr_grpo"):
        w = token_weights(mask, loss_type, max_len=2)
        assert torch.isfinite(w).all() and torch.equal(w[1], torch.zeros(2))


# -----------------------------------------------------------------------------
# 3. the aggregated loss and its gradient

def test_aggregated_loss_matches_hand_value_with_both_clip_branches():
    # 2 outputs x 2 tokens, V = 2 with equal logits: logp = log(1/2) everywhere. old_logp sets rho per token.
    logits = torch.zeros(4, 2, requires_grad=True)
    targets = torch.tensor([0, 1, 0, 0])
    mask = torch.tensor([[True, True], [True, False]])
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])                     # A = +1 for output 0, -1 for output 1
    rho = torch.tensor([1.5, 1.0, 0.5, 1.0])
    old_logp = math.log(0.5) - rho.log()
    out = grpo_token_loss(logits, targets, adv, old_logp, None, mask.flatten(), eps_low=0.2, eps_high=0.2)
    # token 0: rho 1.5, A > 0 -> clipped at 1.2: loss -1.2;  token 1: rho 1: loss -1
    # token 2: rho 0.5, A < 0 -> min(-0.5, -0.8) = -0.8: loss 0.8 (clipped);  token 3: masked
    torch.testing.assert_close(out.loss, torch.tensor([-1.2, -1.0, 0.8, 0.0]))
    assert out.clipped.tolist() == [True, False, True, False]
    grpo = (out.loss * token_weights(mask, "grpo", 2).flatten()).sum()
    dapo = (out.loss * token_weights(mask, "dapo", 2).flatten()).sum()
    assert grpo.item() == pytest.approx(((-1.2 - 1.0) / 2 + 0.8) / 2)
    assert dapo.item() == pytest.approx((-1.2 - 1.0 + 0.8) / 3)
    grpo.backward()
    # only the unclipped token 1 has a gradient: d(-rho A w)/dz = -A w (onehot - p) with w = 1/4
    expected = torch.zeros(4, 2)
    expected[1] = torch.tensor([0.125, -0.125])
    torch.testing.assert_close(logits.grad, expected)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_grpo_gradient_at_ratio_one_equals_reinforce_with_group_baseline(tmp_path, temperature):
    """At the first inner iteration (rho == 1) and beta = 0, the gradient of the aggregated GRPO loss is
    -(1/B) sum_i A_i (1/|o_i|) sum_t grad log pi(o_it): REINFORCE with the group mean as baseline."""
    r = hand_rollout([[1.0, 0.0, 0.5], [2.0, 0.0, 0.0]])
    # lr = 0 and no clipping: after update() the parameters' .grad hold the trainer's GRPO gradient, accumulated
    # over micro-batches of 4 rows (B = 6)
    trainer = make_trainer(tmp_path, lr=0.0, grad_clip=1e9, micro_batch_rows=4, num_generations=3,
                           max_new_tokens=r.tokens.size(1), temperature=temperature)
    stats = trainer.update(r)
    assert "skipped" not in stats and stats["clip_frac"] == 0.0
    grpo_grad = [p.grad.clone() for p in trainer.model.parameters()]

    model = trainer.model
    model.zero_grad(set_to_none=True)
    A = group_advantages(r.rewards).flatten()                                           # (B,)
    logits = completion_logits(model, r.prompt_ids, r.prompt_pad, r.tokens, torch.autocast("cpu", enabled=False))
    logp = torch.log_softmax(logits / temperature, -1).gather(2, r.tokens[..., None]).squeeze(2)  # (B, T)
    m = r.mask.float()
    per_output = (logp * m).sum(1) / m.sum(1).clamp(min=1)                              # (1/|o_i|) sum_t
    surrogate = -(A * per_output).mean()
    surrogate.backward()
    assert max(p.grad.abs().max().item() for p in model.parameters()) > 1e-3  # a real, non-zero gradient
    for g, p in zip(grpo_grad, model.parameters()):
        torch.testing.assert_close(g, p.grad, atol=1e-5, rtol=0)


def test_loss_is_about_zero_at_the_first_iteration_but_parameters_move(tmp_path):
    r = hand_rollout([[1.0, 0.0, 0.5], [2.0, 0.0, 0.0]])
    trainer = make_trainer(tmp_path, num_generations=3, max_new_tokens=r.tokens.size(1), lr=1e-2)
    before = params_of(trainer.model)
    stats = trainer.update(r)
    assert stats["grad_norm"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


# -----------------------------------------------------------------------------
# 4. k3 KL to the reference

def test_kl_is_zero_when_policy_equals_reference_and_positive_after_an_update(tmp_path):
    r = hand_rollout([[1.0, 0.0], [0.0, 1.0]])
    trainer = make_trainer(tmp_path, beta=0.1, num_generations=2, max_new_tokens=r.tokens.size(1), lr=5e-2)
    first = trainer.update(r)   # policy == reference: the reference is a copy made at construction
    assert first["kl"] == pytest.approx(0.0, abs=1e-7)
    second = trainer.update(r)  # the policy moved, the reference did not
    assert math.isfinite(second["kl"]) and second["kl"] > 1e-4


def test_k3_kl_is_non_negative_per_token():
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(64, 11, generator=g) * 3, torch.randint(0, 11, (64,), generator=g)
    logp = torch.log_softmax(logits, -1).gather(1, targets[:, None]).squeeze(1)
    ref = logp + torch.randn(64, generator=g) * 2
    out = grpo_token_loss(logits, targets, torch.randn(64, generator=g), logp, ref, None, beta=0.1)
    assert (out.kl >= 0).all() and (out.kl > 0).any()


# -----------------------------------------------------------------------------
# 5. clipping

def _clip_frac(tmp_path, **kw):
    r = hand_rollout([[1.0, 0.0, 0.5], [2.0, 0.0, 0.0]])
    trainer = make_trainer(tmp_path, num_generations=3, max_new_tokens=r.tokens.size(1), lr=0.1, **kw)
    return trainer.update(r)["clip_frac"]


def test_second_inner_iteration_clips_tokens_after_a_large_step(tmp_path):
    assert _clip_frac(tmp_path, num_iterations=2) > 0


def test_huge_epsilon_never_clips(tmp_path):
    assert _clip_frac(tmp_path, num_iterations=2, epsilon=1e9) == 0.0


def test_single_inner_iteration_never_clips(tmp_path):
    assert _clip_frac(tmp_path, num_iterations=1) == 0.0  # rho == 1 exactly


# -----------------------------------------------------------------------------
# 6. dynamic sampling

def test_filter_groups_keeps_only_groups_with_reward_spread_from_several_rounds():
    r1 = hand_rollout([[1, 1], [0, 1], [2, 2]], T=5, seed=1)
    r2 = hand_rollout([[0, 0], [1, 0], [3, 4]], T=7, seed=2, prompt_len_offset=4)  # longer prompts and outputs
    out = filter_groups([r1, r2], P=3, G=2)
    assert out.rewards.tolist() == [[0, 1], [1, 0], [3, 4]]
    assert (out.rewards.std(1) > 0).all()
    assert out.n_sampled_groups == 6 and out.problems == [r1.problems[1], r2.problems[1], r2.problems[2]]
    assert out.texts == [r1.texts[2], r1.texts[3], r2.texts[2], r2.texts[3], r2.texts[4], r2.texts[5]]
    # every kept row is the same sequence as before, re-padded to the common prompt / completion length
    src = [(r1, 2), (r1, 3), (r2, 2), (r2, 3), (r2, 4), (r2, 5)]
    for row, (r, j) in enumerate(src):
        n = out.mask[row].sum()
        assert torch.equal(out.tokens[row, :n], r.tokens[j, :r.mask[j].sum()])
        assert torch.equal(out.prompt_ids[row, out.prompt_pad[row]:], r.prompt_ids[j, r.prompt_pad[j]:])
    assert out.tokens.shape == (6, 7) and out.mask.shape == (6, 7)


def test_filter_groups_drops_equal_rewards_that_float_std_calls_nonzero():
    r = hand_rollout([[0.7] * 8, [0.0] * 7 + [1.0]], T=3)
    out = filter_groups([r], P=2, G=8)
    assert out.rewards.tolist() == [[0.0] * 7 + [1.0]]


def test_dynamic_sampling_refills_to_exactly_prompts_per_step_groups(tmp_path, monkeypatch):
    rounds = [hand_rollout([[1, 1], [0, 1], [2, 2]], seed=1), hand_rollout([[0, 0], [1, 1], [3, 4]], seed=2),
              hand_rollout([[0, 1], [5, 6], [1, 0]], seed=3), hand_rollout([[0, 1], [1, 0], [1, 0]], seed=4)]
    calls = []
    trainer = make_trainer(tmp_path, prompts_per_step=3, num_generations=2, dynamic_sampling=True,
                           max_sampling_rounds=4, max_new_tokens=6)
    monkeypatch.setattr(trainer, "sample_round", lambda rng, gen: calls.append(1) or rounds[len(calls) - 1])
    out = trainer.sample(random.Random(0), torch.Generator())
    assert len(calls) == 3  # stops sampling once enough groups qualify
    assert out.rewards.tolist() == [[0, 1], [3, 4], [0, 1]]
    assert (out.rewards.std(1) > 0).all() and out.n_sampled_groups == 9
    assert "skipped" not in trainer.update(out)  # the refilled batch (mixed rounds) trains


def test_dynamic_sampling_returns_what_it_has_when_too_few_groups_qualify(tmp_path, monkeypatch):
    rounds = [hand_rollout([[1, 1], [0, 1], [2, 2]], seed=1), hand_rollout([[0, 0], [1, 1], [3, 4]], seed=2)]
    trainer = make_trainer(tmp_path, prompts_per_step=3, num_generations=2, dynamic_sampling=True,
                           max_sampling_rounds=2)
    it = iter(rounds)
    monkeypatch.setattr(trainer, "sample_round", lambda rng, gen: next(it))
    out = trainer.sample(random.Random(0), torch.Generator())
    assert out.rewards.tolist() == [[0, 1], [3, 4]] and out.n_sampled_groups == 6


def test_without_dynamic_sampling_all_equal_groups_are_kept(tmp_path, monkeypatch):
    r = hand_rollout([[1, 1], [0, 1]])
    trainer = make_trainer(tmp_path, num_generations=2, dynamic_sampling=False)
    monkeypatch.setattr(trainer, "sample_round", lambda rng, gen: r)
    assert trainer.sample(random.Random(0), torch.Generator()) is r


# -----------------------------------------------------------------------------
# 7. resume

def test_resume_from_a_training_checkpoint_is_bit_identical(tmp_path):
    init = tiny_model(seed=3).state_dict()
    kw = dict(steps=3, reward_weights="test_parity=1", lr=3e-3, warmup_steps=1, num_generations=4)

    def trainer_from_init(out):
        model = tiny_model(seed=99)  # a different init: everything must come from init / the checkpoint
        model.load_state_dict(init)
        return make_trainer(tmp_path / out, model=model, **kw)

    with temp_reward("test_parity", lambda text, problem: parity(text)):
        straight = trainer_from_init("a")
        rows = [train_step(straight) for _ in range(3)]
        assert any(r["grad_norm"] > 0 for r in rows[1:])  # Adam's state matters for the step after the resume

        killed = trainer_from_init("b")
        train_step(killed), train_step(killed)
        save_training_checkpoint(str(tmp_path / "b" / "state.pt"), killed, {})
        del killed
        resumed = trainer_from_init("b")
        load_training_checkpoint(str(tmp_path / "b" / "state.pt"), resumed)
        assert resumed.step == 2
        train_step(resumed)
    for name, p in straight.model.named_parameters():
        assert torch.equal(p, dict(resumed.model.named_parameters())[name]), name
    assert not torch.equal(straight.model.state_dict()["wte.weight"], init["wte.weight"])


# -----------------------------------------------------------------------------
# 10. non-finite gradients

def _nan_logits(model):
    return model.lm_head.register_forward_hook(lambda module, inputs, output: output * math.nan)


def test_update_with_nan_gradient_is_skipped_and_leaves_parameters_unchanged(tmp_path):
    r = hand_rollout([[1.0, 0.0], [0.0, 1.0]])
    trainer = make_trainer(tmp_path, num_generations=2, max_new_tokens=r.tokens.size(1), lr=1e-2)
    trainer.update(r)  # a normal step first, so the optimizer has state that a NaN step could corrupt
    before = params_of(trainer.model)
    hook = _nan_logits(trainer.model)
    stats = trainer.update(r)
    hook.remove()
    assert stats.get("skipped") == 1
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert "skipped" not in trainer.update(r)  # the next good update still steps, with finite parameters
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_train_step_counts_consecutive_bad_steps_and_stops_after_max_bad_steps(tmp_path, monkeypatch):
    r = hand_rollout([[1.0, 0.0], [0.0, 1.0]])
    trainer = make_trainer(tmp_path, num_generations=2, max_new_tokens=r.tokens.size(1), max_bad_steps=3)
    monkeypatch.setattr(trainer, "sample", lambda rng, gen: r)
    hook = _nan_logits(trainer.model)
    assert train_step(trainer)["skipped"] == 1 and train_step(trainer)["skipped"] == 1
    assert trainer.bad_steps == 2
    hook.remove()
    assert "skipped" not in train_step(trainer) and trainer.bad_steps == 0  # a good step resets the count
    hook = _nan_logits(trainer.model)
    train_step(trainer), train_step(trainer)
    with pytest.raises(SystemExit, match="3 consecutive non-finite steps"):
        train_step(trainer)
    hook.remove()


# -----------------------------------------------------------------------------
# the training forward: a group's prompt runs once, logits only where tokens are trained

def full_sequence_logits(model, r: Rollout, rows, mask):
    """The plain way: every row's prompt + completion through the model, then the masked positions."""
    seq = torch.cat([r.prompt_ids[rows], r.tokens[rows, :-1]], dim=1)
    hidden = model(seq, pad=r.prompt_pad[rows], return_hidden=True)[:, r.prompt_ids.size(1) - 1:]
    return model.lm_head(hidden[mask])


@pytest.mark.parametrize("rows", [list(range(12)), [11, 0, 5, 6, 1, 7]])  # whole groups; rows of mixed groups
def test_completion_logits_with_a_shared_prompt_equal_the_full_forward_and_its_gradient(rows):
    torch.manual_seed(0)
    r = hand_rollout(torch.rand(3, 4), T=6)  # 3 prompts of different lengths (padding), 4 samples each
    rows = torch.tensor(rows)
    mask = r.mask[rows]
    model = tiny_model()
    want = full_sequence_logits(model, r, rows, mask)
    want.square().mean().backward()
    want_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    got = completion_logits(model, r.prompt_ids[rows], r.prompt_pad[rows], r.tokens[rows], torch.autocast(
        "cpu", enabled=False), mask)
    got.square().mean().backward()
    assert got.shape == (int(mask.sum()), TOK.vocab_size)
    assert torch.allclose(got, want, atol=1e-5)
    for g, w in zip((p.grad for p in model.parameters()), want_grads):
        assert torch.allclose(g, w, atol=1e-6, rtol=1e-4)
    unmasked = completion_logits(model, r.prompt_ids[rows], r.prompt_pad[rows], r.tokens[rows],
                                 torch.autocast("cpu", enabled=False))
    assert unmasked.shape == (len(rows), 6, TOK.vocab_size) and torch.allclose(unmasked[mask], got, atol=1e-6)


def test_micro_batches_respect_rows_and_tokens_and_cover_every_trained_row_once(tmp_path):
    trainer = make_trainer(tmp_path, micro_batch_rows=4, micro_batch_tokens=12)
    r = hand_rollout(torch.rand(4, 4), T=6)
    lengths = r.mask.sum(1)
    batches = trainer.micro_batches(r)
    seen = torch.cat([idx for idx, _ in batches]).tolist()
    assert sorted(seen) == [i for i in range(16) if lengths[i] > 0]  # the empty row trains nothing
    for idx, Tm in batches:
        assert len(idx) <= 4 and Tm == int(lengths[idx].max())
        assert len(idx) == 1 or len(idx) * Tm <= 12  # one row longer than the budget still gets its own batch
