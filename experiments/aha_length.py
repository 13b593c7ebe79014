"""Claims: pure RL brings "aha" moments (R1 report Fig. 3 and Table 3) and longer responses without any length
reward (R1 report Fig. 3: average response length of R1-Zero during RL). One R1-Zero run serves both.

    python experiments/aha_length.py                          # reads out/zero, made first if missing:
                                                              #   python train_zero.py --preset=cpu --out_dir=out/zero
    python experiments/aha_length.py --run_dir=out/zero_gpu --preset=gpu          # a run of another preset
    python experiments/aha_length.py --preset=tiny --run_dir=/tmp/zero           # the CI size (< 60 s)

It adds no training of its own: train_zero.py is R1-Zero (GRPO, accuracy + 0.25 x format, nothing for length or
"Wait"), evaluated on held-out problems every few steps. This reads its summary.json and train.jsonl and puts side by
side, against RL steps: held-out pass@1, aha rate (self-correction phrases, nanor1.rewards.has_aha), mean response
length, and the same two behaviours in the training batches (temperature 1.0, every step). It shows two real sampled
held-out responses to the same question, from the first and the last evaluation.
Writes <run_dir>/aha_length.json and aha_length.png.
"""
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nanor1.config import parse_overrides  # noqa: E402
from common import save_step_figure  # noqa: E402
from nanor1.metrics import read_jsonl  # noqa: E402
from nanor1.rewards import has_aha  # noqa: E402


@dataclass
class AhaConfig:
    run_dir: str = "out/zero"   # a train_zero.py output folder; made with --preset if it has no summary.json
    preset: str = "cpu"         # train_zero.py preset for a missing run (tiny | cpu | gpu)


def early_late_samples(curve: list) -> dict:
    """The first and last evaluation's responses to one question: the first question whose late response shows a
    self-correction, else whose late response is right, else the first."""
    early, late = curve[0].get("samples", []), curve[-1].get("samples", [])
    pairs = list(zip(early, late))
    if not pairs:
        return {}
    pick = (next((p for p in pairs if has_aha(p[1]["response"])), None)
            or next((p for p in pairs if p[1]["correct"]), None) or pairs[0])
    return {"question": pick[0]["question"],
            "early": {"step": curve[0]["step"], **{k: pick[0][k] for k in ("response", "correct")}},
            "late": {"step": curve[-1]["step"], **{k: pick[1][k] for k in ("response", "correct")}}}


def window_mean(rows, key, first: bool, n: int = 5) -> float:
    sel = rows[:n] if first else rows[-n:]
    return statistics.fmean(r[key] for r in sel)


def main(argv):
    cfg = parse_overrides(AhaConfig(), argv)
    summary_path = os.path.join(cfg.run_dir, "summary.json")
    if not os.path.exists(summary_path):
        print(f"no {summary_path}: running train_zero.py --preset={cfg.preset} --out_dir={cfg.run_dir}")
        subprocess.run([sys.executable, os.path.join(ROOT, "train_zero.py"), f"--preset={cfg.preset}",
                        f"--out_dir={cfg.run_dir}"], check=True)
    with open(summary_path) as f:
        s = json.load(f)
    curve, train = s["curve"], read_jsonl(os.path.join(cfg.run_dir, "train.jsonl"))
    keys = ("pass@1", "aha_rate", "mean_len", "format_rate", "acc_aha", "acc_no_aha", "acc_retry_after_miss",
            "acc_stop_after_miss")
    result = {
        "run_dir": cfg.run_dir, "base_checkpoint": s["base_checkpoint"], "grpo_config": s["grpo_config"],
        "heldout": {"first": {k: curve[0].get(k) for k in keys}, "last": {k: curve[-1].get(k) for k in keys},
                    "max_aha_rate": max(c["aha_rate"] for c in curve),
                    "max_mean_len": max(c["mean_len"] for c in curve)},
        "train_batch": {"aha_rate_first5": window_mean(train, "aha_rate", True),
                        "aha_rate_last5": window_mean(train, "aha_rate", False),
                        "len_mean_first5": window_mean(train, "len_mean", True),
                        "len_mean_last5": window_mean(train, "len_mean", False)},
        "curve": [{k: c.get(k) for k in ("step", *keys)} for c in curve],
        "samples": early_late_samples(curve)}
    h, t = result["heldout"], result["train_batch"]
    first, last = h["first"], h["last"]
    print(f"held-out (T=0.6), step {curve[0]['step']} -> {curve[-1]['step']}: pass@1 {100 * first['pass@1']:.1f}% -> "
          f"{100 * last['pass@1']:.1f}%, aha {100 * first['aha_rate']:.1f}% -> {100 * last['aha_rate']:.1f}% "
          f"(max {100 * h['max_aha_rate']:.1f}%), length {first['mean_len']:.0f} -> {last['mean_len']:.0f} tokens "
          f"(max {h['max_mean_len']:.0f})")
    print(f"training batches (T=1.0), first 5 -> last 5 steps: aha {100 * t['aha_rate_first5']:.1f}% -> "
          f"{100 * t['aha_rate_last5']:.1f}%, length {t['len_mean_first5']:.0f} -> {t['len_mean_last5']:.0f}")
    for when in ("early", "late"):
        smp = result["samples"].get(when)
        if smp:
            print(f"\n[{when}, step {smp['step']}, {'right' if smp['correct'] else 'wrong'}] "
                  f"{result['samples']['question']}\n  {smp['response'][:600]}")

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    steps = [c["step"] for c in curve]
    axes[0].plot(steps, [c["pass@1"] for c in curve], marker=".")
    axes[0].set_title("held-out pass@1")
    axes[1].plot(steps, [c["aha_rate"] for c in curve], marker=".", label="held-out (T=0.6)")
    axes[1].plot([r["step"] for r in train], [r["aha_rate"] for r in train], alpha=0.5, label="train batch (T=1.0)")
    axes[1].set_title('"aha" rate (wait / recheck ...)')
    axes[1].legend(fontsize=8)
    axes[2].plot(steps, [c["mean_len"] for c in curve], marker=".", label="held-out (T=0.6)")
    axes[2].plot([r["step"] for r in train], [r["len_mean"] for r in train], alpha=0.5, label="train batch (T=1.0)")
    axes[2].set_title("mean response length (tokens)")
    axes[2].legend(fontsize=8)
    axes[3].plot(steps, [c["format_rate"] for c in curve], marker=".")
    axes[3].set_title("held-out format rate")
    save_step_figure(fig, axes, f"R1-Zero: aha and length vs RL steps ({cfg.run_dir}; no reward for either)",
                     cfg.run_dir, "aha_length", result)

if __name__ == "__main__":
    main(sys.argv[1:])
