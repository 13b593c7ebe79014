"""The GRPO per-token loss (recipe §1, §2): a readable PyTorch reference and a fused CUDA kernel
behind one call.

    from nanor1.loss import grpo_token_loss, token_logprobs
    out = grpo_token_loss(logits, targets, advantages, old_logp, ref_logp, mask, beta=0.001)
    (out.loss * weights).sum().backward()    # the trainer picks the weights (grpo / dapo / dr_grpo)

For every completion token, with z = logits / temperature and logp = log_softmax(z)[target]:
    rho     = exp(logp - old_logp)                           (old_logp is a constant)
    policy  = -min(rho * A, clamp(rho, 1 - eps_low, 1 + eps_high) * A)
    kl      = exp(ref_logp - logp) - (ref_logp - logp) - 1   (k3 estimator, >= 0)
    loss    = policy + beta * kl - entropy_coef * entropy    (masked tokens: 0, and no gradient)

Two implementations, same numbers:
- reference (CPU, or CUDA without the extension): chunked over tokens, so at most one (chunk, V)
  fp32 block exists at a time, instead of the several (N, V) fp32 tensors of eager autograd
  (recipe §8). Its backward recomputes the softmax chunk by chunk. `eager_grpo_token_loss` is the
  same math in plain autograd, for tests.
- fused (CUDA): kernels/grpo_loss.cu, JIT-built on first use with torch.utils.cpp_extension.load
  (cached in ~/.cache/torch_extensions). One pass over the logits forward, one read + one write
  backward; see kernels/README.md.

NANOR1_FUSED=0 forces the reference. NANOR1_FUSED=1 forces the kernel: without CUDA, with CPU
logits, or if the build fails, that is a RuntimeError (not a silent fallback). Unset: the kernel
when it builds, else the reference, with one log line saying why.

Note: at the first GRPO step loss ~ 0 is expected (advantages sum to zero within a group, rho == 1);
the gradient is not zero (recipe §1).
"""
import logging
import os
from typing import NamedTuple, Optional

import torch
from torch import Tensor

log = logging.getLogger("nanor1.loss")
KERNEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")


class GRPOLossOutput(NamedTuple):
    loss: Tensor     # (N,) fp32 per-token loss, differentiable w.r.t. logits; 0 where mask is False
    logp: Tensor     # (N,) fp32 log pi_theta(target), detached; 0 where masked
    kl: Tensor       # (N,) fp32 k3 KL per token, detached; 0 if ref_logp is None
    clipped: Tensor  # (N,) bool: the clipped branch was taken (policy gradient is zero for that
                     # token)
    entropy: Tensor  # (N,) fp32 entropy of the temperature-scaled distribution, detached


