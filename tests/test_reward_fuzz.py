"""Fuzz: >= 10,000 adversarial and random strings through every verifier, parser and registered reward,
for problems of every family. Nothing may raise, and nothing may hang (recipe §3: regex+eval verifiers hang on
9**9**9): a call that takes HANG_SECONDS fails. That bound is a hang guard, not a speed test: the slowest call
takes milliseconds, while evaluating 9**9**9 or a backtracking regex on these strings runs for minutes."""
import random
import time

import pytest

from nanor1 import parse, rewards
from nanor1.rewards import REWARDS, combined_reward
from nanor1.tasks import FAMILIES, GENERAL_FAMILIES, sample_problem, verify

ADVERSARIAL = [
    "9**9**9", "9**9**9**9", "2^1000", "(" * 10_000 + "1" + ")" * 10_000, "(" * 10_000, ")" * 10_000,
    "9" * 10_000, "-" * 10_000 + "1", "1" + "*9" * 5_000, "1" + "/0" * 100, "1/0", "0/0", "(1-1)/(2-2)",
    "__import__('os').system('echo hi')", "exec('1')", "eval('1')", "lambda: 1", "open('/etc/passwd')",
    "٣", "３", "٣+١", "１２３", "1e308", "1e99999", "inf", "nan", "-inf", "0x1F", "1_000", "½", "⅓+1",
    "", " ", "\x00", "\n" * 1000, "<think>", "</think>", "<answer>", "</answer>", "<|eos|>",
    "<answer>" * 1000, "<think>" * 500 + "</think>" * 500, "<answer><answer>1</answer></answer>",
    "<think></think>x</think><answer>1</answer>", "<answer>" + "9" * 10_000 + "</answer>",
    "<answer>" + "(" * 10_000 + "</answer>", "<answer>9**9**9</answer>", "<answer> 1,2,3,4 </answer>",
    "<answer>" + "1+" * 3000 + "1</answer>", "<think>" + "wait " * 5000 + "</think><answer>1</answer>",
    "等等" * 5000, "x=" * 1000, "x = 9**9", "1,234,567,890,123,456,789", "-" + "9" * 64, "1/" + "9" * 60,
]
HANG_SECONDS = 1.0
ALPHABET = "0123456789+-*/()., xX=<>/|abcdefghijklmnopqrstuvwxyz等对不进写\n\t٣３^_'\""
PIECES = ["<think>", "</think>", "<answer>", "</answer>", "<|eos|>", "9**9", "(", ")", "/0", "9" * 30, " wait ", "等等"]


def random_strings(rng: random.Random, n: int):
    for i in range(n):
        kind = i % 4
        if kind == 0:  # random characters from a math-ish alphabet
            yield "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 80)))
        elif kind == 1:  # random unicode code points, including surrogates-free planes
            yield "".join(chr(rng.choice([rng.randint(0, 0x2FF), rng.randint(0x4E00, 0x9FFF), rng.randint(0x10000, 0x1FFFF)]))
                          for _ in range(rng.randint(0, 40)))
        elif kind == 2:  # random bytes decoded permissively
            yield bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 100))).decode("latin-1")
        else:  # tag soup with dangerous pieces
            yield "".join(rng.choice(PIECES + list("12345+-*")) for _ in range(rng.randint(0, 30)))


def test_nothing_raises_and_nothing_hangs():
    rng = random.Random(0)
    problems = [sample_problem(rng, f, d, lang) for f in FAMILIES + GENERAL_FAMILIES for d in (1, 2, 3) for lang in ("en", "zh")]
    texts = ADVERSARIAL + list(random_strings(rng, 10_000))
    parsers = [rewards.extract_answer, parse.parse_number, parse.parse_expression, rewards.format_ok,
               rewards.think_text, rewards.language_fractions, rewards.has_aha, rewards.is_readable]
    weights = {name: 1.0 for name in REWARDS}
    worst, worst_text = 0.0, None
    for i, text in enumerate(texts):
        p = problems[i % len(problems)]
        wrapped = f"<think> {text[:50]} </think> <answer> {text} </answer>"  # exercise the verifiers, too
        calls = [lambda f=f: f(text) for f in parsers]
        calls += [lambda: verify(p, text), lambda: verify(p, rewards.extract_answer(wrapped)),
                  lambda: combined_reward(wrapped, p, weights), lambda: combined_reward(text, p, weights),
                  lambda: rewards.language_consistency(text, p), lambda: rewards.is_lang_mixed(text, p)]
        for call in calls:
            t0 = time.perf_counter()
            result = call()
            dt = time.perf_counter() - t0
            if dt > worst:
                worst, worst_text = dt, text[:40]
            if isinstance(result, tuple):  # combined_reward: no reward may have raised
                assert not any(k.startswith("error/") for k in result[1]), (text[:80], result)
    print(f"\n{len(texts)} strings x {len(calls)} calls, slowest call {worst * 1000:.2f} ms on {worst_text!r}")
    if worst > HANG_SECONDS:
        pytest.fail(f"a call took {worst:.1f} s on {worst_text!r}")


def test_no_eval_or_exec_in_the_reward_path():
    import inspect
    import nanor1.tasks as tasks_pkg
    from nanor1.tasks import arithmetic, countdown, linear
    for module in (parse, rewards, tasks_pkg, arithmetic, countdown, linear):
        source = inspect.getsource(module)
        assert "eval(" not in source.replace("evaluate(", "") and "exec(" not in source, module.__name__
