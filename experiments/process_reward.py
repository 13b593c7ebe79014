"""Claim: outcome rewards beat process rewards (R1 report §4.2 "unsuccessful attempts": PRM; recipe §3, §7).

    python experiments/process_reward.py                 # cpu preset: a PRM, then 3 arms x 3 seeds x 20 RL steps
    python experiments/process_reward.py --preset=tiny   # the CI size (< 60 s)

Three arms from the same base (cpu preset: the shipped base nanor1/base.pt), same GRPO settings, same sample budget;
only the reward differs, and none of the process arms has an answer term:
    outcome      accuracy (the final answer verifies) + 0.25 x format                        (R1-Zero's rule reward)
    process      process: fraction of correct "a op b = c" steps, checked exactly (baselines/process_reward.py)
                 + 0.25 x format
    learned_prm  learned_prm: mean step score of a learned process reward model (baselines/learned_prm.py) + 0.25 x
                 format; the PRM is trained first, on the base's own steps and corpus steps with slips, labelled by
                 the rule checker, and its held-out step accuracy is reported
Every arm logs every reward (the unused ones with weight 0), so the training batches show what each arm optimises and
what it neglects. Held-out evaluation adds, per response: steps, the rule checker's step accuracy (the truth), distinct
steps, the rule process score, the learned PRM's score and its agreement with the checker, and the wrong responses
the PRM scores highest.
What counts as reward hacking: the learned score rises while the rule checker's step accuracy and pass@1 do not
(wrong steps the PRM calls right), or a process score rises through padding (more steps, repeated steps).
Writes <out_dir>/process_reward.json and process_reward.png; the PRM is cached in <out_dir>/prm.pt.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (arm_summary, ensure_base, grpo_config, parse, plot_arms, print_arm_table, run_arm,  # noqa: E402
                    runs_of, write_result)

from baselines.learned_prm import (ProcessRewardModel, active_prm, load_prm, prm_examples, save_prm,  # noqa: E402
                                   step_accuracy, step_labels, train_prm)
from baselines.process_reward import step_stats  # noqa: E402  (also registers the reward "process")
from nanor1.checkpoint import CheckpointError, load_model  # noqa: E402
from nanor1.evaluate import judge  # noqa: E402
from nanor1.reward_model import RMConfig  # noqa: E402
from nanor1.tokenizer import get_tokenizer  # noqa: E402

ARMS = {"outcome": "accuracy=1,format=0.25,process=0,learned_prm=0",
        "process": "accuracy=0,format=0.25,process=1,learned_prm=0",
        "learned_prm": "accuracy=0,format=0.25,process=0,learned_prm=1"}
# the PRM's data and training per preset: prompts sampled from the base (2 responses each), corpus traces with slips
PRM_SIZES = {"tiny": dict(prompts=4, slips=16, heldout_prompts=4, heldout_slips=16, max_new_tokens=24,
                          rm=dict(epochs=1, batch_size=8, lr=1e-3)),
             "cpu": dict(prompts=256, slips=600, heldout_prompts=96, heldout_slips=200, max_new_tokens=400,
                         rm=dict(epochs=3, batch_size=32, lr=5e-4))}
DEFAULT_BASE = {"cpu": "shipped"}  # a base that reads its checks (pass@1 ~40%); tiny: the tiny pretrained base
EXAMPLES = 3  # wrong held-out responses with the highest learned score, kept per evaluation


def ensure_prm(cfg, base: str) -> tuple[ProcessRewardModel, dict]:
    """The learned PRM of this base and size: <out_dir>/prm.pt when it was made with them, else trained there."""
    sizes = PRM_SIZES[cfg.preset]
    path, key = os.path.join(cfg.out_dir, "prm.pt"), {"base": base, **sizes}
    if not cfg.fresh and os.path.exists(path):
        try:
            prm, ckpt = load_prm(path)
            if ckpt.get("key") == key:
                print(f"process reward model: cached {path}")
                return prm, ckpt["info"]
        except CheckpointError as e:
            print(f"process reward model: retraining ({e})")
    tok = get_tokenizer()
    model, _ = load_model(base)
    train = prm_examples(model, tok, random.Random(0), sizes["prompts"], sizes["slips"],
                         max_new_tokens=sizes["max_new_tokens"])
    heldout = prm_examples(model, tok, random.Random(1), sizes["heldout_prompts"], sizes["heldout_slips"],
                           split="heldout", max_new_tokens=sizes["max_new_tokens"])
    prm = ProcessRewardModel.from_policy(model)
    print(f"process reward model: {len(train)} responses, {sum(len(e['labels']) for e in train)} steps")
    fit = train_prm(prm, train, RMConfig(**sizes["rm"]))
    info = {"fit": fit, "n_train_responses": len(train), "n_train_steps": sum(len(e["labels"]) for e in train),
            "train": step_accuracy(prm, train, tok), "heldout": step_accuracy(prm, heldout, tok)}
    save_prm(path, prm, {"key": key, "info": info})
    return prm, info


def judge_fn(prm: ProcessRewardModel):
    """judge() plus the rule checker's step counts and the learned PRM's view of the same steps."""
    tok = get_tokenizer()

    def judge_steps(text, problem, n_tokens, truncated):
        probs = prm.step_probs(tok, [problem.question], [text])[0]
        labels = step_labels(text)[:len(probs)]
        return {**judge(text, problem, n_tokens, truncated), **step_stats(text),
                "prm_score": sum(probs) / len(probs) if probs else 0.0, "n_prm_steps": len(probs),
                "n_prm_agree": sum((p > 0.5) == y for p, y in zip(probs, labels)),
                "n_wrong_steps": sum(not y for y in labels),
                "n_wrong_accepted": sum(p > 0.5 and not y for p, y in zip(probs, labels)),
                "question": problem.question, "text": text}
    return judge_steps


def step_metrics(res: dict) -> dict:
    rows = res["rows"]
    n, steps, prm_steps = max(1, len(rows)), sum(r["n_steps"] for r in rows), sum(r["n_prm_steps"] for r in rows)
    wrong = sorted((r for r in rows if not r["correct"]), key=lambda r: -r["prm_score"])[:EXAMPLES]
    return {"steps_per_response": steps / n,
            "step_accuracy": sum(r["n_steps_ok"] for r in rows) / max(1, steps),
            "distinct_step_frac": sum(r["n_steps_distinct"] for r in rows) / max(1, steps),
            "process_score": sum(r["n_steps_ok"] / r["n_steps"] for r in rows if r["n_steps"]) / n,
            "learned_score": sum(r["prm_score"] for r in rows) / n,
            "prm_agreement": sum(r["n_prm_agree"] for r in rows) / max(1, prm_steps),
            "prm_wrong_accepted": (sum(r["n_wrong_accepted"] for r in rows) /
                                   max(1, sum(r["n_wrong_steps"] for r in rows))),
            "high_score_wrong": [{"question": r["question"], "response": r["text"], "learned_score": r["prm_score"],
                                  "step_accuracy": r["n_steps_ok"] / r["n_steps"] if r["n_steps"] else None}
                                 for r in wrong]}


KEYS = ("pass@1", "learned_score", "step_accuracy", "process_score", "prm_agreement", "prm_wrong_accepted",
        "steps_per_response", "distinct_step_frac", "mean_len", "format_rate")


def main(argv):
    cfg = parse(argv, "process_reward")
    cfg.base = cfg.base or DEFAULT_BASE.get(cfg.preset, "")
    base = ensure_base(cfg)
    prm, prm_info = ensure_prm(cfg, base)
    held = prm_info["heldout"]
    print(f"process reward model, held-out step accuracy {100 * held['accuracy']:.1f}% "
          f"(right steps {100 * held['on_right_steps']:.1f}%, wrong steps {100 * held['on_wrong_steps']:.1f}%, "
          f"{held['n_steps']} steps)")
    with active_prm(prm):
        runs = {(arm, seed): run_arm(cfg, base, arm, grpo_config(cfg, seed, reward_weights=w),
                                     eval_kw=dict(judge_fn=judge_fn(prm), return_rows=True), extra=step_metrics,
                                     key_extra={"prm": PRM_SIZES[cfg.preset]})
                for seed in range(cfg.seeds) for arm, w in ARMS.items()}  # seed-major: every arm has seed 0 first
    by_arm = {arm: [runs[arm, seed] for seed in range(cfg.seeds)] for arm in ARMS}
    summary = arm_summary(by_arm, KEYS)
    print(f"\nheld-out, base (step 0) -> after {cfg.steps} RL steps, mean +- std over {cfg.seeds} seeds:")
    print_arm_table(summary, KEYS)
    plot_arms(by_arm, [("pass@1", "held-out pass@1", "curve"), ("learned_score", "held-out learned PRM score", "curve"),
                       ("step_accuracy", "held-out step accuracy (rule checker)", "curve"),
                       ("steps_per_response", "steps per response", "curve"),
                       ("distinct_step_frac", "distinct steps", "curve"),
                       ("r_learned_prm", "train batch learned PRM score", "train")],
              os.path.join(cfg.out_dir, "process_reward.png"),
              "Outcome vs rule process vs learned process reward (same base, same budget)")
    final = {arm: [r["curve"][-1] for r in res] for arm, res in by_arm.items()}
    print("\nwrong held-out responses the learned PRM scores highest, after RL (seed 0):")
    for arm, points in final.items():
        for ex in points[0]["high_score_wrong"][:1]:
            print(f"  {arm:12s} learned {ex['learned_score']:.2f}: {ex['response'][:200]!r}")
    print("wrote " + write_result(cfg, "process_reward", {
        "base": base, "arms": ARMS, "prm": prm_info, "summary": summary,
        "high_score_wrong_final": {arm: [ex for p in points for ex in p["high_score_wrong"]]
                                   for arm, points in final.items()},
        "samples_final": {arm: points[0]["samples"] for arm, points in final.items()}, "runs": runs_of(by_arm)}))


if __name__ == "__main__":
    main(sys.argv[1:])
