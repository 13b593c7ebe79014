"""Shared plumbing of the experiments in this folder (one script per claim of the R1 report; see
README.md).

An experiment is a config plus a comparison, not a new trainer: each arm is nanor1's GRPOTrainer (or
baselines' PPOTrainer) driven by nanor1.rl_loop.run_rl, train_zero.py's loop, from the same base
checkpoint, evaluated on the held-out set by nanor1.evaluate. This file holds what every script
needs: the presets, the base model (reused when present, pretrained when not), one RL arm with
periodic evaluation (cached in <out_dir>/<arm>/result.json, so a rerun with the same config is
free), seed spreads, plots and the result JSON.

    python experiments/<claim>.py [--preset=cpu|tiny] [--base=...] [--steps=N] [--seeds=N] \
        [--out_dir=...]
"""
import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass

# run as a script from anywhere
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from nanor1.base import resolve_base  # noqa: E402
from nanor1.checkpoint import load_model  # noqa: E402
from nanor1.config import parse_with_preset  # noqa: E402
from nanor1.evaluate import evaluate  # noqa: E402
from nanor1.grpo import GRPOConfig, GRPOTrainer  # noqa: E402
from nanor1.metrics import save_figure, write_atomic  # noqa: E402
from nanor1.pretrain import ensure_base as pretrain_base  # noqa: E402
from nanor1.rl_loop import log, run_rl  # noqa: E402
from nanor1.tokenizer import get_tokenizer  # noqa: E402


@dataclass
class ExpConfig:
    preset: str = "cpu"            # cpu (the measured default, <= 20 min on 2 cores) | tiny (CI, <
                                   # 60 s)
    base: str = ""                 # base checkpoint | shipped (nanor1/base.pt); "" = the
                                   # experiment's default, else out/base_<preset>/model.pt,
                                   # pretrained there if missing
    out_dir: str = ""              # "" = out/exp_<experiment>
    steps: int = 20                # RL steps per arm
    seeds: int = 3                 # RL seeds per arm
    eval_every: int = 10           # steps between held-out evaluations
    eval_n_per_cell: int = 6       # held-out problems per (family, difficulty)
    eval_k: int = 4                # samples per problem
    fresh: bool = False            # ignore cached arm results


# GRPO settings of the arms: train_zero.py's small-world settings (KL 0.05, lr 2e-4, mask truncated
# completions, RL prompts at difficulty 1-2), at 16 prompts x 8 samples per step, as in
# train_zero.py --preset=cpu.
SMALL_WORLD = dict(beta=0.05, lr=2e-4, max_new_tokens=400, mask_truncated_completions=True,
                   difficulties="1,2", prompts_per_step=16, num_generations=8)
PRESETS = {
    "tiny": dict(pretrain="tiny", steps=2, seeds=1, eval_every=1, eval_n_per_cell=1,
                 grpo=dict(prompts_per_step=2, num_generations=2, max_new_tokens=24,
                           micro_batch_rows=4)),
    "cpu": dict(pretrain="cpu_v1", grpo=SMALL_WORLD),  # ExpConfig's defaults are the cpu preset's
}
# step-0 evaluation per (base, arm, evaluation size): identical for every seed of an arm
_BASE_EVALS = {}
SCALARS = ("pass@1", "cons@k", "format_rate", "mean_len", "aha_rate", "truncation_rate")


def parse(argv, name: str) -> ExpConfig:
    """ExpConfig from the command line; the preset fills the fields the command line did not set."""
    cfg, _ = parse_with_preset(ExpConfig(), argv, PRESETS)
    cfg.out_dir = cfg.out_dir or f"out/exp_{name}"
    os.makedirs(cfg.out_dir, exist_ok=True)
    return cfg


def ensure_base(cfg: ExpConfig) -> str:
    """The base checkpoint: --base (shipped: nanor1/base.pt, checked against the code), else
    out/base_<pretraining preset>/model.pt, shared with train_zero.py and pretrained (or its
    pretraining resumed) there when missing."""
    # nanor1/base.pt (the cpu pretraining preset's), checked against the code first
    if cfg.base == "shipped":
        return resolve_base("shipped", "cpu", "out")
    if cfg.base:
        return cfg.base
    preset = PRESETS[cfg.preset]["pretrain"]
    return pretrain_base(preset,
                         os.path.join(os.path.dirname(cfg.out_dir.rstrip("/")) or ".",
                                      f"base_{preset}"),
                         "cuda" if torch.cuda.is_available() else "cpu")


