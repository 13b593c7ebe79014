"""One command for the day a GPU is lent: every measurement the project needs from a GPU, in order of value, in about
8 minutes on one H100/H200, into one directory to copy back whole.

    python bench/gpu_check.py                     # -> out/gpu_check/: results.json, logs/<stage>.log, junit.xml, runs/
    python bench/gpu_check.py --dry_run           # the stages, their commands and time limits; runs nothing
    python bench/gpu_check.py --only=loss,sample_kv --out=/tmp/gc --budget_s=300

Stages, in order of value. Each runs in a subprocess of its own with its own time limit (its process group is
killed when it runs over), so a hang in one still leaves the others' results; results.json is rewritten after every
stage, and a stage that would start with less than MIN_STAGE_S of the whole budget left is skipped.
  env           the device, driver, torch and CUDA versions; which attention kernels (flash, efficient, cudnn, math)
                accept the model's two attention calls: causal (pretraining) and masked (sampling, GRPO), with GQA
  cuda_tests    the GPU-only tests: tests/test_kernel_cuda.py (kernel vs reference in fp32/bf16/fp16; builds the
                kernel, ~70 s the first time) and the CUDA cases of tests/test_presets.py (-rA log, junit XML)
  liger         pip install --no-deps liger-kernel: the loss bench's peer, optional (skipped if it cannot install)
  loss          bench/loss.py at N=65536, V=32768: validation, ms, extra memory, GB/s vs the 3-pass floor, the
                grad-in-forward variant, liger's Triton GRPO loss if it imports
  sample_kv     bench/sample.py on the preset's model: KV cache vs full recompute, 128 rows x 256 new tokens
  sample_grpo   bench/sample.py at the shape of one GRPO step (P x G rows x max_new_tokens), KV cache only
  zero_default  the default `python train_zero.py`, into runs/zero_default
  gpu_pretrain  the preset's pretraining for 40 steps: seconds per step
  gpu_eval      one held-out evaluation of that base as train_zero runs it (the preset's sizes, k=4)
  gpu_grpo      train_zero.py --preset=<preset> on that base: 3 GRPO steps, every row trained on (an upper bound)
The runs (zero_default, gpu_*) go through a worker (--worker=peak -- <script or module> <flags>) that runs the
script in-process and then prints its peak GPU memory. The preset's full run (pretraining + GRPO + its
evaluations) is extrapolated from the last three stages: printed, and under "extrapolation" in results.json.
Without CUDA every stage but env is recorded as skipped; the exit status is 0.
"""
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from anywhere
from nanor1.config import parse_overrides  # noqa: E402

PY = sys.executable
MIN_STAGE_S = 20


@dataclass
class CheckConfig:
    out: str = "out/gpu_check"
    budget_s: int = 480             # all stages together; each stage also has its own limit
    only: str = ""                  # comma-separated stage names ("": all)
    dry_run: bool = False
    preset: str = "gpu"             # the train_zero.py preset to measure and extrapolate
    pretrain_steps: int = 40        # gpu_pretrain's steps
    grpo_steps: int = 3             # gpu_grpo's steps
    worker: str = ""                # internal, what a stage's subprocess runs: env | eval | peak
    ckpt: str = ""                  # worker eval: the checkpoint to evaluate


@dataclass
class Stage:
    name: str
    limit_s: int
    command: list
    needs_cuda: bool = True
    parse: object = None            # callable(log_text) -> dict of results, or None
    requires: str = ""              # a file that must exist before the stage can start
    optional: bool = False          # a failure is recorded as "skipped" (e.g. a package that cannot install)


def last_json(text: str) -> dict:
    """The last line of a log that is a JSON object (bench/*.py print their results that way)."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                pass
    return {}


def read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def junit_counts(path: str) -> dict:
    import xml.etree.ElementTree as ET
    if not os.path.exists(path):
        return {}
    suite = ET.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    out = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    out["failed"] = [f"{c.get('classname')}::{c.get('name')}" for c in suite.iter("testcase")
                     if c.find("failure") is not None or c.find("error") is not None]
    return out


def seconds_per_step(rows: list[dict], key: str = "seconds") -> float | None:
    """Pretraining logs cumulative seconds: the rate between the first and the last logged step (no warm-up)."""
    if len(rows) < 2:
        return None
    return (rows[-1][key] - rows[0][key]) / (rows[-1]["step"] - rows[0]["step"])


def grpo_times(rows: list[dict]) -> dict:
    """GRPO logs each step's seconds: the median of the steps after the first (which pays the warm-up)."""
    rows = rows[1:] or rows
    if not rows:
        return {}
    med = lambda k: statistics.median(r.get(k, 0.0) for r in rows)  # noqa: E731
    return {k: med(k) for k in ("seconds", "seconds_gen", "seconds_update", "seconds_ref", "len_mean", "tokens_per_s")}


