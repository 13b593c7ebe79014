"""The fused CUDA GRPO loss (kernels/grpo_loss.cu) against the PyTorch reference (nanor1/loss.py), on a GPU.

    python -m pytest tests/test_kernel_cuda.py -q        # skipped without CUDA; the first run builds (~70 s)

Tolerances (stated, see kernels/README.md):
- forward values (loss, logp, kl, entropy): both sides do fp32 math on the same upcast logits, only the
  summation order differs -> rtol 2e-5, atol 2e-5 for every logits dtype (rows of +-1e4: atol 5e-3, 1 ulp of 1e4).
- gradients: fp32 rtol 1e-4, atol 1e-5 * max|grad|; bf16/fp16 gradients are rounded once to the logits
  dtype -> one ulp: rtol 2^-7 (bf16) / 2^-10 (fp16), atol 1e-2 (bf16) / 1e-3 (fp16) * max|grad|.
"""
import math

import pytest
import torch

import nanor1.loss as L
from nanor1.loss import GRPOLossOutput, grpo_token_loss, token_logprobs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
GRAD_TOL = {torch.float32: (1e-4, 1e-5), torch.bfloat16: (2 ** -7, 1e-2), torch.float16: (2 ** -10, 1e-3)}
CONFIGS = {
    "clip_kl_entropy": dict(eps_low=0.2, eps_high=0.28, beta=0.04, temperature=0.7, entropy_coef=0.01),
    "noclip_nokl": dict(eps_low=1e6, eps_high=1e6, beta=0.0, temperature=1.0, entropy_coef=0.0),
}


@pytest.fixture(scope="module", autouse=True)
def extension():
    assert L.fused_available(), L.fused_status()  # on a GPU machine a failed build is a failure, not a skip


def make_batch(N, V, dtype, seed=0, masked=True):
    g = torch.Generator(device="cuda").manual_seed(seed)
    logits = (torch.randn(N, V, device="cuda", generator=g) * 3).to(dtype)
    targets = torch.randint(0, V, (N,), device="cuda", generator=g)
    logp = token_logprobs(logits, targets, temperature=0.7)
    old = logp + 0.5 * torch.randn(N, device="cuda", generator=g)  # rho spread around 1: both branches
    ref = logp + 0.5 * torch.randn(N, device="cuda", generator=g)
    adv = torch.randn(N, device="cuda", generator=g)
    mask = (torch.rand(N, device="cuda", generator=g) > 0.25) if masked else None
    return logits, targets, adv, old, ref, mask


def reference(logits, targets, adv, old, ref, mask, **kw):
    t, a, o, r, m = L._prepare(logits, targets, adv, old, ref, mask)
    return L._reference_grpo_token_loss(logits, t, a, o, r, m, kw["eps_low"], kw["eps_high"], kw["beta"],
                                        kw["temperature"], kw["entropy_coef"], 16)


def run(fn, logits, *args, weights, **kw):
    # a leaf with the same strides as logits (clone() of a sliced view would be contiguous)
    x = torch.empty_strided(logits.shape, logits.stride(), dtype=logits.dtype, device=logits.device)
    x.copy_(logits.detach()).requires_grad_(True)
    out = fn(x, *args, **kw)
    (out.loss * weights).sum().backward()
    return out, x.grad


def check(logits, *args, cfg, fwd_atol=2e-5, grad_rtol=0.0, seed=0):
    N = logits.shape[0]
    weights = torch.randn(N, device="cuda", generator=torch.Generator(device="cuda").manual_seed(seed + 1))
    out, grad = run(grpo_token_loss, logits, *args, weights=weights, **cfg)
    want, want_grad = run(reference, logits, *args, weights=weights, **cfg)
    assert out.loss.requires_grad and grad.dtype == logits.dtype
    for name in ("loss", "logp", "kl", "entropy"):
        torch.testing.assert_close(getattr(out, name), getattr(want, name), rtol=2e-5, atol=fwd_atol, msg=name)
    assert torch.equal(out.clipped, want.clipped)
    rtol, atol = GRAD_TOL[logits.dtype]
    rtol = max(rtol, grad_rtol)
    scale = want_grad.float().abs().max().item()
    torch.testing.assert_close(grad.float(), want_grad.float(), rtol=rtol, atol=atol * scale + 1e-30)
    return out, grad


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("V", [1000, 32768, 151936])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_matches_reference(dtype, V, config):
    batch = make_batch(64, V, DTYPES[dtype], masked=config == "clip_kl_entropy")
    out, _ = check(*batch, cfg=CONFIGS[config])
    if config == "clip_kl_entropy":
        assert out.clipped.any()


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_extreme_and_minus_inf_logits(dtype):
    logits, targets, adv, old, ref, mask = make_batch(16, 1000, DTYPES[dtype], masked=False)
    big = 1e4 if dtype != "fp16" else 6e4  # fp16 max is 65504
    logits[:, 0], logits[:, 1], logits[::2, 2] = big, -big, big - 2.0
    logits[:, 3::7] = -math.inf
    targets[::2] = 2
    targets[1] = 3  # a target of probability 0: logp = -inf, kl = inf; beta = 0 keeps the loss finite
    logp = token_logprobs(logits, targets, temperature=1.0)
    old, ref = torch.where(logp.isinf(), 0.0, logp + 0.3), torch.where(logp.isinf(), 0.0, logp - 0.3)
    cfg = dict(eps_low=0.2, eps_high=0.28, beta=0.0, temperature=1.0, entropy_coef=0.01)
    # lse ~ 1e4 is rounded to 1 ulp (1e-3) either side: p = exp(z - lse) may differ by 1e-3 relative
    out, grad = check(logits, targets, adv, old, ref, mask, cfg=cfg, fwd_atol=5e-3 * big / 1e4, grad_rtol=5e-3)
    assert out.logp[1].item() == -math.inf and out.kl[1].item() == math.inf
    assert torch.isfinite(out.loss).all() and torch.isfinite(grad).all()


