"""An example reward of your own: shorter chains of thought, for right answers only.

    python train_zero.py --rewards=experiments/rewards/brevity.py \
        --reward_weights=accuracy=1,format=0.25,brevity=0.1 --out_dir=out/brevity --steps=40

Loaded by --rewards (nanor1/reward_modules.py); @register_reward names it "brevity" for
--reward_weights. Its batch mean shows as the step line's r:brevity column, a panel of train.png
and a row of report.html; summary.json records this file's sha256.
"""
from nanor1.rewards import accuracy_reward, register_reward, think_text

# Fitted to the shipped base's responses (README "Adding a reward"): a linear equation thinks
# ~40 characters, a three-digit subtraction ~85, a "check: ..." adds ~30, each countdown try ~60
# (a retry starts "Wait, ...").
SHORT_CHARS = 40   # a chain of thought this short or shorter earns the whole reward
LONG_CHARS = 160   # ... this long or longer earns none; linear in between


@register_reward("brevity")
def brevity(completion: str, problem) -> float:
    """1 for a right answer thought through in <= SHORT_CHARS characters, falling to 0 at
    LONG_CHARS; 0 for a wrong answer or an empty chain of thought. Paid on every answer, brevity
    would pay an empty <think> the most, and the base writes one in ~1 of 8 responses, nearly all
    of them wrong."""
    n = len(think_text(completion).strip())
    if n == 0 or accuracy_reward(completion, problem) == 0.0:
        return 0.0
    return min(1.0, max(0.0, (LONG_CHARS - n) / (LONG_CHARS - SHORT_CHARS)))
