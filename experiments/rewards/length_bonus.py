"""An example length term: a bonus per character of thinking, up to a cap, whatever the answer.

    python train_zero.py --rewards=experiments/rewards/length_bonus.py \
        --reward_weights=accuracy=1,format=0.25,length_bonus=0.5 --out_dir=out/length_bonus

R1-Zero's responses grow longer with no length reward (the default run); this term pays for length
directly, to see whether longer thinking is the cause of the gain or a side effect of it. Counted
in characters of the chain of thought (nanor1.rewards.think_text), so it does not depend on the
tokenizer, and capped, so that padding past the cap earns nothing.
Measured: see docs/reward_lab.md
"""
from nanor1.rewards import register_reward, think_text

# About five countdown tries (60-80 characters each; a linear equation thinks ~40, a "check: ..."
# adds ~30): more than the base writes on most problems, so the term pays for growth during a run.
FULL_CHARS = 400


@register_reward("length_bonus")
def length_bonus(completion: str, problem) -> float:
    """min(1, characters of thinking / FULL_CHARS): 0 for an empty <think>, 1 from FULL_CHARS on."""
    return min(1.0, len(think_text(completion).strip()) / FULL_CHARS)
