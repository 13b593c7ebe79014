"""The rule process reward (baselines/process_reward.py) as a specification: which text is a step, how each is scored.

    python -m pytest tests/test_process_reward.py -q
"""
import random
import time

import pytest

from baselines.process_reward import process_reward, score_steps, split_steps, step_stats
from nanor1.rewards import REWARDS
from nanor1.tasks import Habits, sample_problem, solution_trace


def test_countdown_try_splits_into_its_running_values_not_the_expression():
    t = "<think> numbers 6 2 4 3, target 7: try ((6+2)*4)-3: 6+2=8, 8*4=32, 32-3=29. 29 vs 7: no. </think>"
    assert split_steps(t) == [("6+2", "8"), ("8*4", "32"), ("32-3", "29")]


def test_negative_values_parentheses_and_multi_term_columns_are_steps():
    t = "<think> 2*1=2, 2-4=-2, -2-6=-8. 12-1-8=3 write 32. check: 1*(-8)+1=-7 </think>"
    assert split_steps(t) == [("2*1", "2"), ("2-4", "-2"), ("-2-6", "-8"), ("12-1-8", "3"), ("1*(-8)+1", "-7")]
    assert all(score_steps(split_steps(t)))


def test_equations_with_the_unknown_and_mixed_numbers_are_not_steps():
    t = "<think> 5*x-3=2*x+9, so 3*x=12, so x=12/3=4. check: 9707/79=122+69/79 vs 123: no. </think>"
    assert split_steps(t) == [("12/3", "4")]


def test_a_slip_is_a_wrong_step_and_lowers_the_score():
    t = "<think> 4+9=13 write 3 carry 1; 2+3+1=7 write 73. so 24+39=73. </think> <answer> 73 </answer>"
    assert score_steps(split_steps(t)) == [True, False, False]
    assert process_reward(t) == pytest.approx(1 / 3)


def test_only_the_chain_of_thought_is_scored_and_no_steps_score_zero():
    assert process_reward("<think> no arithmetic here </think> <answer> 1+1=2 </answer>") == 0.0
    assert process_reward("") == 0.0


def test_padding_easy_correct_steps_raises_the_process_reward_but_not_the_answer():
    # the hack the experiment looks for: the score is a mean over steps, so easy true steps dilute a wrong one
    honest = "<think> 47+38=84 </think> <answer> 84 </answer>"
    padded = "<think> 1+1=2, 2+1=3, 3+1=4, 47+38=84 </think> <answer> 84 </answer>"
    assert process_reward(honest) == 0.0 and process_reward(padded) == 0.75
    assert step_stats(padded) == {"n_steps": 4, "n_steps_ok": 3, "n_steps_distinct": 4}


def test_every_generated_correct_trace_scores_one():
    rng = random.Random(0)
    for _ in range(300):
        p = sample_problem(rng)
        t = solution_trace(p, rng, Habits(check_inverse=0.5, slip_rate=0.0, retry_after_miss=0.5))
        assert process_reward(t) == 1.0, t


def test_every_caught_slip_in_a_generated_trace_is_found():
    rng = random.Random(1)
    for _ in range(200):
        p = sample_problem(rng, family=rng.choice(["arithmetic", "linear"]))
        t = solution_trace(p, rng, Habits(check_inverse=1.0, slip_rate=1.0))
        assert 0.0 < process_reward(t) < 1.0, t


def test_registered_as_a_reward():
    assert REWARDS["process"] is process_reward


@pytest.mark.parametrize("text", ["(" * 20000, "1-" * 20000, "-1" * 20000 + "x", "(1-" * 12000, "1*9*" * 12000,
                                  "(" * 8000 + "1-" * 8000])
def test_adversarial_text_does_not_make_the_step_pattern_hang(text):
    # a hang guard, not a speed test: this pattern scores these in well under a second; one with nested
    # ambiguity took 1-3 s on texts a quarter this long, and its time grows faster than the length
    t0 = time.time()
    process_reward(f"<think>{text}</think>")
    seconds = time.time() - t0
    if seconds > 5:
        pytest.fail(f"{seconds:.1f} s on a text of {len(text)} characters")