# -----------------------------------------------------------------------------
# the stages

def stages(cfg: CheckConfig) -> list[Stage]:
    from nanor1.pretrain import PRESETS as PRETRAIN
    from nanor1.zero_presets import PRESETS as ZERO
    out, p = os.path.abspath(cfg.out), ZERO[cfg.preset]
    g, model = p["grpo"], PRETRAIN[p["pretrain"]]["model"]
    runs, peak = os.path.join(out, "runs"), [PY, __file__, "--worker=peak", "--"]
    base = os.path.join(runs, cfg.preset, "base")
    zero = os.path.join(runs, cfg.preset, "zero")
    return [
        Stage("env", 30, [PY, __file__, "--worker=env"], needs_cuda=False, parse=last_json),
        Stage("cuda_tests", 240, [PY, "-m", "pytest", "tests/test_kernel_cuda.py", "tests/test_presets.py", "-k",
                                  "cuda", "-rA", "-p", "no:cacheprovider", f"--junitxml={out}/junit.xml"],
              parse=lambda log: junit_counts(f"{out}/junit.xml")),
        Stage("liger", 60, [PY, "-m", "pip", "install", "--no-deps", "--retries", "0", "--timeout", "10",
                            "liger-kernel"], optional=True),
        Stage("loss", 120, [PY, "bench/loss.py", "--sizes=65536x32768"], parse=last_json),
        Stage("sample_kv", 120, [PY, "bench/sample.py", f"--preset={model}", "--rows=128",
                                 "--samples_per_prompt=16", "--new_tokens=256"], parse=last_json),
        Stage("sample_grpo", 90, [PY, "bench/sample.py", f"--preset={model}",
                                  f"--rows={g['prompts_per_step'] * g['num_generations']}",
                                  f"--samples_per_prompt={g['num_generations']}",
                                  f"--new_tokens={g['max_new_tokens']}", "--naive=false"], parse=last_json),
        Stage("zero_default", 150, [*peak, "train_zero.py", f"--out_dir={runs}/zero_default/zero"],
              parse=lambda log: {**last_json(log), **summary_of(f"{runs}/zero_default/zero/summary.json")}),
        Stage("gpu_pretrain", 90, [*peak, "nanor1.pretrain", f"--preset={p['pretrain']}",
                                   f"--steps={cfg.pretrain_steps}", "--log_every=5", "--ckpt_every=100000",
                                   f"--out_dir={base}"],
              parse=lambda log: {**last_json(log),
                                 "seconds_per_step": seconds_per_step(read_rows(f"{base}/pretrain.jsonl"))}),
        Stage("gpu_eval", 120, [PY, __file__, "--worker=eval", f"--preset={cfg.preset}", f"--ckpt={base}/model.pt"],
              parse=last_json, requires=f"{base}/model.pt"),
        Stage("gpu_grpo", 180, [*peak, "train_zero.py", f"--preset={cfg.preset}", f"--base={base}/model.pt",
                                f"--out_dir={zero}", f"--steps={cfg.grpo_steps}", f"--eval_every={cfg.grpo_steps}",
                                "--eval_n_per_cell=1", "--eval_k=1", "--mask_truncated_completions=false"],
              parse=lambda log: {**last_json(log), **grpo_times(read_rows(f"{zero}/train.jsonl"))},
              requires=f"{base}/model.pt"),
    ]


