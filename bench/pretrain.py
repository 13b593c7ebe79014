"""Benchmark: the shipped base's pretraining recipe (preset cpu) against its earlier one (cpu_adamw), in one run.

    python bench/pretrain.py                  # both recipes for 300 steps each (~3 min on 2 cores)
    python bench/pretrain.py --steps=0        # each recipe's full length (~22 min): the two bases themselves
    python bench/pretrain.py --threads=1

`cpu_adamw`: AdamW for every parameter, fp32, eager, 2500 steps. `cpu`: Muon for the blocks' matrices, bf16
autocast where the CPU has bf16 instructions (fp32 elsewhere: each recipe's line says which), torch.compile, 1800
steps; the same model and corpus (PRESETS in nanor1/pretrain.py). Both run through
nanor1.pretrain.pretrain() with the same seed, model and batch shape; with --steps=N both compress their schedules
(warmup + cosine) into N steps.
Printed per recipe: seconds per training step (the probes excluded), and at the end the teacher-forced verdict
accuracy and held-out loss (nanor1/pretrain.py, the verdict probe); then the step-speed ratio, and last a JSON line.
Timings on a shared machine are noisy: the ratio is measured in one run, side by side.
"""
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from nanor1.checkpoint import load_checkpoint  # noqa: E402
from nanor1.config import parse_overrides  # noqa: E402
from nanor1.metrics import read_jsonl  # noqa: E402
from nanor1.pretrain import PRESETS, PretrainConfig, pretrain  # noqa: E402


@dataclass
class BenchConfig:
    steps: int = 300      # per recipe (0: each recipe's full length)
    threads: int = 2


def run(preset: str, steps: int, out_dir: str) -> dict:
    cfg = PretrainConfig(preset=preset, out_dir=os.path.join(out_dir, preset), log_every=50, ckpt_every=10 ** 9)
    if steps:
        full = PRESETS[preset]
        cfg.steps = steps
        cfg.probe_every = steps  # one probe, at the end
        cfg.warmup_steps = max(1, round(full.get("warmup_steps", 30) * steps / full["steps"]))
    t0 = time.time()
    precision = load_checkpoint(pretrain(cfg, quiet=True))["precision"]
    rows = read_jsonl(os.path.join(cfg.out_dir, "pretrain.jsonl"))
    timed = [r for r in rows if "val_loss" not in r]  # from the first row (after compiling) to the last before a probe
    a, b = timed[0], timed[-1]
    result = {"steps": rows[-1]["step"], "s_per_step": (b["seconds"] - a["seconds"]) / (b["step"] - a["step"]),
              "verdict_acc": rows[-1]["verdict_acc"], "val_loss": rows[-1]["val_loss"],
              "train_loss": rows[-1]["loss"], "wall_s": time.time() - t0, "precision": precision}
    print(f"{preset:>9}: {result['steps']} steps in {precision}, {result['s_per_step']:.3f} s/step, verdicts "
          f"{result['verdict_acc']:.1%}, held-out loss {result['val_loss']:.3f}, {result['wall_s']:.0f} s in all",
          flush=True)
    return result


def main(argv):
    opts = parse_overrides(BenchConfig(), argv)
    torch.set_num_threads(opts.threads)
    print(f"bench/pretrain: {opts.steps or 'full'} steps per recipe, {opts.threads} torch threads")
    with tempfile.TemporaryDirectory() as tmp:
        previous = run("cpu_adamw", opts.steps, tmp)
        current = run("cpu", opts.steps, tmp)
    ratio = previous["s_per_step"] / current["s_per_step"]
    time_ratio = previous["s_per_step"] * previous["steps"] / (current["s_per_step"] * current["steps"])
    print(f"cpu vs cpu_adamw: a training step {ratio:.2f}x faster; the whole run (steps x s/step) {time_ratio:.2f}x "
          f"shorter")
    print(json.dumps({"threads": opts.threads, "steps": opts.steps, "step_speedup": round(ratio, 3),
                      "run_speedup": round(time_ratio, 3), "cpu_adamw": previous, "cpu": current}))


if __name__ == "__main__":
    main(sys.argv[1:])