def _default_chunk(V: int) -> int:
    return max(1, (1 << 22) // V)  # (chunk, V) fp32 block of ~16 MB


def _chunks(N: int, chunk_size: int):
    for start in range(0, N, chunk_size):
        yield start, min(start + chunk_size, N)


# --------------------------------------------------------------------------------------------------
# Reference, part 1: log pi(target) and entropy per row, chunked, with a hand-written backward.
# --------------------------------------------------------------------------------------------------
class _ChunkedLogpEntropy(torch.autograd.Function):
    """(logits (N, V), targets (N,), mask (N,)) -> logp (N,), entropy (N,); 0 on masked rows."""

    @staticmethod
    def forward(ctx, logits, targets, mask, temperature, chunk_size):
        N = logits.shape[0]
        logp = logits.new_zeros(N, dtype=torch.float32)
        entropy = logits.new_zeros(N, dtype=torch.float32)
        lse = logits.new_zeros(N, dtype=torch.float32)
        for a, b in _chunks(N, chunk_size):
            # (C, V) fp32: the one big block
            z = logits[a:b].float() / temperature
            lse_c = torch.logsumexp(z, dim=-1)                         # (C,)
            logp_c = z.gather(1, targets[a:b, None]).squeeze(1) - lse_c
            # (C, V) softmax, z reused in place
            p = torch.exp(z.sub_(lse_c[:, None]))
            # -sum p log p; entr(0) = 0, so -inf logits are fine
            entropy_c = torch.special.entr(p).sum(-1)
            m = mask[a:b]
            logp[a:b] = torch.where(m, logp_c, 0.0)
            entropy[a:b] = torch.where(m, entropy_c, 0.0)
            lse[a:b] = lse_c
        ctx.save_for_backward(logits, targets, mask, lse, entropy)
        ctx.temperature, ctx.chunk_size = temperature, chunk_size
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        # d logp / d z_j = onehot_j - p_j;   d H / d z_j = -p_j (log p_j + H) = entr(p_j) - p_j H;
        # d z / d x = 1/T
        logits, targets, mask, lse, entropy = ctx.saved_tensors
        # (N, V) in the logits dtype
        grad = torch.empty_like(logits, memory_format=torch.contiguous_format)
        for a, b in _chunks(logits.shape[0], ctx.chunk_size):
            # (C, V) softmax, recomputed
            p = torch.exp(logits[a:b].float() / ctx.temperature - lse[a:b, None])
            g_logp, g_ent, m = grad_logp[a:b, None], grad_entropy[a:b, None], mask[a:b, None]
            d = torch.special.entr(p).sub_(p * entropy[a:b, None]).mul_(g_ent)      # entropy part
            d.sub_(p.mul_(g_logp))                                                   # - g * p
            # + g * onehot(target)
            d.scatter_add_(1, targets[a:b, None], g_logp)
            # masked rows: exactly 0
            grad[a:b] = torch.where(m, d / ctx.temperature, 0.0)
        return grad, None, None, None, None


# --------------------------------------------------------------------------------------------------
# Reference, part 2: the GRPO term on (N,) vectors, in plain autograd (reads like the formula,
# recipe §1).
# --------------------------------------------------------------------------------------------------
def _grpo_terms(logp, entropy, advantages, old_logp, ref_logp, mask, eps_low, eps_high, beta,
                entropy_coef):
    """logp, entropy: (N,) differentiable. Returns loss (N,), kl (N,), clipped (N,) bool."""
    # masked rows may carry anything (padding): make them harmless before any exp
    advantages = torch.where(mask, advantages.float(), 0.0)
    old_logp = torch.where(mask, old_logp.float().detach(), 0.0)
    # through exp even when rho == 1: the gradient is -A*rho, not 0
    rho = torch.exp(logp - old_logp)
    unclipped = rho * advantages
    clipped_obj = torch.clamp(rho, 1 - eps_low, 1 + eps_high) * advantages
    loss = -torch.minimum(unclipped, clipped_obj)
    clipped = ((advantages > 0) & (rho > 1 + eps_high)) | ((advantages < 0) & (rho < 1 - eps_low))
    kl = torch.zeros_like(logp)
    if ref_logp is not None:
        d = torch.where(mask, ref_logp.float(), 0.0) - logp  # log(pi_ref / pi_theta)
        # not inf - inf = NaN when logp = -inf
        kl = torch.where(d == torch.inf, torch.inf, torch.exp(d) - d - 1)
        if beta != 0:  # beta == 0 must not add 0 * inf (a target of probability 0 has kl = inf)
            loss = loss + beta * kl
    if entropy_coef != 0:
        loss = loss - entropy_coef * entropy
    loss = torch.where(mask, loss, 0.0)
    return loss, torch.where(mask, kl, 0.0).detach(), clipped & mask


def _reference_grpo_token_loss(logits, targets, advantages, old_logp, ref_logp, mask, eps_low,
                               eps_high, beta, temperature, entropy_coef,
                               chunk_size) -> GRPOLossOutput:
    logp, entropy = _ChunkedLogpEntropy.apply(logits, targets, mask, temperature, chunk_size)
    loss, kl, clipped = _grpo_terms(logp, entropy, advantages, old_logp, ref_logp, mask, eps_low,
                                    eps_high, beta, entropy_coef)
    return GRPOLossOutput(loss, logp.detach(), kl, clipped, entropy.detach())


def eager_grpo_token_loss(logits, targets, advantages, old_logp, ref_logp=None, mask=None, *,
                          eps_low=0.2, eps_high=0.2, beta=0.0, temperature=1.0,
                          entropy_coef=0.0) -> GRPOLossOutput:
    """The same loss in plain eager autograd over (N, V) tensors: the spec at a glance, the tests'
    oracle and the benchmark's baseline. Materialises several (N, V) fp32 tensors (upcast,
    log_softmax, softmax, gradients)."""
    mask = torch.ones_like(targets, dtype=torch.bool) if mask is None else mask
    logprobs = torch.log_softmax(logits.float() / temperature, dim=-1)          # (N, V)
    logp = logprobs.gather(1, targets[:, None]).squeeze(1)                      # (N,)
    entropy = -(logprobs.exp() * logprobs.masked_fill(logprobs == -torch.inf, 0)).sum(-1)
    loss, kl, clipped = _grpo_terms(torch.where(mask, logp, 0.0), torch.where(mask, entropy, 0.0),
                                    advantages,
                                    old_logp, ref_logp, mask, eps_low, eps_high, beta, entropy_coef)
    return GRPOLossOutput(loss, torch.where(mask, logp, 0.0).detach(), kl, clipped,
                          torch.where(mask, entropy, 0.0).detach())


# --------------------------------------------------------------------------------------------------
# Fused CUDA kernel: JIT build, autograd wrapper
# --------------------------------------------------------------------------------------------------
_ext = None          # the loaded extension module
_ext_reason = None   # why it is not used (None until we tried)


def _forced() -> Optional[bool]:
    v = os.environ.get("NANOR1_FUSED", "")
    return None if v == "" else v not in ("0", "false", "False")


def _load_extension():
    """Build (first call, ~70 s) or load from cache the CUDA extension. Returns it, or None with
    _ext_reason set."""
    global _ext, _ext_reason
    if _ext is not None or _ext_reason is not None:
        return _ext
    forced = _forced()
    if forced is False:
        _ext_reason = "disabled by NANOR1_FUSED=0"
    elif not torch.cuda.is_available():
        _ext_reason = "no CUDA device"
    else:
        try:
            from torch.utils.cpp_extension import load
            _ext = load(name="nanor1_grpo_loss", verbose=False,
                        sources=[os.path.join(KERNEL_DIR, "grpo_loss_binding.cpp"),
                                 os.path.join(KERNEL_DIR, "grpo_loss.cu")],
                        extra_include_paths=[KERNEL_DIR], extra_cflags=["-O3"],
                        extra_cuda_cflags=["-O3", "-lineinfo"])
            _ext_reason = "built"
        except Exception as e:  # a broken toolchain must not stop training: fall back, say why once
            _ext_reason = (f"build failed: {type(e).__name__}: "
                           f"{str(e).strip().splitlines()[-1] if str(e).strip() else ''}")
    if _ext is None:
        if forced:
            raise RuntimeError("NANOR1_FUSED=1 but the fused GRPO loss kernel is unavailable "
                               f"({_ext_reason})")
        log.warning("nanor1.loss: using the PyTorch reference GRPO loss, not the fused CUDA kernel "
                    "(%s)", _ext_reason)
    return _ext


def fused_available() -> bool:
    """True if the CUDA kernel is used for CUDA logits (builds it on the first call); see
    fused_status()."""
    return _load_extension() is not None


def fused_status() -> str:
    """A short reason: 'built', 'no CUDA device', 'disabled by NANOR1_FUSED=0', 'build failed:
    ...'."""
    try:
        _load_extension()
    except RuntimeError:
        pass
    return _ext_reason


class _FusedGRPOLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, targets, advantages, old_logp, ref_logp, mask, eps_low, eps_high, beta,
                temperature, entropy_coef):
        loss, logp, kl, clipped, entropy, lse, coef = _ext.forward(
            logits, targets, advantages, old_logp, ref_logp, mask, eps_low, eps_high, beta,
                                                                   temperature,
            entropy_coef)
        ctx.save_for_backward(logits, targets, mask, lse, entropy, coef)
        ctx.params = (eps_low, eps_high, beta, temperature, entropy_coef)
        ctx.mark_non_differentiable(logp, kl, clipped, entropy)
        return loss, logp, kl, clipped, entropy

    @staticmethod
    def backward(ctx, grad_loss, *_):
        logits, targets, mask, lse, entropy, coef = ctx.saved_tensors
        if grad_loss is None:
            return (None,) * 11
        grad = _ext.backward(logits, targets, grad_loss.float().contiguous(), mask, lse, entropy,
                             coef, *ctx.params)
        return (grad,) + (None,) * 10


