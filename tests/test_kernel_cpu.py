"""The CUDA kernel source, checked without a GPU.

    python -m pytest tests/test_kernel_cpu.py -q

1. nvcc compiles kernels/grpo_loss.cu (no torch headers) for sm_80 and sm_90; ptxas reports no register spills.
2. kernels/cpu_harness.cpp, built with g++, runs the kernel's per-row math (grpo_loss_math.h) in the kernel's
   order (256 threads, online softmax, shuffle-tree merge) and must match the PyTorch reference in nanor1/loss.py.
Skipped only if nvcc / g++ is absent.
"""
import math
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from nanor1.loss import grpo_token_loss, token_logprobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = os.path.join(ROOT, "kernels")
pytestmark = pytest.mark.slow  # every test compiles or runs a program in a subprocess


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
def test_nvcc_compiles_sm80_sm90_without_spills(tmp_path):
    cmd = ["nvcc", "-c", "-Xptxas", "-v", "-gencode", "arch=compute_80,code=sm_80",
           "-gencode", "arch=compute_90,code=sm_90", os.path.join(KERNELS, "grpo_loss.cu"),
           "-o", str(tmp_path / "grpo_loss.o")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = res.stdout + res.stderr
    for arch in ("sm_80", "sm_90"):  # forward + backward for fp32, bf16, fp16
        entries = re.findall(rf"Compiling entry function '(\w+)' for '{arch}'", report)
        assert len(entries) == 6, (arch, entries)
    spills = re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report)
    assert len(spills) == 12 and all(s == ("0", "0") for s in spills), report
    assert "warning" not in report.lower(), report


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("g++ not found")
    exe = str(tmp_path_factory.mktemp("harness") / "grpo_harness")
    subprocess.run(["g++", "-O2", "-std=c++17", "-Wall", "-Werror", "-I", KERNELS, "-o", exe,
                    os.path.join(KERNELS, "cpu_harness.cpp")], check=True, timeout=120)
    return exe


def run_harness(exe, rows, params, pack):
    """rows: list of dicts (x, target, adv, old, ref, has_ref, mask, g). Returns (scalars (R, 6), grads list)."""
    f = lambda v: "%.9g" % np.float32(v)  # noqa: E731  exact float32 round trip; prints inf / -inf / nan
    lines = [" ".join(f(params[k]) for k in ("eps_low", "eps_high", "beta", "temperature", "entropy_coef"))
             + f" {pack}"]
    for r in rows:
        head = [str(len(r["x"])), str(r["target"]), f(r["adv"]), f(r["old"]), f(r["ref"]), str(int(r["has_ref"])),
                str(int(r["mask"])), f(r["g"])]
        lines.append(" ".join(head + [f(v) for v in r["x"]]))
    res = subprocess.run([exe], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60, check=True)
    out = res.stdout.strip().split("\n")
    assert len(out) == 2 * len(rows)
    scalars = np.array([[float(v) for v in out[2 * i].split()] for i in range(len(rows))])
    grads = [np.array([float(v) for v in out[2 * i + 1].split()]) for i in range(len(rows))]
    return scalars, grads


def make_rows(seed, temperature):
    """Rows the kernel must get right: any V (not a multiple of 256 or of the pack), -inf entries, +-1e4,
    masked rows full of garbage, both clip branches, rows with and without a reference model."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i, V in enumerate([1, 7, 256, 300, 1000, 2053, 2053, 777, 4099, 64]):
        x = torch.randn(V, generator=g) * 3
        target = int(torch.randint(0, V, (1,), generator=g))
        if i == 3:
            x[::5] = -math.inf
            target = 1
        if i in (5, 7):
            x[0], x[-1], x[V // 2] = 1e4, -1e4, 1e4 - 2.0
            target = V // 2 if i == 5 else 3
        logp = float(token_logprobs(x[None], torch.tensor([target]), temperature))
        rows.append(dict(x=x, target=target, adv=float(torch.randn(1, generator=g)),
                         old=logp + 0.6 * float(torch.randn(1, generator=g)),
                         ref=logp + 0.6 * float(torch.randn(1, generator=g)),
                         has_ref=True, mask=True, g=float(torch.randn(1, generator=g))))
    rows[2]["has_ref"] = False
    rows[8]["mask"], rows[8]["old"], rows[8]["x"][:] = False, math.nan, math.nan  # masked garbage
    rows[9]["mask"], rows[9]["x"][:] = False, -math.inf
    return rows


def reference(rows, params):
    """Reference outputs and per-row gradients of g * loss, one row at a time (rows have different V)."""
    out = []
    for r in rows:
        x = r["x"][None].clone().requires_grad_(True)
        ref = torch.tensor([r["ref"]]) if r["has_ref"] else None
        o = grpo_token_loss(x, torch.tensor([r["target"]]), torch.tensor([r["adv"]]), torch.tensor([r["old"]]), ref,
                            torch.tensor([r["mask"]]), **params)
        (o.loss * r["g"]).sum().backward()
        scalars = [o.loss.item(), o.logp.item(), o.kl.item(), float(o.clipped.item()), o.entropy.item()]
        out.append((np.array(scalars), x.grad[0].numpy()))
    return out


PARAMS = [
    dict(eps_low=0.2, eps_high=0.2, beta=0.0, temperature=1.0, entropy_coef=0.0),
    dict(eps_low=0.2, eps_high=0.28, beta=0.04, temperature=0.7, entropy_coef=0.01),
]


@pytest.mark.parametrize("params", PARAMS, ids=["plain", "kl_entropy_temp"])
@pytest.mark.parametrize("pack", [0, 4, 8], ids=["scalar", "vec_fp32", "vec_bf16"])
def test_harness_matches_reference(harness, params, pack):
    rows = make_rows(seed=1, temperature=params["temperature"])
    scalars, grads = run_harness(harness, rows, params, pack)
    assert np.isfinite(scalars).all() and all(np.isfinite(gr).all() for gr in grads)
    n_clipped = 0
    for i, (r, (want, want_grad)) in enumerate(zip(rows, reference(rows, params))):
        # rows with 1e4 logits: lse ~ 1e4 / T carries fp32 rounding of ~1 ulp(1e4) = 1e-3; elsewhere fp32-tight
        extreme = np.abs(r["x"].numpy()[np.isfinite(r["x"].numpy())]).max(initial=0) > 100
        atol = 5e-3 if extreme else 2e-5
        np.testing.assert_allclose(scalars[i, :5], want, rtol=1e-4, atol=atol, err_msg=f"row {i} scalars")
        gtol = atol * abs(r["g"]) * (1 + abs(scalars[i, 5]))
        np.testing.assert_allclose(grads[i], want_grad, rtol=1e-4, atol=gtol, err_msg=f"row {i} grad")
        n_clipped += int(scalars[i, 3])
    assert 0 < n_clipped < len(rows) - 2  # both branches exercised


def test_harness_order_of_merging_does_not_matter(harness):
    # scalar and vectorised loads fold elements into different threads; the result must agree to fp32 rounding
    params = PARAMS[1]
    rows = make_rows(seed=2, temperature=params["temperature"])
    a, ga = run_harness(harness, rows, params, 0)
    b, gb = run_harness(harness, rows, params, 8)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=5e-3)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