def grpo_config(cfg: ExpConfig, seed: int, cls=GRPOConfig, **overrides):
    return cls(**{**PRESETS[cfg.preset]["grpo"], "steps": cfg.steps, "seed": seed, **overrides})


def point(res: dict, extra=None) -> dict:
    """The scalar metrics of one evaluate() result, plus an experiment's own (extra(result) ->
    dict)."""
    out = {k: res.get(k) for k in SCALARS}
    if extra is not None:
        out.update(extra(res))
    return out


def run_arm(cfg: ExpConfig, base: str, arm: str, gcfg, trainer_cls=GRPOTrainer, trainer_kw=None,
            eval_kw=None, extra=None, on_step=None, key_extra=None) -> dict:
    """Train one arm from the base for gcfg.steps, evaluating at step 0, every cfg.eval_every steps
    and at the end.

    Returns {"arm", "seed", "config", "curve": [{step, train_seconds, metrics...}], "train":
    [train_step rows]}. train_seconds counts RL steps only (sampling + update), not evaluation.
    on_step(trainer, row) may add to a row. key_extra: what else the cached result depends on (a
    learned reward's checkpoint).
    """
    out_dir = os.path.join(cfg.out_dir, f"{arm}_s{gcfg.seed}")
    cache = os.path.join(out_dir, "result.json")
    key = {"base": base, "grpo": asdict(gcfg),
           "eval": [cfg.eval_every, cfg.eval_n_per_cell, cfg.eval_k],
           "trainer": trainer_cls.__name__, **(key_extra or {})}
    if not cfg.fresh and os.path.exists(cache):
        with open(cache) as f:
            done = json.load(f)
        if done.get("key") == key:
            print(f"{arm} seed {gcfg.seed}: cached {cache}")
            return done
    tok = get_tokenizer()
    torch.manual_seed(gcfg.seed)
    model, _ = load_model(base)
    trainer = trainer_cls(model, gcfg, out_dir, tok=tok, log_name="train", **(trainer_kw or {}))
    # the base's evaluation: one per arm, which its seeds share
    base_key = (base, arm, cfg.eval_n_per_cell, cfg.eval_k, gcfg.max_new_tokens)
    rows = []

    def run_eval(step):
        if step == 0 and base_key in _BASE_EVALS:
            return _BASE_EVALS[base_key]
        res = evaluate(model, tok, n_per_cell=cfg.eval_n_per_cell, k=cfg.eval_k, temperature=0.6,
                       max_new_tokens=gcfg.max_new_tokens, seed=1234, return_samples=2,
                       **(eval_kw or {}))
        seconds = sum(r["seconds"] for r in rows)
        p = {"step": step, "train_seconds": round(seconds, 1), **point(res, extra),
             "samples": res["samples"]}
        log(f"  {arm} s{gcfg.seed} eval @ {step:3d}: " + "  ".join(
            f"{k} {v:.3f}" for k, v in p.items() if isinstance(v, float) and k != "train_seconds"))
        if step == 0:
            _BASE_EVALS[base_key] = p
        return p

    def step_hook(trainer, row):
        if on_step is not None:
            on_step(trainer, row)
        rows.append(row)

    print(f"\n{arm} seed {gcfg.seed}: {gcfg.steps} steps x {gcfg.prompts_per_step} prompts x "
          f"{gcfg.num_generations}")
    # no checkpoints: an arm is short, and its cached result.json is what a rerun reuses
    run = run_rl(trainer, evaluate=run_eval, eval_every=cfg.eval_every, checkpoints=False,
                 on_step=step_hook)
    result = {"arm": arm, "seed": gcfg.seed, "key": key, "curve": run["curve"], "train": rows}
    write_atomic(cache, json.dumps(result))
    return result