def _prepare(logits, targets, advantages, old_logp, ref_logp, mask):
    N = logits.shape[0]
    dev = logits.device
    mask = (torch.ones(N, dtype=torch.bool, device=dev) if mask is None
            else mask.to(dev, torch.bool).contiguous())
    vec = lambda t: None if t is None else t.to(dev, torch.float32).contiguous()  # noqa: E731
    return (targets.to(dev, torch.long).contiguous(), vec(advantages), vec(old_logp),
            vec(ref_logp), mask)


def grpo_token_loss(logits, targets, advantages, old_logp, ref_logp=None, mask=None, *,
                    eps_low=0.2, eps_high=0.2, beta=0.0, temperature=1.0, entropy_coef=0.0,
                    chunk_size=None) -> GRPOLossOutput:
    """Per-token GRPO loss. logits (N, V) any float dtype; targets (N,) long; advantages, old_logp,
    ref_logp (N,) fp32 (ref_logp None: no KL, beta ignored); mask (N,) bool or None. chunk_size:
    rows per chunk in the reference. The caller aggregates: (out.loss * weights).sum(); the backward
    accepts any per-token gradient."""
    assert logits.dim() == 2, f"logits must be (N, V), got {tuple(logits.shape)}"
    targets, advantages, old_logp, ref_logp, mask = _prepare(logits, targets, advantages, old_logp,
                                                             ref_logp, mask)
    if logits.is_cuda or _forced():
        if _load_extension() is not None:
            if not logits.is_cuda:
                raise RuntimeError("NANOR1_FUSED=1 but logits are on the CPU")
            return GRPOLossOutput(*_FusedGRPOLoss.apply(logits, targets, advantages, old_logp,
                                                        ref_logp, mask,
                                                        eps_low, eps_high, beta, temperature,
                                                        entropy_coef))
    else:
        _load_extension()  # only to log, once, why the reference is used
    chunk_size = chunk_size or _default_chunk(logits.shape[1])
    return _reference_grpo_token_loss(logits, targets, advantages, old_logp, ref_logp, mask,
                                      eps_low, eps_high,
                                      beta, temperature, entropy_coef, chunk_size)


