"""The reward lab: R1-Zero's default reward and three reward ideas beside it, one run each.

    python experiments/reward_lab.py                    # cpu preset: 4 arms x 64 steps, ~4 x 9 min
    python experiments/reward_lab.py --preset=tiny --out_dir=/tmp/lab   # the CI size (seconds)
    python experiments/reward_lab.py --rewards=my_rewards.py \
        --reward_weights=accuracy=1,format=0.25,mine=0.5
                                                  # a fifth arm, "yours": your idea beside the three

Four arms with train_zero.py's default run (cpu: the shipped base nanor1/base.pt, the GRPO settings
of nanor1/zero_presets.py's PRESETS["cpu"]["grpo"], a held-out evaluation every 8 steps of 8
problems per cell, k = 4, T = 0.6), seed 0; only the reward differs:
    default          accuracy + 0.25 x format                  (R1-Zero's rule reward)
    self_correction  + 0.5 x self_correction  (experiments/rewards/: "Wait", 等等, ...)
    length_bonus     + 0.5 x length_bonus     (characters of thinking, capped)
    partial_credit   + 0.5 x partial_credit   (countdown: how close the value comes to the target)
The weight 0.5 makes each idea's best score worth half a right answer, twice the format term:
enough to reorder the samples of a group with no right answer (most of the base's countdown
groups), while a right answer still outscores any wrong one (1 + 0.25 > 0.25 + 0.5), so accuracy
stays the main signal.
Every arm loads the three files through GRPOConfig.rewards, as --rewards does, and weighs all three
(0 where the idea is not the arm's: the total is unchanged), so each term is logged in every arm
and the figure shows it in its own arm and in the default run.
Per evaluation: held-out pass@1, the batch mean of the arm's term over the steps since the previous
evaluation, length, aha and truncation rates; the last evaluation's two responses; and per arm a
verdict computed from these numbers: pass@1 against default paired over the same held-out
problems (mean per-problem difference +- 1.96 sd / sqrt(n)).
Writes <out_dir>/result.json, reward_lab.png and responses.md (default out/exp_reward_lab). Each
arm is cached in <out_dir>/<arm>_s<seed>/ (its step log: train.jsonl), so a rerun is free.
--rewards and --reward_weights (train_zero.py's flags) add the arm "yours": your modules loaded
beside the three files, weighted as you say; its term is the first weighted name other than
accuracy and format. The four arms' caches do not depend on it. How to read it: docs/reward_lab.md.
"""
import hashlib
import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ExpConfig, run_arm  # noqa: E402  (common.py also picks matplotlib's Agg backend)

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from nanor1 import cpu_threads  # noqa: E402
from nanor1.base import resolve_base  # noqa: E402
from nanor1.config import parse_with_preset  # noqa: E402
from nanor1.evaluate import by_problem, paired_difference, response_mark  # noqa: E402
from nanor1.grpo import GRPOConfig  # noqa: E402
from nanor1.metrics import save_figure, write_atomic  # noqa: E402
from nanor1.zero_presets import PRESETS, eval_interval  # noqa: E402

IDEAS = ("self_correction", "length_bonus", "partial_credit")
REWARD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rewards")
REWARD_FILES = tuple(os.path.join(REWARD_DIR, f"{idea}.py") for idea in IDEAS)
DEFAULT_WEIGHTS = "accuracy=1,format=0.25"
IDEA_WEIGHT = 0.5
# arm -> its reward weights: every idea weighed in every arm (0 where it is not the arm's)
ARMS = {arm: DEFAULT_WEIGHTS + "".join(f",{idea}={IDEA_WEIGHT if idea == arm else 0}"
                                       for idea in IDEAS)
        for arm in ("default", *IDEAS)}
TERM = {"default": "accuracy", **{idea: idea for idea in IDEAS}}  # the term each arm optimises
HELDOUT = ("pass@1", "mean_len", "aha_rate", "truncation_rate")
BATCH = ("zero_std_frac", "kl", "trunc_rate")  # training-batch signals (docs/reward_lab.md)


@dataclass
class LabConfig(ExpConfig):
    rewards: str = ""         # your reward modules (.py paths or dotted names), as train_zero.py
                              # takes them
    reward_weights: str = ""  # the weights of the arm "yours", e.g. accuracy=1,format=0.25,mine=0.5


def lab_config(cfg: LabConfig, arm: str, seed: int) -> GRPOConfig:
    """train_zero.py's GRPO settings of the preset, with the arm's reward, loaded as --rewards."""
    files = [*REWARD_FILES, *([cfg.rewards] if arm == "yours" else [])]
    return GRPOConfig(**{**PRESETS[cfg.preset]["grpo"], "steps": cfg.steps, "seed": seed,
                         "rewards": ",".join(files), "reward_weights": ARMS[arm]})


