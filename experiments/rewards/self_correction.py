"""An example reward for the look of reasoning: self-correction phrases, whatever the answer.

    python train_zero.py --rewards=experiments/rewards/self_correction.py \
        --reward_weights=accuracy=1,format=0.25,self_correction=0.5 --out_dir=out/self_correction

Pays for the sentences the evaluator's aha rate counts (nanor1.rewards.aha_spans: "Wait",
"let me check", "let me verify", "recheck", "mistake", 等等, 重新检查, ...) inside the chain of
thought, and never looks at the answer. The default run grows these phrases from the accuracy
reward alone (countdown retries start "Wait, ..."); paying for them directly asks whether the look
of a search brings its result, or only its words.
Measured: see docs/reward_lab.md
"""
from nanor1.rewards import aha_spans, register_reward

PAID_SENTENCES = 2  # self-correcting sentences that earn the whole reward: a miss caught, a retry


@register_reward("self_correction")
def self_correction(completion: str, problem) -> float:
    """min(1, self-correcting sentences / PAID_SENTENCES): 0.5 for one "Wait, ...", 1 for two or
    more. Capped, so that a chain of "Wait"s is never worth more than a right answer."""
    return min(1.0, len(aha_spans(completion)) / PAID_SENTENCES)
