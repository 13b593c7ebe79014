"""The GRPO token loss reference (nanor1/loss.py) as a specification, on CPU.

    python -m pytest tests/test_loss.py -q

The chunked reference with its hand-written backward is checked against plain eager autograd
(eager_grpo_token_loss), against values computed by hand, and on the edge cases the kernel must share.
"""
import math

import pytest
import torch

import nanor1.loss as L
from nanor1.loss import GRPOLossOutput, eager_grpo_token_loss, grpo_token_loss, token_logprobs

KW = dict(eps_low=0.2, eps_high=0.28, beta=0.04, temperature=0.7, entropy_coef=0.01)


def make_batch(N=24, V=37, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(N, V, generator=g) * 2).to(dtype)
    targets = torch.randint(0, V, (N,), generator=g)
    true_logp = torch.log_softmax(logits.float() / KW["temperature"], -1).gather(1, targets[:, None]).squeeze(1)
    old_logp = true_logp + 0.5 * torch.randn(N, generator=g)  # rho spread around 1: both clip branches occur
    ref_logp = true_logp + 0.5 * torch.randn(N, generator=g)
    advantages = torch.randn(N, generator=g)
    mask = torch.rand(N, generator=g) > 0.2
    return logits, targets, advantages, old_logp, ref_logp, mask


def run(fn, logits, *args, weights=None, **kw):
    """Forward + backward of sum(weights * loss); returns (output, dlogits)."""
    x = logits.detach().clone().requires_grad_(True)
    out = fn(x, *args, **kw)
    w = torch.linspace(-1.0, 2.0, x.shape[0]) if weights is None else weights
    (out.loss * w).sum().backward()
    return out, x.grad


def assert_outputs_close(a: GRPOLossOutput, b: GRPOLossOutput, **tol):
    for name in GRPOLossOutput._fields:
        x, y = getattr(a, name), getattr(b, name)
        if name == "clipped":
            assert torch.equal(x, y), name
        else:
            torch.testing.assert_close(x, y, msg=name, **tol)


def test_reference_matches_eager_autograd():
    batch = make_batch()
    out, grad = run(grpo_token_loss, *batch, chunk_size=5, **KW)
    out_e, grad_e = run(eager_grpo_token_loss, *batch, **KW)
    assert out.clipped.any() and (~out.clipped & batch[5]).any()  # the batch exercises both branches
    assert_outputs_close(out, out_e, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, grad_e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_chunking_does_not_change_results(chunk_size):
    batch = make_batch(N=15)
    out, grad = run(grpo_token_loss, *batch, chunk_size=chunk_size, **KW)
    out_1, grad_1 = run(grpo_token_loss, *batch, chunk_size=15, **KW)
    assert_outputs_close(out, out_1, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad, grad_1, rtol=1e-6, atol=1e-7)


def test_hand_computed_values():
    # z = log [1, 2, 1] -> p = [1/4, 1/2, 1/4]; target 1: logp = log 1/2; old_logp = log 1/2 -> rho = 1
    logits = torch.log(torch.tensor([[1.0, 2.0, 1.0]]))
    targets, adv = torch.tensor([1]), torch.tensor([2.0])
    old, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    out, grad = run(grpo_token_loss, logits, targets, adv, old, ref, weights=torch.ones(1), beta=0.5)
    kl = 0.5 - math.log(0.5) - 1  # exp(d) - d - 1 with d = log(1/4) - log(1/2)
    assert out.logp.item() == pytest.approx(math.log(0.5), abs=1e-6)
    assert out.entropy.item() == pytest.approx(1.5 * math.log(2), abs=1e-6)
    assert out.kl.item() == pytest.approx(kl, abs=1e-6)
    assert out.loss.item() == pytest.approx(-2.0 + 0.5 * kl, abs=1e-6)
    assert not out.clipped.item()
    # coef = dloss/dlogp = -A*rho + beta*(1 - pi_ref/pi) = -2 + 0.5*0.5; dlogits = coef * (onehot - p)
    coef = -2.0 + 0.5 * (1 - 0.5)
    torch.testing.assert_close(grad, coef * torch.tensor([[-0.25, 0.5, -0.25]]))


def test_gradient_is_not_zero_when_rho_is_one():
    # recipe §1: with one step per batch rho == 1 and the advantages of a group sum to 0, so the loss is ~0,
    # but the gradient is -A * (onehot - p), not 0
    logits, targets, _, _, _, _ = make_batch(N=4, V=5)
    old = token_logprobs(logits, targets)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5])
    out, grad = run(grpo_token_loss, logits, targets, adv, old, weights=torch.ones(4))
    assert abs(out.loss.sum().item()) < 1e-5
    assert grad.abs().max() > 0.1
    assert not out.clipped.any()