def grpo_loss_and_grad(logits, targets, advantages, old_logp, weights, ref_logp=None, mask=None, *,
                       eps_low=0.2, eps_high=0.2, beta=0.0, temperature=1.0, entropy_coef=0.0):
    """Grad-in-forward design (CUDA only, no autograd): when the per-token weights are known before
    the forward, returns (GRPOLossOutput, d sum(weights * loss) / d logits) from one kernel: ~2
    passes over the logits instead of 3 (kernels/README.md). Used by bench/loss.py to compare the
    two designs."""
    assert _load_extension() is not None and logits.is_cuda, (
        f"fused kernel unavailable ({_ext_reason})")
    targets, advantages, old_logp, ref_logp, mask = _prepare(logits, targets, advantages, old_logp,
                                                             ref_logp, mask)
    weights = weights.to(logits.device, torch.float32).contiguous()
    loss, logp, kl, clipped, entropy, lse, coef, grad = _ext.forward_with_grad(
        logits, targets, advantages, old_logp, ref_logp, mask, weights, eps_low, eps_high, beta,
                                                                               temperature,
        entropy_coef)
    return GRPOLossOutput(loss, logp, kl, clipped, entropy), grad


@torch.no_grad()
def token_logprobs(logits, targets, temperature=1.0, chunk_size=None) -> Tensor:
    """log pi(target) per row, (N,) fp32, no grad; chunked so only one (chunk, V) fp32 block exists
    at a time. Used for old_logp (the sampling policy) and ref_logp (the reference model)."""
    N, V = logits.shape
    chunk_size = chunk_size or _default_chunk(V)
    out = torch.empty(N, dtype=torch.float32, device=logits.device)
    targets = targets.to(logits.device, torch.long)
    for a, b in _chunks(N, chunk_size):
        z = logits[a:b].float() / temperature                                  # (C, V)
        out[a:b] = z.gather(1, targets[a:b, None]).squeeze(1) - torch.logsumexp(z, dim=-1)
    return out
