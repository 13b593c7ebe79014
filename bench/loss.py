"""Benchmark: eager PyTorch GRPO loss vs the fused CUDA kernel (kernels/grpo_loss.cu), fwd + bwd, bf16 logits.

    python bench/loss.py                     # N in {4096, 16384, 65536} x V in {32768, 151936}
    python bench/loss.py --quick             # N in {1024, 4096}, V = 32768 (a smoke run)
    python bench/loss.py --sizes=65536x32768 # only these N x V (comma-separated)
    python bench/loss.py --peak_gbps=3350    # device memory bandwidth, if the name is not in PEAK_GBPS

Before any timing, the fused kernel is checked against the PyTorch reference on the first 1024 rows of the summary
case (llm.c style: validate, then time): max |loss difference| and max |gradient difference| / max |gradient|.
Prints one fixed-width line per (method, N, V), then, as the LAST stdout line, JSON for N=65536, V=32768 (with
--quick or --sizes: the last case run): times, extra peak memory (GB beyond the inputs) of each method,
speedup_vs_eager, mem_ratio_vs_eager (fused / eager extra memory), achieved GB/s, floor_ms (3 passes at the
peak bandwidth), bw_fraction (achieved / peak), the validation errors. Without CUDA: {"skipped": "no CUDA"}.

Bandwidth floors (recipe §8; bf16 logits, B = N * V * 2 bytes):
- fused, separate backward: forward reads the logits (1 pass), backward reads them again and writes the
  gradient (2 passes) = 3 passes = 3 B bytes.
- fused, grad-in-forward (nanor1.loss.grpo_loss_and_grad; the per-token weights must be known in advance):
  read + write = 2 passes (the second read of each row is served from L2: the block just read it).
achieved GB/s = passes * B / time. Eager is shown for time and memory only (it makes many more passes).
liger-kernel's Triton GRPO loss is timed too if it is importable (optional, never a dependency).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from anywhere
import nanor1.loss as L  # noqa: E402

PEAK_GBPS = {"H200": 4800.0, "H100 PCIe": 2000.0, "H100": 3350.0, "A100-SXM4-80GB": 2039.0, "A100": 1555.0,
             "L40S": 864.0, "RTX 4090": 1008.0}  # first match on the device name wins (order matters)
KW = dict(eps_low=0.2, eps_high=0.28, beta=0.04, temperature=1.0, entropy_coef=0.0)
TARGET = (65536, 32768)


def parse_sizes(text):
    try:
        return [tuple(int(x) for x in size.split("x")) for size in text.split(",")]
    except ValueError:
        raise SystemExit(f"error: --sizes={text!r}: expected NxV[,NxV...], e.g. 65536x32768") from None


def parse_args(argv):
    args = {"quick": False, "peak_gbps": None, "iters": 5, "sizes": None}
    parse = {"quick": lambda v: True, "peak_gbps": float, "iters": int, "sizes": parse_sizes}
    for a in argv:
        key, _, val = a.removeprefix("--").partition("=")
        if key not in args:
            raise SystemExit(f"error: unknown flag {a}; flags: --quick --sizes=NxV,... --peak_gbps=GBPS --iters=N")
        args[key] = parse[key](val)
    return args


def peak_gbps(name, flag):
    if flag:
        return float(flag)
    for key, gbps in PEAK_GBPS.items():
        if key in name:
            return gbps
    return None


def make_inputs(N, V):
    g = torch.Generator(device="cuda").manual_seed(0)
    logits = torch.randn(N, V, device="cuda", generator=g).to(torch.bfloat16)
    targets = torch.randint(0, V, (N,), device="cuda", generator=g)
    logp = L.token_logprobs(logits, targets)
    old = logp + 0.1 * torch.randn(N, device="cuda", generator=g)
    ref = logp + 0.1 * torch.randn(N, device="cuda", generator=g)
    adv = torch.randn(N, device="cuda", generator=g)
    weights = torch.rand(N, device="cuda", generator=g) / N  # the trainer's aggregation weights
    return logits, targets, adv, old, ref, weights


def method_fns(logits, targets, adv, old, ref, weights):
    """name -> a function running fwd + bwd once (the gradient lands in x.grad or is returned)."""
    x = logits.requires_grad_(True)

    def autograd_step(fn):
        def step():
            out = fn(x, targets, adv, old, ref, None, **KW)
            (out.loss * weights).sum().backward()
            x.grad = None  # freed here, after the peak-memory counter has seen it
        return step

    fns = {"eager": autograd_step(L.eager_grpo_token_loss), "fused": autograd_step(L.grpo_token_loss),
           "fused_grad_in_fwd": lambda: L.grpo_loss_and_grad(x.detach(), targets, adv, old, weights, ref, **KW)}
    try:
        from liger_kernel.transformers.grpo_loss import triton_grpo_loss  # optional comparison

        def liger_step():  # liger wants (B, L+1, V) logits and (B, L) ids: one sequence of N-1 tokens
            out = triton_grpo_loss(x[None], old[None, :-1], ref[None, :-1], targets[None, :-1], adv[:1],
                                   temperature=1.0, beta=KW["beta"], eps_low=KW["eps_low"], eps_high=KW["eps_high"],
                                   inplace=False)
            (out[0] if isinstance(out, (tuple, list)) else out).sum().backward()
            x.grad = None
        fns["liger"] = liger_step
    except Exception as e:  # not installed, or a different API version
        print(f"liger-kernel GRPO loss not compared ({type(e).__name__}: {e})"[:120])
    return fns


def validate(logits, targets, adv, old, ref, weights, rows=1024) -> dict:
    """The fused kernel against the chunked PyTorch reference on the first `rows` rows, before anything is timed."""
    x, t, a, o, r, w = (v[:rows] for v in (logits, targets, adv, old, ref, weights))
    reference = lambda leaf, *args, **kw: L._reference_grpo_token_loss(  # noqa: E731
        leaf, *L._prepare(leaf, *args), **kw, chunk_size=L._default_chunk(leaf.shape[1]))
    losses, grads = [], []
    for fn in (L.grpo_token_loss, reference):
        leaf = x.detach().clone().requires_grad_(True)
        out = fn(leaf, t, a, o, r, None, **KW)
        (out.loss * w).sum().backward()
        losses.append(out.loss.detach())
        grads.append(leaf.grad.float())
    return {"max_abs_loss_diff": (losses[0] - losses[1]).abs().max().item(),
            "max_grad_diff_rel": (grads[0] - grads[1]).abs().max().item() / max(grads[1].abs().max().item(), 1e-30)}


def measure(step, iters):
    """(ms per fwd+bwd, peak extra memory in GB beyond what existed before the call) or (None, None) on OOM."""
    try:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()  # warm-up (and the JIT build / autotune on first use), also the memory measurement
        torch.cuda.synchronize()
        extra_gb = (torch.cuda.max_memory_allocated() - base) / 1e9
        step()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            step()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / iters, extra_gb
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return None, None


def main():
    args = parse_args(sys.argv[1:])
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to benchmark (the CPU path is the PyTorch reference)")
        print(json.dumps({"skipped": "no CUDA"}))
        return
    if not L.fused_available():
        print(json.dumps({"skipped": f"fused kernel unavailable: {L.fused_status()}"}))
        return
    name = torch.cuda.get_device_name()
    peak = peak_gbps(name, args["peak_gbps"])
    print(f"device {name}, peak {peak or '?'} GB/s (set --peak_gbps= to override); bf16 logits, fwd+bwd")
    sizes = [(n, v) for v in (32768, 151936) for n in (4096, 16384, 65536)]
    if args["quick"]:
        sizes = [(1024, 32768), (4096, 32768)]
    sizes = args["sizes"] or sizes
    N, V = sizes[-1] if args["quick"] or args["sizes"] else TARGET
    check = validate(*make_inputs(N, V))
    print(f"fused vs reference (first 1024 rows of N={N}, V={V}): max |loss diff| {check['max_abs_loss_diff']:.2e}, "
          f"max |grad diff| / max |grad| {check['max_grad_diff_rel']:.2e}")
    passes = {"fused": 3, "fused_grad_in_fwd": 2}
    results = {}
    print(f"{'method':>18} {'N':>6} {'V':>7} {'ms':>9} {'extra GB':>9} {'GB/s':>8} {'of peak':>8}")
    for N, V in sizes:
        inputs = make_inputs(N, V)
        for method, step in method_fns(*inputs).items():
            try:
                ms, gb = measure(step, args["iters"])
            except Exception as e:  # only the optional liger comparison may fail without stopping the bench
                if method != "liger":
                    raise
                print(f"liger-kernel GRPO loss failed ({type(e).__name__}: {e})"[:120])
                continue
            results[(method, N, V)] = (ms, gb)
            if ms is None:
                print(f"{method:>18} {N:>6} {V:>7} {'OOM':>9}")
                continue
            gbps = passes[method] * N * V * 2 / (ms * 1e-3) / 1e9 if method in passes else None
            frac = f"{gbps / peak:8.0%}" if gbps and peak else f"{'-':>8}"
            print(f"{method:>18} {N:>6} {V:>7} {ms:9.3f} {gb:9.2f} {gbps or 0:8.0f} {frac}")
        del inputs
        torch.cuda.empty_cache()

    get = lambda m: results.get((m, N, V), (None, None))  # noqa: E731
    (eager_ms, eager_gb), (fused_ms, fused_gb), (gif_ms, gif_gb) = get("eager"), get("fused"), get("fused_grad_in_fwd")
    bytes_1pass = N * V * 2
    gbps = lambda passes, ms: passes * bytes_1pass / (ms * 1e-3) / 1e9 if ms else None  # noqa: E731
    summary = {
        "N": N, "V": V, "device": name, "peak_gbps": peak, "passes_fused": 3, "passes_grad_in_fwd": 2,
        "eager_ms": eager_ms, "fused_ms": fused_ms, "fused_grad_in_fwd_ms": gif_ms, "liger_ms": get("liger")[0],
        "eager_extra_gb": eager_gb, "fused_extra_gb": fused_gb, "fused_grad_in_fwd_extra_gb": gif_gb,
        "liger_extra_gb": get("liger")[1],
        "speedup_vs_eager": eager_ms / fused_ms if eager_ms and fused_ms else None,
        "mem_ratio_vs_eager": fused_gb / eager_gb if eager_gb and fused_gb is not None else None,
        "fused_gbps": gbps(3, fused_ms), "fused_grad_in_fwd_gbps": gbps(2, gif_ms),
        "floor_ms": 3 * bytes_1pass / (peak * 1e9) * 1e3 if peak else None,
        "bw_fraction": gbps(3, fused_ms) / peak if peak and fused_ms else None,
        "bw_fraction_grad_in_fwd": gbps(2, gif_ms) / peak if peak and gif_ms else None,
        **check,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