def spread(values) -> dict:
    """mean, sample std (0 for one value), min, max, n."""
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values),
            "n": len(values)}


def final_spread(results: list[dict], key: str) -> dict:
    return spread([r["curve"][-1][key] for r in results])


def train_mean(result: dict, key: str, last: int = 0) -> float:
    """Mean of a train_step metric over the run's rows (or the last `last` rows)."""
    rows = [r[key] for r in result["train"][-last:] if key in r]
    return statistics.fmean(rows) if rows else float("nan")


def arm_summary(by_arm: dict, keys) -> dict:
    """{arm: {"base": step-0 value, "final": spread over seeds of the last evaluation}} for each
    key."""
    return {arm: {"base": {k: res[0]["curve"][0][k] for k in keys},
                  "final": {k: final_spread(res, k) for k in keys}}
            for arm, res in by_arm.items()}


def print_arm_table(summary: dict, keys, counts=("mean_len", "steps_per_response")):
    """One line per key: each arm's base -> final mean +- std; keys in `counts` are plain numbers,
    others rates."""
    for k in keys:
        scale, unit = (1, "") if k in counts else (100, "%")
        cells = [f"{arm}: {s['base'][k] * scale:.1f}{unit} -> {mean_pm(s['final'][k], scale, unit)}"
                 for arm, s in summary.items()]
        print(f"  {k:18s} " + "   ".join(cells))


def runs_of(by_arm: dict) -> dict:
    """The per-seed evaluation curves, for the result JSON."""
    return {arm: [{"seed": r["seed"], "curve": r["curve"]} for r in res]
            for arm, res in by_arm.items()}


def plot_arms(by_arm: dict, panels: list, path: str, title: str, x: str = "step"):
    """One panel per (key, label, source) with source "curve" (held-out evaluations) or "train"
    (training batch); one colour per arm, one thin line per seed, the mean over seeds bold."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.2), squeeze=False)
    for ax, (key, label, source) in zip(axes[0], panels):
        for i, (arm, results) in enumerate(by_arm.items()):
            color = f"C{i}"
            series = []
            for res in results:
                pts = [(r[x] if x in r else r["step"], r[key]) for r in res[source]
                       if r.get(key) is not None]
                if pts:
                    series.append(pts)
                    ax.plot(*zip(*pts), color=color, alpha=0.3, lw=0.8)
            if series and all(len(s) == len(series[0]) for s in series):
                xs = [statistics.fmean(p[0] for p in col) for col in zip(*series)]
                ys = [statistics.fmean(p[1] for p in col) for col in zip(*series)]
                ax.plot(xs, ys, color=color, lw=2, label=f"{arm} (n={len(series)})")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("RL training seconds" if x == "train_seconds" else x)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def write_result(cfg: ExpConfig, name: str, result: dict) -> str:
    path = os.path.join(cfg.out_dir, f"{name}.json")
    result = {"experiment": name, "config": asdict(cfg), **result}
    write_atomic(path, json.dumps(result, indent=1))
    return path


def pct(v) -> str:
    return "   -" if v is None else f"{100 * v:5.1f}%"


def mean_pm(s: dict, scale: float = 100.0, unit: str = "%") -> str:
    """'12.3% +- 1.2 (min 11.0, max 13.9, n=3)' from spread()."""
    if s["mean"] is None:
        return "-"
    if s["n"] == 1:
        return f"{scale * s['mean']:.1f}{unit}"
    return (f"{scale * s['mean']:.1f}{unit} +- {scale * s['std']:.1f} (min {scale * s['min']:.1f}, "
            f"max {scale * s['max']:.1f}, n={s['n']})")


def save_step_figure(fig, axes, title: str, out_dir: str, name: str, result: dict) -> None:
    """Finish a figure of panels against RL steps, then write <out_dir>/<name>.png and the result as
    <name>.json."""
    for ax in axes:
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    png = os.path.join(out_dir, f"{name}.png")
    save_figure(fig, png)
    write_atomic(os.path.join(out_dir, f"{name}.json"), json.dumps(result, indent=1))
    print(f"\nwrote {out_dir}/{name}.json, {png}")

