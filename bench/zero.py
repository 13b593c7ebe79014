"""Benchmark: the default R1-Zero run against its earlier settings, back to back, with where the time goes.

    python bench/zero.py                  # `train_zero.py` (preset cpu) and preset cpu_long, each in full
    python bench/zero.py --scale=0.25     # a quarter of each run's steps and evaluations: the split, quickly
    python bench/zero.py --busy           # a short run quiet, then beside a busy-loop process on one core
    python bench/zero.py --baseline_commit=bd96e17   # against that commit's own `python train_zero.py`

Each run is `python train_zero.py --preset=P --out_dir=<temp>` in a subprocess (a fresh process, as a user runs
it). From its train.jsonl and summary.json the time is split into sampling (the RL steps' generation), reference
log-probs, update (forward, backward, AdamW), held-out evaluation, and the rest (start, checkpoints, plots).
`cpu_long` is the default run as it was before it was made faster (120 steps, held-out evaluation every 15 steps,
micro-batches of 32 rows), run by today's code, whose training forward is faster for both: the ratio cpu /
cpu_long is a lower bound of the speed-up. --baseline_commit=REV measures against the code itself: that commit is
checked out in a temporary git worktree and its default `python train_zero.py` runs instead of cpu_long (an old
run records no evaluation time: its evaluations are in "other"; with --scale it runs cpu_long's steps scaled, under
its own evaluation schedule: a check that the path works, not a ratio). The held-out result of each run is printed
beside its time, so a faster run that learns less shows it.

--busy: the run of --busy_steps steps with the default thread choice (auto) alone, then with a busy-loop process
pinned to one core (what a laptop with a browser open does), then the same busy run with the thread count fixed to
all cores (--threads=N, how runs behaved before the thread count adapted). Printed: each run's seconds and the
slow-down busy / quiet.
Timings on a shared machine are noisy: run it with nothing else running. The last line is a JSON object.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nanor1.config import parse_overrides  # noqa: E402
from nanor1.metrics import read_jsonl  # noqa: E402
from nanor1.zero_presets import PRESETS  # noqa: E402


@dataclass
class BenchConfig:
    scale: float = 1.0         # fraction of each preset's steps (and of its evaluation interval) to run
    presets: str = "cpu,cpu_long"  # the run to measure, then its baseline
    busy: bool = False         # measure a short run quiet and beside a busy core instead
    busy_steps: int = 5
    keep: str = ""             # keep each run's out_dir under this folder (default: a temporary one)
    baseline_commit: str = ""  # a git revision whose default run is the baseline (instead of the 2nd preset)


def cpu_flags() -> str:
    """The CPU's name and its bf16 / AVX512 flags: a time means little without them."""
    try:
        info = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name} ({os.cpu_count()} cores; {' '.join(wanted) or 'no avx2'})"


def run(preset: str, out_dir: str, extra: list[str], root: str = ROOT) -> dict:
    """One train_zero.py run (of the checkout at root); returns its time split and result."""
    cmd = [sys.executable, os.path.join(root, "train_zero.py"), f"--preset={preset}", f"--out_dir={out_dir}", *extra]
    print("$ " + " ".join(cmd[1:]), flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"error: {preset} run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    steps = read_jsonl(os.path.join(out_dir, "train.jsonl"))
    summary = json.load(open(os.path.join(out_dir, "summary.json")))
    gen = sum(r["seconds_gen"] for r in steps)
    ref = sum(r.get("seconds_ref", 0.0) for r in steps)
    update = sum(r.get("seconds_update", 0.0) for r in steps)
    evaluation = summary.get("seconds_eval", 0.0)
    final, base = summary["final"], summary["base"]
    return {"preset": preset, "wall_s": round(wall, 1), "steps": len(steps), "sampling_s": round(gen, 1),
            "ref_s": round(ref, 1), "update_s": round(update, 1), "eval_s": round(evaluation, 1),
            "evals": len(summary["curve"]), "other_s": round(wall - gen - ref - update - evaluation, 1),
            "pass@1": final["pass@1"], "base_pass@1": base["pass@1"], "best_pass@1": (summary["best"] or {}).get(
                "pass@1"), "aha_rate": final["aha_rate"], "mean_len": final["mean_len"],
            "threads": sorted({r.get("threads") for r in steps})}


def run_commit(rev: str, keep: str, extra: list[str]) -> dict:
    """The default run of git revision rev, checked out in a temporary worktree (removed afterwards)."""
    tree = os.path.join(keep, f"tree_{rev}")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, rev], check=True, capture_output=True)
    try:
        result = run("cpu", os.path.join(keep, f"commit_{rev}"), extra, root=tree)
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], capture_output=True)
    result["preset"] = rev[:9]
    return result