def parse(argv) -> LabConfig:
    """LabConfig with train_zero.py's values of the preset (steps, evaluation size and interval)
    and one seed, for every field the command line did not set; with --reward_weights, the arm
    "yours"."""
    lab_presets = {name: dict(steps=PRESETS[name]["grpo"]["steps"], seeds=1,
                              eval_n_per_cell=PRESETS[name]["eval_n"]) for name in ("cpu", "tiny")}
    cfg, explicit = parse_with_preset(LabConfig(), argv, lab_presets)
    if "eval_every" not in explicit:
        cfg.eval_every = eval_interval(cfg.steps)
    cfg.out_dir = cfg.out_dir or "out/exp_reward_lab"
    if cfg.rewards and not cfg.reward_weights:
        raise SystemExit("error: --rewards needs --reward_weights (the weights of your arm)")
    if cfg.reward_weights:
        names = [w.partition("=")[0].strip() for w in cfg.reward_weights.split(",") if w.strip()]
        ARMS["yours"] = cfg.reward_weights
        TERM["yours"] = next((n for n in names if n not in ("accuracy", "format")), "accuracy")
        # a typo or a broken module fails now, not after four arms
        lab_config(cfg, "yours", 0).resolved()
    os.makedirs(cfg.out_dir, exist_ok=True)
    return cfg


def reward_sources() -> dict:
    """sha256 of each reward file: an edited reward makes the cached arms run again."""
    out = {}
    for path in REWARD_FILES:
        with open(path, "rb") as f:
            out[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
    return out


def correct_by_problem(res: dict) -> dict:
    """Per held-out problem, the share of its k responses that are right (the paired comparison)."""
    return {"correct_by_problem": by_problem(res["rows"])}


def mean_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def lab_curve(results: list[dict], term: str) -> list[dict]:
    """Per evaluation, averaged over seeds: the held-out metrics, and the training batches' means
    since the previous evaluation of the arm's term ("term"), of every reward term ("terms") and of
    BATCH (None at step 0)."""
    points, prev = [], 0
    terms = ("accuracy", "format", *IDEAS)
    for i, step in enumerate(c["step"] for c in results[0]["curve"]):
        rows = [row for res in results for row in res["train"] if prev < row["step"] <= step]
        point = {"step": step}
        point.update({k: mean_or_none(r["curve"][i][k] for r in results) for k in HELDOUT})
        point["term"] = mean_or_none(row.get(f"r_{term}") for row in rows)
        point["terms"] = {t: mean_or_none(row.get(f"r_{t}") for row in rows) for t in terms}
        point.update({k: mean_or_none(row.get(k) for row in rows) for k in BATCH})
        points.append(point)
        prev = step
    return points


def paired_vs_default(results: list[dict], default: list[dict]) -> dict:
    """Last evaluation, arm minus default: per problem the share right (mean over seeds), then the
    mean difference over the problems both evaluated, with its 95% interval."""
    def shares(runs):
        per_seed = [r["curve"][-1]["correct_by_problem"] for r in runs]
        return {pid: statistics.fmean(s[pid] for s in per_seed) for pid in per_seed[0]}
    return paired_difference(shares(results), shares(default))


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def num(v, fmt=".3f") -> str:
    return "-" if v is None else format(v, fmt)


def verdict(arm: str, curve: list[dict], default_curve: list[dict], paired: dict | None) -> str:
    """One sentence from the measured numbers: pass@1 against default (paired), the arm's term,
    length, aha and truncation; for the default arm, base -> last evaluation."""
    first, last, d_last = curve[0], curve[-1], default_curve[-1]
    if paired is None:
        return (f"default: pass@1 {pct(first['pass@1'])} -> {pct(last['pass@1'])}, length "
                f"{num(first['mean_len'], '.0f')} -> {num(last['mean_len'], '.0f')} tokens, aha "
                f"{pct(first['aha_rate'])} -> {pct(last['aha_rate'])}, truncation "
                f"{pct(first['truncation_rate'])} -> {pct(last['truncation_rate'])}.")
    lo, hi = paired["lo"], paired["hi"]
    reading = ("too few problems for an interval" if lo is None else "above default" if lo > 0
               else "below default" if hi < 0 else "no difference from default at this size")
    ci = "-" if paired["ci95"] is None else f"{100 * paired['ci95']:.1f}"
    window = min(1, len(curve) - 1)  # the first evaluation after step 0: the term's first batches
    term = TERM[arm]
    return (f"{arm}: pass@1 {pct(last['pass@1'])} vs default {pct(d_last['pass@1'])} (paired over "
            f"the same {paired['n_problems']} problems: {100 * paired['diff']:+.1f} +- {ci} "
            f"points, {reading}); its term {num(curve[window]['term'])} -> {num(last['term'])} in "
            f"the training batches (default run: {num(default_curve[window]['terms'].get(term))}"
            f" -> {num(d_last['terms'].get(term))}); length {num(last['mean_len'], '.0f')} vs "
            f"{num(d_last['mean_len'], '.0f')} tokens, aha {pct(last['aha_rate'])} vs "
            f"{pct(d_last['aha_rate'])}, truncation {pct(last['truncation_rate'])} vs "
            f"{pct(d_last['truncation_rate'])}.")


def plot(arms: dict, path: str, title: str) -> None:
    """One panel per metric, one line per arm against RL step; the term panel adds, dashed, each
    idea's term in the default run (what the default reward alone does to it)."""
    panels = [("pass@1", "held-out pass@1"),
              ("term", "the arm's term, training batch mean\n(dashed: the same term, default run)"),
              ("mean_len", "held-out length (tokens)"), ("aha_rate", 'held-out "aha" rate'),
              ("truncation_rate", "held-out truncation rate")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.4))
    for ax, (key, label) in zip(axes, panels):
        for i, (arm, a) in enumerate(arms.items()):
            if key == "term" and arm == "default":
                continue  # its term is accuracy, a reward on another scale than the ideas' terms
            pts = [(c["step"], c[key]) for c in a["curve"] if c[key] is not None]
            if pts:
                ax.plot(*zip(*pts), marker=".", color=f"C{i}", label=f"{arm} ({a['label']})")
            if key == "term":
                pts = [(c["step"], c["terms"].get(a["term"])) for c in arms["default"]["curve"]
                       if c["terms"].get(a["term"]) is not None]
                if pts:
                    ax.plot(*zip(*pts), ls="--", marker="x", color=f"C{i}", alpha=0.7)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def responses_md(arms: dict, steps: int) -> str:
    lines = [f"# Reward lab: two held-out responses per arm at the last evaluation (step {steps}, "
             "seed 0)", "",
             "The same two questions for every arm (the first of the held-out set), T = 0.6.", ""]
    for arm, a in arms.items():
        lines += [f"## {arm} ({a['weights']})", ""]
        for s in a["samples_final"]:
            mark = response_mark(s["correct"], s["format"])
            lines += [f"**[{mark}]** {s['question']} ({s['len']} tokens)", "",
                      "```text", s["response"].strip(), "```", ""]
    return "\n".join(lines)


