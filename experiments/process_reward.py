"""Claim: outcome rewards beat process rewards (R1 report §4.2 "unsuccessful attempts": PRM; recipe §3, §7).

    python experiments/process_reward.py                 # cpu preset: 2 arms x 3 seeds x 20 RL steps from out/base_cpu_v1
    python experiments/process_reward.py --preset=tiny   # the CI size (< 60 s)

Two arms from the same base, same GRPO settings, same sample budget; only the reward differs:
    outcome   accuracy (the final answer verifies) + 0.25 x format           (R1-Zero's rule reward)
    process   process (fraction of correct "a op b = c" steps in <think>, baselines/process_reward.py) + 0.25 x format
Both arms log both rewards (the unused one with weight 0), so the training batches show what each arm optimises
and what it neglects. Held-out evaluation adds the step statistics per response: steps, step accuracy, distinct
steps, and the process score, beside pass@1.
What counts as reward hacking here: the process score rises while pass@1 does not, with responses that pad easy
correct steps (more steps, more repeats) or drop the hard ones.
Writes <out_dir>/process_reward.json and process_reward.png.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (arm_summary, ensure_base, grpo_config, parse, plot_arms, print_arm_table, run_arm,  # noqa: E402
                    runs_of, write_result)

from baselines.process_reward import step_stats  # noqa: E402  (also registers the reward "process")
from nanor1.evaluate import judge  # noqa: E402

ARMS = {"outcome": "accuracy=1,format=0.25,process=0", "process": "accuracy=0,format=0.25,process=1"}


def judge_steps(text, problem, n_tokens, truncated):
    return {**judge(text, problem, n_tokens, truncated), **step_stats(text)}


def step_metrics(res: dict) -> dict:
    rows = res["rows"]
    steps = sum(r["n_steps"] for r in rows)
    return {"steps_per_response": steps / max(1, len(rows)),
            "step_accuracy": sum(r["n_steps_ok"] for r in rows) / max(1, steps),
            "distinct_step_frac": sum(r["n_steps_distinct"] for r in rows) / max(1, steps),
            "process_score": sum(r["n_steps_ok"] / r["n_steps"] for r in rows if r["n_steps"]) / max(1, len(rows))}


def main(argv):
    cfg = parse(argv, "process_reward")
    base = ensure_base(cfg)
    by_arm = {arm: [run_arm(cfg, base, arm, grpo_config(cfg, seed, reward_weights=w),
                            eval_kw=dict(judge_fn=judge_steps, return_rows=True), extra=step_metrics)
                    for seed in range(cfg.seeds)] for arm, w in ARMS.items()}
    keys = ("pass@1", "process_score", "step_accuracy", "steps_per_response", "distinct_step_frac", "mean_len",
            "format_rate")
    summary = arm_summary(by_arm, keys)
    print(f"\nheld-out, base (step 0) -> after {cfg.steps} RL steps, mean +- std over {cfg.seeds} seeds:")
    print_arm_table(summary, keys)
    plot_arms(by_arm, [("pass@1", "held-out pass@1", "curve"), ("process_score", "held-out process score", "curve"),
                       ("steps_per_response", "steps per response", "curve"),
                       ("step_accuracy", "step accuracy", "curve"), ("r_accuracy", "train batch accuracy", "train"),
                       ("r_process", "train batch process score", "train")],
              os.path.join(cfg.out_dir, "process_reward.png"), "Outcome vs process reward (same base, same budget)")
    samples = {arm: res[0]["curve"][-1]["samples"] for arm, res in by_arm.items()}
    print("wrote " + write_result(cfg, "process_reward", {"base": base, "arms": ARMS, "summary": summary,
                                                        "samples_final": samples, "runs": runs_of(by_arm)}))


if __name__ == "__main__":
    main(sys.argv[1:])