def summary_of(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        s = json.load(f)
    return {"preset": s["preset"], "seconds": s["seconds"], "seconds_pretrain": s["seconds_pretrain"],
            "grpo_steps": s["grpo_config"]["steps"], "pass@1_base": s["base"]["pass@1"],
            "pass@1_final": s["final"]["pass@1"]}


def run_stage(stage: Stage, out: str, seconds_left: float, cuda: bool) -> dict:
    """Run one stage under its limit; its output goes to logs/<name>.log. Returns its entry of results.json."""
    entry = {"command": shlex.join(stage.command), "limit_s": stage.limit_s}
    if stage.needs_cuda and not cuda:
        return {**entry, "status": "skipped", "why": "no CUDA device"}
    if stage.requires and not os.path.exists(stage.requires):
        return {**entry, "status": "skipped", "why": f"{stage.requires} missing (an earlier stage failed)"}
    if seconds_left < MIN_STAGE_S:
        return {**entry, "status": "skipped", "why": "out of time (--budget_s)"}
    limit = min(stage.limit_s, seconds_left)
    log_path = os.path.join(out, "logs", f"{stage.name}.log")
    t0 = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(stage.command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: a timeout kills its children too
        try:
            rc = proc.wait(timeout=limit)
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc, status = proc.wait(), "timeout"
    entry.update(status=status, rc=rc, seconds=round(time.time() - t0, 1), log=os.path.relpath(log_path, out))
    if stage.optional and status != "ok":
        entry.update(status="skipped", why=f"optional stage {status}; see {entry['log']}")
    if stage.parse is not None:
        with open(log_path, errors="replace") as f:
            try:
                entry["result"] = stage.parse(f.read())
            except Exception as e:  # a partial output must not lose the other stages' results
                entry["result"] = {"parse_error": f"{type(e).__name__}: {e}"}
    return entry


# -----------------------------------------------------------------------------
# the extrapolation of the preset's full run

def extrapolate(preset_name: str, results: dict) -> dict | None:
    from nanor1.pretrain import PRESETS as PRETRAIN
    from nanor1.zero_presets import PRESETS as ZERO, eval_interval
    get = lambda stage, key: results.get(stage, {}).get("result", {}).get(key)  # noqa: E731
    pre_s, eval_s, grpo_s = (get("gpu_pretrain", "seconds_per_step"), get("gpu_eval", "seconds"),
                             get("gpu_grpo", "seconds"))
    if not (pre_s and eval_s and grpo_s):
        return None
    p = ZERO[preset_name]
    pre_steps = 0 if p.get("base") == "shipped" else PRETRAIN[p["pretrain"]]["steps"]  # a shipped base: none
    grpo_steps = p["grpo"]["steps"]
    every = eval_interval(grpo_steps)  # train_zero's default --eval_every
    n_evals = 1 + sum(1 for s in range(1, grpo_steps + 1) if s % every == 0 or s == grpo_steps)  # + the base's
    parts = {"pretraining": (pre_steps, pre_s), "grpo": (grpo_steps, grpo_s), "evaluation": (n_evals, eval_s)}
    out = {name: {"count": n, "seconds_each": round(s, 3), "minutes": round(n * s / 60, 1)}
           for name, (n, s) in parts.items()}
    out["total_minutes"] = round(sum(v["minutes"] for v in out.values()), 1)
    out["note"] = ("GRPO steps measured with every row running to max_new_tokens (a 40-step base rarely stops) and "
                   "trained on (--mask_truncated_completions=false): an upper bound")
    return out


def format_extrapolation(preset: str, x: dict, device: str) -> str:
    lines = [f"{preset} preset on {device}, extrapolated from gpu_pretrain, gpu_eval and gpu_grpo:"]
    for name in ("pretraining", "grpo", "evaluation"):
        v = x[name]
        lines.append(f"  {name:12s} {v['count']:5d} x {v['seconds_each']:8.3f} s = {v['minutes']:6.1f} min")
    lines.append(f"  {'total':12s} {'':19s} = {x['total_minutes']:6.1f} min  ({x['note']})")
    return "\n".join(lines)


# -----------------------------------------------------------------------------
# the workers: what the env and gpu_eval stages run in their own process

def worker_env() -> None:
    import platform

    import torch
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(device=props.name, capability=f"{props.major}.{props.minor}", memory_gb=round(props.total_memory
                    / 2**30, 1), sm_count=props.multi_processor_count, device_count=torch.cuda.device_count(),
                    attention_kernels=attention_kernels())
    for cmd in (["nvidia-smi", "--query-gpu=driver_version,clocks.max.sm,power.limit", "--format=csv,noheader"],
                ["nvcc", "--version"]):
        try:
            info[cmd[0]] = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()[-300:]
        except (OSError, subprocess.TimeoutExpired) as e:
            info[cmd[0]] = f"unavailable ({type(e).__name__})"
    print(json.dumps(info))


def attention_kernels() -> dict:
    """Which SDPA kernels accept the model's calls (nanor1/model.py: 12 query heads on 4 K/V heads, bf16), forward
    and backward: causal without a mask (pretraining) and with a boolean mask (left padding: sampling, GRPO). A
    masked call that only the math kernel takes materialises (B, H, T, T) attention weights."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    q = torch.randn(2, 12, 64, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k, v = (torch.randn(2, 4, 64, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(2))
    mask = torch.ones(64, 64, dtype=torch.bool, device="cuda").tril()[None, None].expand(2, 1, 64, 64)
    out = {}
    for call, kw in (("causal", dict(is_causal=True)), ("masked", dict(attn_mask=mask))):
        out[call] = []
        for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION,
                        SDPBackend.MATH):
            try:
                with sdpa_kernel(backend):
                    F.scaled_dot_product_attention(q, k, v, enable_gqa=True, **kw).sum().backward()
                out[call].append(backend.name)
            except RuntimeError:
                pass
    return out


def worker_eval(cfg: CheckConfig) -> None:
    """One held-out evaluation as train_zero.py runs it for the preset (its eval_n, k=4, max_new_tokens), timed
    without the process start and the checkpoint load."""
    import torch

    from nanor1.checkpoint import load_model
    from nanor1.evaluate import evaluate
    from nanor1.tokenizer import get_tokenizer
    from nanor1.zero_presets import PRESETS
    p = PRESETS[cfg.preset]
    model, _ = load_model(cfg.ckpt, "cuda")
    torch.cuda.synchronize()
    t0 = time.time()
    r = evaluate(model, get_tokenizer(), n_per_cell=p["eval_n"], k=4, temperature=0.6,  # train_zero.py's
                 max_new_tokens=p["grpo"]["max_new_tokens"], seed=1234)
    torch.cuda.synchronize()
    print(json.dumps({"seconds": time.time() - t0, "n_problems": r["n_problems"], "n_responses": r["n_responses"],
                      "mean_len": r["mean_len"], "truncation_rate": r["truncation_rate"],
                      "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30}))


def worker_peak(command: list) -> None:
    """Run a script (path.py) or module (a.b) with its flags in this process, then print its peak GPU memory."""
    import runpy

    import torch
    sys.argv = list(command)
    try:
        if command[0].endswith(".py"):
            runpy.run_path(os.path.join(REPO, command[0]), run_name="__main__")
        else:
            runpy.run_module(command[0], run_name="__main__", alter_sys=True)
    finally:
        if torch.cuda.is_available():
            print(json.dumps({"peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30}), flush=True)


# -----------------------------------------------------------------------------

def main(argv) -> dict:
    argv, command = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    cfg = parse_overrides(CheckConfig(), argv)
    if cfg.worker:
        workers = {"env": worker_env, "eval": lambda: worker_eval(cfg), "peak": lambda: worker_peak(command)}
        return workers[cfg.worker]()
    plan = stages(cfg)
    wanted = [s.strip() for s in cfg.only.split(",") if s.strip()]
    unknown = sorted(set(wanted) - {s.name for s in plan})
    if unknown:
        raise SystemExit(f"error: --only: unknown stage(s) {unknown}; stages: {', '.join(s.name for s in plan)}")
    plan = [s for s in plan if not wanted or s.name in wanted]
    if cfg.dry_run:
        for s in plan:
            print(f"{s.name:13s} limit {s.limit_s:4d} s{'  (CUDA)' if s.needs_cuda else '         '}  "
                  f"{shlex.join(s.command)}")
        print(f"budget {cfg.budget_s} s in all; results would go to {cfg.out}/results.json")
        return {}

    import torch
    cuda = torch.cuda.is_available()
    os.makedirs(os.path.join(cfg.out, "logs"), exist_ok=True)
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "cuda": cuda, "budget_s": cfg.budget_s,
               "preset": cfg.preset, "stages": {}}
    deadline = time.time() + cfg.budget_s
    for stage in plan:
        entry = run_stage(stage, cfg.out, deadline - time.time(), cuda)
        results["stages"][stage.name] = entry
        print(f"{stage.name:13s} {entry['status']:8s} {entry.get('seconds', 0):6.1f} s  "
              f"{json.dumps(entry.get('result', entry.get('why', '')))[:150]}", flush=True)
        write_results(cfg.out, results)
    results["extrapolation"] = extrapolate(cfg.preset, results["stages"])
    write_results(cfg.out, results)
    if results["extrapolation"]:
        device = results["stages"].get("env", {}).get("result", {}).get("device", "this device")
        print(format_extrapolation(cfg.preset, results["extrapolation"], device))
    print(f"wrote {cfg.out}/results.json")
    return results


def write_results(out: str, results: dict) -> None:
    tmp = os.path.join(out, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, os.path.join(out, "results.json"))


if __name__ == "__main__":
    main(sys.argv[1:])