def split_line(r: dict) -> str:
    per = lambda k: r[k] / max(1, r["steps"])  # noqa: E731
    return (f"{r['preset']:>9s} {r['wall_s']:7.0f} s | {r['steps']:3d} steps: sampling {r['sampling_s']:6.0f} s "
            f"({per('sampling_s'):.2f}/step)  ref {r['ref_s']:5.0f} s ({per('ref_s'):.2f})  update "
            f"{r['update_s']:5.0f} s ({per('update_s'):.2f}) | {r['evals']} evaluations {r['eval_s']:5.0f} s | "
            f"other {r['other_s']:4.0f} s | pass@1 {100 * r['base_pass@1']:.1f} -> {100 * r['pass@1']:.1f}%, "
            f"aha {100 * r['aha_rate']:.1f}%, len {r['mean_len']:.0f}")


def scaled_args(preset: str, scale: float) -> list[str]:
    """--steps for `scale` of the preset's run (its evaluation interval follows: zero_presets.eval_interval)."""
    if scale >= 1.0:
        return []
    steps = max(1, round(PRESETS[preset]["grpo"]["steps"] * scale))
    return [f"--steps={steps}"]


def busy_core(cpu: int) -> subprocess.Popen:
    """A process that keeps one core busy (pinned to it where the OS allows)."""
    code = f"import os\ntry: os.sched_setaffinity(0, {{{cpu}}})\nexcept Exception: pass\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def main(argv):
    cfg = parse_overrides(BenchConfig(), argv)
    print(f"bench/zero: {cpu_flags()}; nothing else should be running")
    keep = cfg.keep or tempfile.mkdtemp(prefix="nanor1_bench_")
    if cfg.busy:
        short = [f"--steps={cfg.busy_steps}", f"--eval_every={cfg.busy_steps}", "--eval_n_per_cell=1"]
        n = os.cpu_count() or 1
        quiet = run("cpu", os.path.join(keep, "quiet"), short)
        hog = busy_core(n - 1)
        try:
            busy = run("cpu", os.path.join(keep, "busy"), short)
            fixed = run("cpu", os.path.join(keep, "busy_fixed"), short + [f"--threads={n}"])
        finally:
            hog.kill()
        for name, r in (("quiet", quiet), ("busy", busy), (f"busy, {n} thr", fixed)):
            print(f"{name:>14s}: {r['wall_s']:6.1f} s  (threads used: {r['threads']})")
        print(f"slow-down with one core busy: auto threads {busy['wall_s'] / quiet['wall_s']:.2f}x, "
              f"fixed {n} threads {fixed['wall_s'] / quiet['wall_s']:.2f}x")
        print(json.dumps({"cpu": cpu_flags(), "quiet": quiet, "busy": busy, "busy_fixed_threads": fixed,
                          "busy_over_quiet": round(busy["wall_s"] / quiet["wall_s"], 2),
                          "fixed_busy_over_quiet": round(fixed["wall_s"] / quiet["wall_s"], 2)}))
        return
    results = []
    presets = cfg.presets.split(",")
    for preset in presets[:1] if cfg.baseline_commit else presets:
        results.append(run(preset, os.path.join(keep, preset), scaled_args(preset, cfg.scale)))
        print(split_line(results[-1]), flush=True)
    if cfg.baseline_commit:  # with --scale, the old default's steps are taken to be cpu_long's
        results.append(run_commit(cfg.baseline_commit, keep, scaled_args("cpu_long", cfg.scale)))
        print(split_line(results[-1]), flush=True)
    new, old = results[0], results[-1]
    ratio = new["wall_s"] / old["wall_s"]
    print(f"\n{new['preset']} / {old['preset']} wall time: {ratio:.2f}x  (outputs in {keep})")
    print(json.dumps({"cpu": cpu_flags(), "scale": cfg.scale, "runs": results, "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main(sys.argv[1:])