def test_clipped_branch_has_zero_policy_gradient():
    logits = torch.zeros(4, 3)  # logp = log 1/3 everywhere
    targets = torch.zeros(4, dtype=torch.long)
    logp = math.log(1 / 3)
    old = torch.tensor([logp - 1.0, logp + 1.0, logp + 1.0, logp - 1.0])  # rho = e, 1/e, 1/e, e
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    out, grad = run(grpo_token_loss, logits, targets, adv, old, weights=torch.ones(4), eps_low=0.2, eps_high=0.28)
    assert out.clipped.tolist() == [True, True, False, False]
    assert grad[:2].abs().max() == 0  # clipped: no policy gradient
    assert grad[2:].abs().min() > 0   # A > 0, rho < 1 and A < 0, rho > 1 are never clipped
    torch.testing.assert_close(out.loss[:2], torch.tensor([-1.28 * 1.0, -0.8 * -1.0]))  # -clamp(rho) * A


def test_masked_tokens_have_zero_loss_and_gradient_even_with_garbage():
    logits, targets, adv, old, ref, _ = make_batch(N=6, V=9)
    mask = torch.tensor([True, False, True, False, True, True])
    logits[1] = -torch.inf  # an all -inf padding row
    logits[3, 2] = torch.nan
    old[1], adv[3], ref[3] = torch.nan, torch.inf, -torch.inf
    out, grad = run(grpo_token_loss, logits, targets, adv, old, ref, mask, chunk_size=2, **KW)
    for name in ("loss", "logp", "kl", "entropy"):
        assert (getattr(out, name)[~mask] == 0).all(), name
        assert torch.isfinite(getattr(out, name)).all(), name
    assert not out.clipped[~mask].any()
    assert (grad[~mask] == 0).all() and torch.isfinite(grad).all()


def test_minus_inf_logits_give_finite_entropy_and_gradient():
    logits, targets, adv, old, ref, mask = make_batch(N=8, V=11)
    logits[:, ::3] = -torch.inf
    targets = torch.where(targets % 3 == 0, targets + 1, targets)  # targets stay finite
    out, grad = run(grpo_token_loss, logits, targets, adv, old, ref, mask, **KW)
    out_e, grad_e = run(eager_grpo_token_loss, logits, targets, adv, old, ref, mask, **KW)
    assert torch.isfinite(out.entropy).all() and torch.isfinite(grad).all()
    assert (grad[:, ::3] == 0).all()
    assert_outputs_close(out, out_e, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, grad_e, rtol=1e-5, atol=1e-6)


def test_target_with_probability_zero():
    # logp = -inf, rho = 0: the policy term stays finite; k3 KL is +inf; with beta = 0 the loss is finite
    logits = torch.tensor([[0.0, -torch.inf, 1.0]])
    targets, adv, old, ref = torch.tensor([1]), torch.tensor([1.0]), torch.tensor([-1.0]), torch.tensor([-1.0])
    out, grad = run(grpo_token_loss, logits, targets, adv, old, ref, weights=torch.ones(1), beta=0.0)
    assert out.logp.item() == -math.inf and out.kl.item() == math.inf
    assert out.loss.item() == 0.0 and torch.isfinite(grad).all()