def main(argv):
    cfg = parse(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cpu_threads.configure("auto", device)  # as train_zero.py: fewer threads on a busy machine
    p = PRESETS[cfg.preset]
    root = os.path.dirname(cfg.out_dir.rstrip("/")) or "."  # where a scratch base is shared
    base = resolve_base(cfg.base or p["base"], p["pretrain"], root, device)
    print(f"reward lab: {len(ARMS)} arms x {cfg.seeds} seed(s) x {cfg.steps} steps from {base}; "
          f"held-out eval every {cfg.eval_every} steps, {cfg.eval_n_per_cell} problems per cell, "
          f"k={cfg.eval_k}")
    key_extra = {"reward_sources": reward_sources()}
    runs = {(arm, seed): run_arm(cfg, base, arm, lab_config(cfg, arm, seed),
                                 eval_kw=dict(return_rows=True), extra=correct_by_problem,
                                 key_extra=key_extra)
            for seed in range(cfg.seeds) for arm in ARMS}  # seed-major: every arm has seed 0 first
    by_arm = {arm: [runs[arm, seed] for seed in range(cfg.seeds)] for arm in ARMS}
    arms = {arm: {"weights": ARMS[arm], "term": TERM[arm],
                  "label": (DEFAULT_WEIGHTS if arm == "default" else ARMS[arm] if arm == "yours"
                            else f"+{IDEA_WEIGHT} x {arm}"),
                  "curve": lab_curve(results, TERM[arm])} for arm, results in by_arm.items()}
    for arm, a in arms.items():
        a["paired_vs_default"] = (None if arm == "default" else
                                  paired_vs_default(by_arm[arm], by_arm["default"]))
        a["verdict"] = verdict(arm, a["curve"], arms["default"]["curve"], a["paired_vs_default"])
        a["samples_final"] = by_arm[arm][0]["curve"][-1]["samples"]

    print(f"\nheld-out after {cfg.steps} steps (the base: pass@1 "
          f"{pct(arms['default']['curve'][0]['pass@1'])}); term: its last training batches")
    print(f"  {'arm':16s} {'pass@1':>7s} {'term':>6s} {'len':>5s} {'aha':>6s} {'trunc':>6s}")
    for arm, a in arms.items():
        c = a["curve"][-1]
        print(f"  {arm:16s} {pct(c['pass@1']):>7s} {num(c['term']):>6s} "
              f"{num(c['mean_len'], '.0f'):>5s} {pct(c['aha_rate']):>6s} "
              f"{pct(c['truncation_rate']):>6s}")
    print("\nverdicts (computed from the numbers):")
    for a in arms.values():
        print("  " + a["verdict"])

    png = os.path.join(cfg.out_dir, "reward_lab.png")
    plot(arms, png, f"Reward lab: the default reward and three ideas, same base and GRPO settings "
                    f"({cfg.seeds} seed{'s' if cfg.seeds > 1 else ''})")
    md = os.path.join(cfg.out_dir, "responses.md")
    write_atomic(md, responses_md(arms, cfg.steps))
    path = os.path.join(cfg.out_dir, "result.json")
    write_atomic(path, json.dumps({"experiment": "reward_lab", "config": asdict(cfg), "base": base,
                                   "reward_files": list(REWARD_FILES), "arms": arms}, indent=1))
    print(f"\nwrote {path}, {png}, {md}")


if __name__ == "__main__":
    main(sys.argv[1:])
