"""Countdown: combine numbers 1-9 with + - * / ( ) to reach a target (the family where "aha"
emerges).

Generation (recipe §9: a wide world left a tiny base unable to copy numbers or add): the numbers are
combined IN THE GIVEN ORDER, LEFT TO RIGHT, with random operators from + - *, so a problem always
has a solution of that shape. Difficulty 1/2/3 = 3/4/5 numbers (9/27/81 operator choices).

Verification uses the real rules: any expression spending each given number at most once, any order,
+ - * / and parentheses (no unary minus), exactly equal to the target.

Trace notation: one try = the numbers in order, fully left-nested, so the opening parentheses are
always len(numbers)-2 and the expression is correct under standard precedence:
    numbers 6 2 4 3, target 7: try ((6+2)*4)-3: 6+2=8, 8*4=32, 32-3=29. 29 vs 7: no.
    Wait, numbers 6 2 4 3, target 7: try ((6+2)-4)-3: ...
What made the "aha" learnable in recipe §9: every continuation restates numbers and target locally
(1), the check writes both values side by side (2), each new try changes exactly one operator (3).
"""
import itertools
import random

from nanor1.parse import parse_expression_numbers

N_NUMBERS = {1: 3, 2: 4, 3: 5}
OPS = "+-*"
# a retry moves one operator toward a hitting combination with this prob. (else random)
TOWARD_HIT = 0.5


def evaluate(nums, ops) -> int:
    value = nums[0]
    for op, n in zip(ops, nums[1:]):
        value = value + n if op == "+" else value - n if op == "-" else value * n
    return value


def expression(nums, ops) -> str:
    s = str(nums[0])
    for i, (op, n) in enumerate(zip(ops, nums[1:])):
        s = f"{s}{op}{n}"
        if i < len(ops) - 1:
            s = f"({s})"
    return s


def generate(rng: random.Random, difficulty: int):
    """(data, answer), data = (n1, ..., nk, target). Targets 1..99, not equal to a given number."""
    k = N_NUMBERS[difficulty]
    while True:
        nums = [rng.randint(1, 9) for _ in range(k)]
        ops = [rng.choice(OPS) for _ in range(k - 1)]
        target = evaluate(nums, ops)
        if 1 <= target <= 99 and target not in nums:
            return (*nums, target), expression(nums, ops)


def longest_data(difficulty: int) -> list[tuple]:
    """The data of the longest question generate() makes at this difficulty (nanor1/preflight.py's
    sequence budget): every digit is a token of its own, so the widest numbers: one-digit numbers, a
    two-digit target."""
    return [(9,) * N_NUMBERS[difficulty] + (99,)]


def question(data, lang: str) -> str:
    nums, target = " ".join(map(str, data[:-1])), data[-1]
    if lang == "zh":
        return f"用数字 {nums} 凑出目标 {target}"
    return f"Using the numbers {nums}, reach the target {target}"


def verify(data, answer_text: str) -> bool:
    parsed = parse_expression_numbers(answer_text, allow_unary=False)
    if parsed is None:
        return False
    value, used = parsed
    available = list(data[:-1])
    for n in used:  # each given number at most once (multiset)
        if n not in available:
            return False
        available.remove(n)
    return value == data[-1]


def render_try(nums, target, ops, retry: bool) -> dict:
    steps, value = [], nums[0]
    for op, n in zip(ops, nums[1:]):
        new = evaluate([value, n], [op])
        steps.append(f"{value}{op}{n}={new}")
        value = new
    numstr, expr, hit = " ".join(map(str, nums)), expression(nums, ops), value == target
    en = (f"numbers {numstr}, target {target}: try {expr}: {', '.join(steps)}. "
          f"{value} vs {target}: {'yes' if hit else 'no'}.")
    zh = (f"数字 {numstr}，目标 {target}：试 {expr}：{'，'.join(steps)}。"
          f"{value} 对 {target}：{'对' if hit else '不对'}。")
    if retry:
        en, zh = "Wait, " + en, "等等，" + zh
    return {"en": en, "zh": zh}


def _distance(ops, hits) -> int:
    return min(sum(a != b for a, b in zip(ops, h)) for h in hits)


def segments(data, rng: random.Random, habits):
    """(steps, answer): one step per try. First try: random operators. After a miss the trace gives
    up (prob. 1 - retry_after_miss, answering the wrong try) or searches: each retry changes one
    operator, toward a hit with prob. TOWARD_HIT, and always toward when a random move could leave a
    hit out of reach, so a search reaches a hit within max_tries whenever max_tries >= len(numbers)
    (always at 5). A free search (prob. habits.free_search) is never steered: it stops at a hit or
    after max_tries, unresolved."""
    nums, target = list(data[:-1]), data[-1]
    hits = [h for h in itertools.product(OPS, repeat=len(nums) - 1) if evaluate(nums, h) == target]
    # (no draw at 0: old corpora unchanged)
    if habits.first_try_hit > 0 and rng.random() < habits.first_try_hit:
        ops = rng.choice(hits)
    else:
        ops = tuple(rng.choice(OPS) for _ in range(len(nums) - 1))
    steps, tried = [render_try(nums, target, ops, retry=False)], {ops}
    if ops not in hits and rng.random() < habits.retry_after_miss:
        # (no draw at 0: corpora unchanged)
        free = habits.free_search > 0 and rng.random() < habits.free_search
        while ops not in hits and len(steps) < habits.max_tries:
            neighbours = [ops[:i] + (o,) + ops[i + 1:] for i in range(len(ops)) for o in OPS
                          if o != ops[i]]
            closer = [n for n in neighbours if _distance(n, hits) < _distance(ops, hits)]
            # a random move may take us one step further away, so it is allowed only while a hit
            # stays reachable afterwards: distance + 1 <= tries left after this one
            forced = not free and _distance(ops, hits) + 1 > habits.max_tries - len(steps) - 1
            if forced or (not free and rng.random() < TOWARD_HIT):
                ops = rng.choice(closer)
            else:  # genuine search: any one-operator change, preferring ones not tried yet
                ops = rng.choice([n for n in neighbours if n not in tried] or neighbours)
            tried.add(ops)
            steps.append(render_try(nums, target, ops, retry=True))
    return steps, expression(nums, ops)


def wrong_answer(data, rng: random.Random) -> str:
    nums, target = list(data[:-1]), data[-1]
    combos = list(itertools.product(OPS, repeat=len(nums) - 1))
    misses = [c for c in combos if evaluate(nums, c) != target] or combos
    return expression(nums, rng.choice(misses))