def test_extreme_logits_match_eager():
    logits, targets, adv, _, _, mask = make_batch(N=8, V=13)
    logits[:, 0], logits[:, 1], logits[::2, 2] = 1e4, -1e4, 1e4 - 3.0
    targets[::2] = 2
    logp = token_logprobs(logits, targets, temperature=KW["temperature"])  # old/ref near the policy, as in training
    old, ref = logp + 0.3 * torch.randn(8), logp - 0.3 * torch.randn(8)
    out, grad = run(grpo_token_loss, logits, targets, adv, old, ref, mask, **KW)
    out_e, grad_e = run(eager_grpo_token_loss, logits, targets, adv, old, ref, mask, **KW)
    assert torch.isfinite(grad).all() and torch.isfinite(out.loss).all()
    assert_outputs_close(out, out_e, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grad, grad_e, rtol=1e-4, atol=1e-5)


def test_bf16_logits_give_bf16_gradient_close_to_fp32():
    batch = make_batch(dtype=torch.bfloat16)
    out, grad = run(grpo_token_loss, *batch, **KW)
    out_f, grad_f = run(grpo_token_loss, batch[0].float(), *batch[1:], **KW)
    assert grad.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    assert_outputs_close(out, out_f, rtol=1e-6, atol=1e-6)  # same upcast values: same fp32 math
    torch.testing.assert_close(grad.float(), grad_f, rtol=2 ** -8, atol=1e-6)  # one bf16 rounding


def test_non_contiguous_rows():
    logits, *rest = make_batch(N=10, V=20)
    wide = torch.randn(10, 33)
    wide[:, 5:25] = logits
    view = wide[:, 5:25]
    assert not view.is_contiguous()
    out, grad = run(grpo_token_loss, view, *rest, chunk_size=3, **KW)
    out_c, grad_c = run(grpo_token_loss, logits, *rest, chunk_size=3, **KW)
    assert_outputs_close(out, out_c, rtol=0, atol=0)
    torch.testing.assert_close(grad, grad_c, rtol=0, atol=0)


def test_without_ref_logp_kl_is_zero_and_beta_ignored():
    logits, targets, adv, old, _, mask = make_batch()
    a = grpo_token_loss(logits, targets, adv, old, None, mask, beta=0.0)
    b = grpo_token_loss(logits, targets, adv, old, None, mask, beta=5.0)
    assert (a.kl == 0).all()
    torch.testing.assert_close(a.loss, b.loss)


def test_kl_is_nonnegative_and_zero_when_ref_equals_policy():
    logits, targets, adv, old, ref, mask = make_batch()
    out = grpo_token_loss(logits, targets, adv, old, ref, mask, **KW)
    assert (out.kl >= 0).all() and (out.kl > 0).any()
    same = grpo_token_loss(logits, targets, adv, old, out.logp, mask, **KW)
    assert same.kl.abs().max() < 1e-6


def test_token_logprobs_matches_log_softmax():
    logits, targets, *_ = make_batch(N=9, V=17, dtype=torch.bfloat16)
    want = torch.log_softmax(logits.float() / 0.6, -1).gather(1, targets[:, None]).squeeze(1)
    got = token_logprobs(logits, targets, temperature=0.6, chunk_size=4)
    assert got.dtype == torch.float32 and not got.requires_grad
    torch.testing.assert_close(got, want)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA fallback")
def test_without_cuda_falls_back_or_raises_when_forced(monkeypatch):
    monkeypatch.setattr(L, "_ext", None)
    monkeypatch.setattr(L, "_ext_reason", None)
    monkeypatch.delenv("NANOR1_FUSED", raising=False)
    assert not L.fused_available() and "no CUDA" in L.fused_status()
    monkeypatch.setattr(L, "_ext_reason", None)
    monkeypatch.setenv("NANOR1_FUSED", "1")
    with pytest.raises(RuntimeError, match="NANOR1_FUSED=1"):
        grpo_token_loss(*make_batch(N=2, V=3))
