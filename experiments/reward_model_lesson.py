"""Why stage 4 scores translations by their checker and not by a learned reward model: the same RL
on translation prompts, paid once by the exact checker and once by a Bradley-Terry reward model
(recipe §5).

    python experiments/reward_model_lesson.py  # from out/r1's stage 3 (python train_r1.py first)
    python experiments/reward_model_lesson.py --steps=24 --r1_dir=out/r1_seed1
    python experiments/reward_model_lesson.py --preset=tiny --r1_dir=/tmp/r1 --out_dir=/tmp/rm
                                               # CI size

Both arms start from the stage-3 model of --r1_dir and run train_r1.py's stage 4 with every step on
translation prompts (--general_frac=1): arm "verifier" is paid by the checker (accuracy + format +
language, the default recipe), arm "reward_model" by the reward model's preference + 0.25 x format.
The reward model is trained once, on the stage-3 model (synthetic pairs + the model's own right and
wrong answers), and in both arms scores every sampled translation, paid or not (--rm_watch), while
the checker's verdict is logged in both. What to look for: in the reward-model arm the reward
model's score rises while the checker's accuracy falls (reward hacking); the held-out translation
score of both arms says the same on problems neither trained on.
Writes <out_dir>/reward_model_lesson.png and .json, and each arm's train_r1 output under
<out_dir>/<arm>/.
"""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nanor1.config import parse_overrides  # noqa: E402
# plt: file-only backend
from nanor1.metrics import plt, read_jsonl, save_figure, write_atomic  # noqa: E402

ARMS = ("verifier", "reward_model")
STAGE3, STAGE4 = "stage3_rejection_sft", "stage4_all_rl"


@dataclass
class LessonConfig:
    r1_dir: str = "out/r1"          # a train_r1.py out_dir whose stage 3 is done
    out_dir: str = "out/rm_lesson"
    preset: str = "cpu"             # train_r1.py preset (tiny for tests)
    steps: int = 16                 # stage-4 GRPO steps per arm, all on translation prompts
    seed: int = 0
    threads: str = "auto"


def run_arm(cfg: LessonConfig, arm: str) -> dict:
    """train_r1.py --stages=4 in <out_dir>/<arm>, its stage 3 linked from r1_dir; the reward model
    trained by the first arm is reused by the second (--resume finds it)."""
    out = os.path.join(cfg.out_dir, arm)
    os.makedirs(out, exist_ok=True)
    link = os.path.join(out, STAGE3)
    if not os.path.exists(link):
        os.symlink(os.path.abspath(os.path.join(cfg.r1_dir, STAGE3)), link)
    rm_path = os.path.join(out, STAGE4, "reward_model.pt")
    first = os.path.join(cfg.out_dir, ARMS[0], STAGE4, "reward_model.pt")
    if arm != ARMS[0] and os.path.exists(first) and not os.path.exists(rm_path):
        os.makedirs(os.path.dirname(rm_path), exist_ok=True)
        shutil.copy(first, rm_path)
    # the r1 run's bases (its report's first rows), so that no arm pretrains or looks elsewhere
    bases = []
    if os.path.exists(os.path.join(cfg.r1_dir, "summary.json")):
        with open(os.path.join(cfg.r1_dir, "summary.json")) as f:
            made = json.load(f)
        bases = [f"--base={made['base_checkpoint']}",
                 f"--student_base={made['student_base_checkpoint']}"]
    args = [sys.executable, os.path.join(ROOT, "train_r1.py"), "--stages=4", f"--out_dir={out}",
            *bases, f"--preset={cfg.preset}", f"--translation_reward={arm}", "--rm_watch",
            "--general_frac=1.0", f"--all_rl_steps={cfg.steps}", f"--seed={cfg.seed}",
            f"--threads={cfg.threads}", *(["--resume"] if os.path.exists(rm_path) else [])]
    print(f"\n=== arm {arm}: {' '.join(args[1:])}", flush=True)
    subprocess.run(args, check=True)
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    rows = read_jsonl(os.path.join(out, STAGE4, "train.jsonl"))
    return {"steps": [r["step"] for r in rows],
            # the reward model's mean score of the batch
            "rm_score": [r.get("r_preference") for r in rows],
            # the exact checker's share right
            "checker_accuracy": [r.get("r_accuracy") for r in rows],
            "heldout_translation": summary["models"]["stage 4 all-scenario RL"]["general_pass@1"],
            "stage3_translation": summary["models"]["stage 3 rejection SFT"]["general_pass@1"],
            "rm_heldout_pair_accuracy": (summary["stages"]["4"].get("reward_model") or {}).get(
                "heldout_pair_accuracy")}


def plot(results: dict, path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm, color in zip(ARMS, ("tab:green", "tab:red")):
        r = results[arm]
        label = (f"paid by the {'checker' if arm == 'verifier' else 'reward model'} "
                 "(held-out translation "
                 f"{100 * r['stage3_translation']:.1f}% -> {100 * r['heldout_translation']:.1f}%)")
        axes[0].plot(r["steps"], r["rm_score"], color=color, label=label)
        axes[1].plot(r["steps"], r["checker_accuracy"], color=color, label=label)
    axes[0].set_title("the reward model's score of the sampled translations", fontsize=10)
    axes[1].set_title("the checker's accuracy of the same translations", fontsize=10)
    for ax in axes:
        ax.set_xlabel("stage-4 RL step (every step on translation prompts)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv):
    cfg = parse_overrides(LessonConfig(), argv)
    if not os.path.exists(os.path.join(cfg.r1_dir, STAGE3, "model.pt")):
        raise SystemExit(f"error: {cfg.r1_dir}/{STAGE3}/model.pt not found: run "
                         f"`python train_r1.py --out_dir={cfg.r1_dir} --stages=zero,1,2,3` "
                         "(or the whole recipe) first")
    results = {arm: run_arm(cfg, arm) for arm in ARMS}
    plot(results, os.path.join(cfg.out_dir, "reward_model_lesson.png"))
    write_atomic(os.path.join(cfg.out_dir, "reward_model_lesson.json"),
                 json.dumps({"config": asdict(cfg), "arms": results}, indent=1))
    print("\narm           rm score first -> last   checker accuracy first -> last"
          "   held-out translation")
    for arm, r in results.items():
        print(f"{arm:<13} {r['rm_score'][0]:.3f} -> {r['rm_score'][-1]:.3f}            "
              f"{r['checker_accuracy'][0]:.3f} -> {r['checker_accuracy'][-1]:.3f}                  "
              f"  {100 * r['stage3_translation']:.1f}% -> {100 * r['heldout_translation']:.1f}%")
    acc = results[ARMS[1]]["rm_heldout_pair_accuracy"]
    if acc:
        print(f"reward model held-out pair accuracy {100 * acc['accuracy']:.1f}%: "
              + ", ".join(f"{k} {100 * v:.0f}%" for k, v in acc.items() if k != "accuracy"))
    print(f"wrote {cfg.out_dir}/reward_model_lesson.png, reward_model_lesson.json")


if __name__ == "__main__":
    main(sys.argv[1:])
