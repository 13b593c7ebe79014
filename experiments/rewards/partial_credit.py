"""An example of partial credit: on countdown, how close the answer's value comes to the target.

    python train_zero.py --rewards=experiments/rewards/partial_credit.py \
        --reward_weights=accuracy=1,format=0.25,partial_credit=0.5 --out_dir=out/partial_credit

Accuracy pays a countdown answer only when it hits the target, and most of the base's countdown
groups have no hit at all: no reward spread, no gradient. Partial credit gives them a slope:
1 - |value - target| / target for a well-formed expression that spends only the given numbers,
each at most once (the verifier's rule), 0 for anything else, and 0 on the other families (their
accuracy is exact already). A lone given number near the target earns a near miss's credit too:
whether RL finds that shortcut is part of what the lab measures.
The answer is read as the countdown verifier reads it, by the safe parser of nanor1/parse.py: never
evaluated as code, bounded in length, digits and magnitude, so `9**9**9` earns 0 at once.
Measured: see docs/reward_lab.md
"""
from collections import Counter

from nanor1.parse import parse_expression_numbers
from nanor1.rewards import extract_answer, register_reward


@register_reward("partial_credit")
def partial_credit(completion: str, problem) -> float:
    """max(0, 1 - |value - target| / target) for a countdown answer that the verifier's parser
    accepts (no unary minus) and that spends no number beyond the given ones; else 0. It is 1
    exactly when the answer is right."""
    if getattr(problem, "family", None) != "countdown":
        return 0.0
    parsed = parse_expression_numbers(extract_answer(completion), allow_unary=False)  # None: bad
    if parsed is None:
        return 0.0
    value, used = parsed
    *given, target = problem.data
    if Counter(used) - Counter(given) or target <= 0:  # a number not given, or spent twice
        return 0.0
    return max(0.0, 1.0 - float(abs(value - target)) / target)
