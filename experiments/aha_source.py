"""Control: does the aha moment come from RL amplifying a habit of the base? The same base recipe without retries.

    python experiments/aha_source.py                 # ~7 min pretraining of the control + 2 R1-Zero runs (~8 min each)
    python experiments/aha_source.py --preset=tiny --out_dir=/tmp/aha   # the CI size (< 60 s)

Two R1-Zero runs with train_zero.py's settings of the preset, nothing changed but the base:
  retry     the base the preset starts from (cpu: the shipped nanor1/base.pt), pretrained on a corpus in which a
            quarter of the countdown traces that miss go on with "Wait, numbers ..., target ...: try ..."
  no_retry  the same pretraining recipe (same preset, seed, steps, model, corpus otherwise) with
            retry_after_miss=0: no trace in the corpus ever retries, so the base has no "Wait" to amplify
If RL amplifies a rare behaviour of the base (recipe §10) rather than inventing one, the control's aha rate stays
near zero however long RL runs, and whatever RL finds instead shows in its length, accuracy and responses.
No peer can run this control: it needs the pretraining corpus in hand.
Writes <out_dir>/aha_source.json and aha_source.png (the two runs' held-out curves on one plot).
"""
import json
import os
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
from nanor1.pretrain import PretrainConfig, pretrain, pretrain_finished  # noqa: E402
from nanor1.zero_presets import PRESETS as ZERO_PRESETS  # noqa: E402

KEYS = ("pass@1", "aha_rate", "mean_len", "format_rate", "truncation_rate", "acc_retry_after_miss",
        "acc_stop_after_miss")


@dataclass
class SourceConfig:
    preset: str = "cpu"          # train_zero.py preset: cpu | tiny
    out_dir: str = "out/exp_aha_source"
    retry_run: str = ""          # a finished train_zero.py run of the preset's default base to reuse (e.g. out/zero)


def control_base(cfg: SourceConfig) -> str:
    """The preset's base recipe with retry_after_miss=0, pretrained once into <out_dir>/base_no_retry."""
    out = os.path.join(cfg.out_dir, "base_no_retry")
    path = os.path.join(out, "model.pt")
    if os.path.exists(path) and pretrain_finished(path):
        print(f"reusing the control base {path}")
        return path
    recipe = ZERO_PRESETS[cfg.preset]["pretrain"]
    return pretrain(PretrainConfig(preset=recipe, out_dir=out, retry_after_miss=0.0, resume=os.path.exists(path)))


def r1_zero(cfg: SourceConfig, arm: str, base: str) -> dict:
    """train_zero.py's default RL from `base` (reused when the run finished before)."""
    run_dir = cfg.retry_run if arm == "retry" and cfg.retry_run else os.path.join(cfg.out_dir, arm)
    summary = os.path.join(run_dir, "summary.json")
    if not os.path.exists(summary):
        subprocess.run([sys.executable, os.path.join(ROOT, "train_zero.py"), f"--preset={cfg.preset}",
                        f"--out_dir={run_dir}", *([f"--base={base}"] if base else [])], check=True)
    else:
        print(f"reusing the finished run {run_dir}")
    with open(summary) as f:
        return json.load(f)


def main(argv):
    cfg = parse_overrides(SourceConfig(), argv)
    if cfg.preset not in ("cpu", "tiny"):
        raise SystemExit(f"error: --preset={cfg.preset!r}: choose cpu or tiny")
    os.makedirs(cfg.out_dir, exist_ok=True)
    # the retry arm's base: the preset's own (shipped, or pretrained beside out_dir like train_zero.py does)
    runs = {"retry": r1_zero(cfg, "retry", ""), "no_retry": r1_zero(cfg, "no_retry", control_base(cfg))}
    result = {"preset": cfg.preset, "arms": {}}
    for arm, s in runs.items():
        curve = s["curve"]
        result["arms"][arm] = {
            "base_checkpoint": s["base_checkpoint"], "seconds": s["seconds"],
            "base": {k: s["base"].get(k) for k in KEYS}, "final": {k: s["final"].get(k) for k in KEYS},
            "max_aha_rate": max(c["aha_rate"] for c in curve),
            "countdown": {w: s[w]["by_family"].get("countdown", {}).get("pass@1") for w in ("base", "final")},
            "curve": [{k: c.get(k) for k in ("step", *KEYS)} for c in curve],
            "samples_final": s.get("samples_final", [])[:3]}
    for arm, a in result["arms"].items():
        b, f = a["base"], a["final"]
        print(f"{arm:9s} pass@1 {100 * b['pass@1']:5.1f}% -> {100 * f['pass@1']:5.1f}%   aha {100 * b['aha_rate']:5.1f}% "
              f"-> {100 * f['aha_rate']:5.1f}% (max {100 * a['max_aha_rate']:.1f}%)   length {b['mean_len']:4.0f} -> "
              f"{f['mean_len']:4.0f}   format {100 * f['format_rate']:5.1f}%")

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for i, (arm, a) in enumerate(result["arms"].items()):
        steps = [c["step"] for c in a["curve"]]
        for ax, key in zip(axes, ("pass@1", "aha_rate", "mean_len", "format_rate")):
            ax.plot(steps, [c[key] for c in a["curve"]], marker=".", color=f"C{i}",
                    label="base with retries" if arm == "retry" else "control: no retries in the corpus")
    for ax, title in zip(axes, ("held-out pass@1", '"aha" rate', "mean response length (tokens)", "format rate")):
        ax.set_title(title, fontsize=10)
    axes[1].legend(fontsize=8)
    save_step_figure(fig, axes, "R1-Zero from two bases that differ only in retry_after_miss (0.25 vs 0); same RL",
                     cfg.out_dir, "aha_source", result)

if __name__ == "__main__":
    main(sys.argv[1:])