def test_masked_rows_are_zero_even_with_garbage():
    logits, targets, adv, old, ref, _ = make_batch(8, 1000, torch.bfloat16)
    mask = torch.tensor([True, False] * 4, device="cuda")
    logits[1] = math.nan
    logits[3] = -math.inf
    old[5], adv[7] = math.nan, math.inf
    cfg = CONFIGS["clip_kl_entropy"]
    out, grad = check(logits, targets, adv, old, ref, mask, cfg=cfg)
    for name in ("loss", "logp", "kl", "entropy"):
        assert (getattr(out, name)[~mask] == 0).all(), name
    assert (grad[~mask] == 0).all() and torch.isfinite(grad).all()


def test_single_row():
    check(*make_batch(1, 32768, torch.bfloat16, masked=False), cfg=CONFIGS["clip_kl_entropy"])


@pytest.mark.parametrize("extra", [8, 3], ids=["aligned_stride", "unaligned_stride"])
def test_non_contiguous_rows(extra):
    # row stride 1008 bf16 = 2016 bytes: 16-byte aligned rows, vector loads; 1003: scalar loads
    logits, *rest = make_batch(32, 1000, torch.bfloat16)
    view = torch.zeros(32, 1000 + extra, device="cuda", dtype=torch.bfloat16)[:, :1000]
    view.copy_(logits)
    assert not view.is_contiguous() and view.stride(1) == 1
    check(view, *rest, cfg=CONFIGS["clip_kl_entropy"])


def test_column_major_logits():
    logits, *rest = make_batch(32, 1000, torch.float32)
    check(logits.t().contiguous().t(), *rest, cfg=CONFIGS["clip_kl_entropy"])


def test_gradient_not_zero_at_rho_one():
    logits, targets, adv, _, _, _ = make_batch(64, 32768, torch.bfloat16, masked=False)
    old = token_logprobs(logits, targets)
    cfg = dict(eps_low=0.2, eps_high=0.2, beta=0.0, temperature=1.0, entropy_coef=0.0)
    out, grad = check(logits, targets, adv, old, None, None, cfg=cfg)
    assert not out.clipped.any() and grad.float().abs().max() > 1e-3


def test_zero_incoming_gradient_rows_are_zero():
    logits, targets, adv, old, ref, mask = make_batch(8, 1000, torch.float32, masked=False)
    x = logits.clone().requires_grad_(True)
    weights = torch.tensor([1.0, 0.0] * 4, device="cuda")
    (grpo_token_loss(x, targets, adv, old, ref, **CONFIGS["clip_kl_entropy"]).loss * weights).sum().backward()
    assert (x.grad[1::2] == 0).all() and (x.grad[0::2] != 0).any()


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_grad_in_forward_matches_separate_backward(dtype):
    logits, targets, adv, old, ref, mask = make_batch(64, 32768, DTYPES[dtype])
    cfg = CONFIGS["clip_kl_entropy"]
    weights = torch.randn(64, device="cuda")
    out, grad = run(grpo_token_loss, logits, targets, adv, old, ref, mask, weights=weights, **cfg)
    out2, grad2 = L.grpo_loss_and_grad(logits, targets, adv, old, weights, ref, mask, **cfg)
    for name in GRPOLossOutput._fields:
        torch.testing.assert_close(getattr(out2, name), getattr(out, name).detach(), rtol=0, atol=0, msg=name)
    torch.testing.assert_close(grad2.float(), grad.float(), rtol=1e-6, atol=1e-7)
