"""R1-Zero's run settings per preset: where the base comes from, the GRPO knobs, the held-out
evaluation's size.

    from nanor1.zero_presets import PRESETS
    PRESETS["cpu"]["grpo"]   # what `python train_zero.py` runs (train_r1.py's R1-Zero row and RL
                               stages too)

train_zero.py fills every GRPOConfig field the command line did not set from
PRESETS[preset]["grpo"].
"""

# Small-world settings (measured, docs/results.md): KL 0.05 anchors the reasoning (recipe §9:
# without it the arithmetic in <think> decays); RL prompts are difficulty 1-2, where a search of a
# few tries can succeed (the held-out evaluation still covers 1-3). Long retry chains that hit the
# length cap would score 0 and teach RL to stop retrying, so truncated completions are masked from
# the loss (DAPO overlong filtering, recipe §2).
SMALL_WORLD = dict(beta=0.05, lr=2e-4, max_new_tokens=400, mask_truncated_completions=True,
                   difficulties="1,2")

# base: shipped | scratch; pretrain: its pretraining preset (for --base=scratch); eval_n: held-out
PRESETS = {
    # problems per (family, difficulty) cell
    "tiny": dict(base="scratch", pretrain="tiny", eval_n=1,
                 grpo=dict(steps=2, prompts_per_step=2, num_generations=2, max_new_tokens=24,
                           micro_batch_rows=4)),
    "cpu": dict(base="shipped", pretrain="cpu", eval_n=8,
                grpo=dict(SMALL_WORLD, steps=64, prompts_per_step=16, num_generations=8)),
    # the cpu preset as it was before it was made faster (docs/results.md, "The default run"): 120
    # steps (the same picture by step 60), micro-batches of 32 rows whatever their length;
    # bench/zero.py measures the default run against it
    "cpu_long": dict(base="shipped", pretrain="cpu", eval_n=8,
                     grpo=dict(SMALL_WORLD, steps=120, prompts_per_step=16, num_generations=8,
                               micro_batch_rows=32, micro_batch_tokens=32 * 400)),
    "gpu": dict(base="scratch", pretrain="gpu", eval_n=32,
                grpo=dict(steps=200, prompts_per_step=32, num_generations=16, max_new_tokens=1024,
                          lr=3e-5,
                          beta=0.01, mask_truncated_completions=True, micro_batch_rows=128)),
}


def eval_interval(steps: int) -> int:
    """train_zero's default --eval_every: about 8 held-out evaluations over the run (the curve's
    points), but never more often than every 5 steps, since one evaluation costs about as much as
    two RL steps: a 10-step trial is evaluated at steps 5 and 10, not after every step."""
    return max(5, -(-steps // 8))
