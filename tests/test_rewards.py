"""Specification of the rule rewards (nanor1/rewards.py): extraction, anchored format check, language consistency,
"aha" detection, the reward registry and --reward_weights."""
import random

import pytest

from nanor1 import rewards
from nanor1.rewards import (REWARDS, combined_reward, extract_answer, format_ok, has_aha, is_lang_mixed,
                            is_looping, is_readable, language_consistency, language_fractions, parse_weights,
                            register_reward, think_text)
from nanor1.tasks import Habits, Problem, countdown, sample_problem, solution_trace

CD = Problem("countdown", 2, "en", countdown.question((6, 2, 4, 3, 29), "en"), "((6+2)*4)-3", (6, 2, 4, 3, 29))
CD_ZH = Problem("countdown", 2, "zh", countdown.question((6, 2, 4, 3, 29), "zh"), "((6+2)*4)-3", (6, 2, 4, 3, 29))
GOOD = "<think> numbers 6 2 4 3, target 29: try ((6+2)*4)-3: 6+2=8, 8*4=32, 32-3=29. 29 vs 29: yes. </think> <answer> ((6+2)*4)-3 </answer>"


def test_extract_answer_takes_the_last_complete_answer():
    assert extract_answer(GOOD) == "((6+2)*4)-3"
    assert extract_answer("<answer>1</answer> <answer> 2 </answer>") == "2"
    assert extract_answer("<answer>1</answer> <answer> 2") == "1"
    assert extract_answer("no tags at all") is None
    assert extract_answer("<answer></answer>") == ""
    assert extract_answer(None) is None


def test_format_ok_accepts_the_template_shape():
    assert format_ok(GOOD)
    assert format_ok("  <think>x</think>\n<answer>1</answer> <|eos|>")
    assert format_ok("<think> </think> <answer> 7 </answer>")  # a direct answer under the template


@pytest.mark.parametrize("completion", [
    "<think></think>x</think><answer>1</answer>",             # the gamed string of recipe §9
    "<think>a</think> <answer>1</answer> trailing",          # text after </answer>
    "junk <think>a</think> <answer>1</answer>",              # text before <think>
    "<think>a</think> <answer> </answer>",                   # empty answer
    "<think>a</think> <answer>1</answer><answer>2</answer>",  # repeated answer
    "<think>a<think>b</think></think><answer>1</answer>",    # nested think
    "<think>a</think> between <answer>1</answer>",           # text between the blocks
    "<answer>1</answer><think>a</think>",                    # wrong order
    "<think>a <answer>1</answer>",                           # unclosed think
    "<think>a</think>",                                      # no answer
    "<think>a</think> <answer>1</answer> <|eos|> <|eos|>",   # more than one eos
    "<think>a</think> <answer><think>1</answer>",            # tag inside the answer
    "", None,
])
def test_format_ok_rejects_malformed_and_gamed(completion):
    assert not format_ok(completion)


def test_think_text():
    assert think_text(GOOD).strip().startswith("numbers 6 2 4 3")
    assert think_text("I guess <answer>3</answer>") == "I guess "
    assert think_text(None) == ""


def test_language_fractions():
    assert language_fractions("try 6+2=8, then stop") == {"en": 1.0, "zh": 0.0}
    assert language_fractions("数字 6 2 4 3，目标 7") == {"en": 0.0, "zh": 1.0}
    assert language_fractions("等等 wait") == {"en": 1 / 3, "zh": 2 / 3}  # 2 CJK chars, 1 Latin run
    assert language_fractions("3*x+5=26 <think> </think>") == {"en": 0.0, "zh": 0.0}  # x and tags ignored


def test_language_consistency_and_mixing():
    zh_trace = "<think> 数字 6 2 4 3，目标 29：试 ((6+2)*4)-3：6+2=8。29 对 29：对。 </think> <answer> 1 </answer>"
    assert language_consistency(zh_trace, CD_ZH) == 1.0 and language_consistency(zh_trace, CD) == 0.0
    assert language_consistency("<think> 1+1=2 </think><answer>2</answer>", CD) == 1.0  # no words
    mixed = "<think> 数字 6 2 4 3，目标 29。 Wait, numbers 6 2 4 3 </think> <answer> 1 </answer>"
    assert is_lang_mixed(mixed, CD_ZH) and 0 < language_consistency(mixed, CD_ZH) < 1
    assert not is_lang_mixed(GOOD, CD) and not is_lang_mixed(zh_trace, CD_ZH)


@pytest.mark.parametrize("text", ["Wait, numbers 6 2 4 3", "let me verify", "Let me try another", "RECHECK", "re-check this",
                                  "等等，数字 6 2 4 3", "再试一次", "重新检查", "等等，重新计算："])
def test_has_aha_in_both_languages(text):
    assert has_aha(f"<think> {text} </think> <answer> 1 </answer>")


def test_has_aha_not_on_plain_traces():
    rng = random.Random(0)
    plain = Habits(retry_after_miss=0.0, check_inverse=1.0, slip_rate=0.0)  # checks, but nothing caught
    for _ in range(300):
        p = sample_problem(rng, lang=rng.choice(["en", "zh"]))
        assert not has_aha(solution_trace(p, rng, plain))
    assert not has_aha("<think> awaited waiting </think>")


def test_correct_traces_are_readable():
    rng = random.Random(1)
    habits = Habits(retry_after_miss=0.5, check_inverse=0.5)  # retries and caught slips are still readable
    for _ in range(300):
        p = sample_problem(rng, lang=rng.choice(["en", "zh"]))
        assert is_readable(solution_trace(p, rng, habits), p), solution_trace(p, rng, habits)


@pytest.mark.parametrize("completion, truncated", [
    (GOOD, True),                                                                         # cut at the token limit
    (GOOD.replace(" </answer>", ""), False),                                              # malformed
    (GOOD.replace("numbers 6 2 4 3", "数字 6 2 4 3 的 加法"), False),                       # two languages
    ("<think> try 6+2+4+3 = 15. 15 vs 29: no. </think> <answer> ((6+2)*4)-3 </answer>", False),  # asserted only
    ("<think> " + "try 6+2 = 8. " * 3 + GOOD[8:], False),                                 # a loop
])
def test_unreadable_responses(completion, truncated):
    assert not is_readable(completion, CD, truncated)
    assert is_readable(GOOD, CD)


def test_is_looping_needs_consecutive_repeats():
    assert is_looping("a b. a b. a b.")
    assert not is_looping("11 vs 7: no. try 2. 11 vs 7: no. try 3. 11 vs 7: no.")


def test_registered_rewards():
    assert {"accuracy", "format", "language", "length_penalty"} <= set(REWARDS)
    assert REWARDS["accuracy"](GOOD, CD) == 1.0
    assert REWARDS["accuracy"](GOOD.replace("-3 </answer>", "+3 </answer>"), CD) == 0.0
    assert REWARDS["accuracy"]("the answer is 29", CD) == 0.0
    assert REWARDS["accuracy"]("<answer> (6+2)*4-3 </answer>", CD) == 1.0  # accuracy does not need format
    assert REWARDS["format"]("<answer> (6+2)*4-3 </answer>", CD) == 0.0
    assert REWARDS["language"](GOOD, CD) == 1.0 and REWARDS["language"](GOOD, CD_ZH) == 0.0


def test_length_penalty_ramps_down_near_the_cap():
    cap, buf = rewards.LENGTH_CAP_CHARS, rewards.LENGTH_BUFFER_CHARS
    f = REWARDS["length_penalty"]
    assert f("x" * (cap - buf), CD) == 0.0
    assert f("x" * (cap - buf // 2), CD) == pytest.approx(-0.5)
    assert f("x" * cap, CD) == -1.0 and f("x" * (10 * cap), CD) == -1.0


def test_combined_reward_weights_parts_and_survives_a_raising_reward():
    total, parts = combined_reward(GOOD, CD, {"accuracy": 1.0, "format": 0.25})
    assert total == 1.25 and parts == {"accuracy": 1.0, "format": 1.0}

    @register_reward("broken_for_test")
    def broken(completion, problem):
        raise RuntimeError("bug")

    try:
        total, parts = combined_reward(GOOD, CD, {"accuracy": 1.0, "broken_for_test": 1.0, "no_such_reward": 1.0})
        assert total == 1.0 and parts["broken_for_test"] == 0.0 and parts["error/broken_for_test"] == 1.0
        assert parts["error/no_such_reward"] == 1.0
    finally:
        del REWARDS["broken_for_test"]


def test_parse_weights_reads_names_and_weights_a_bare_name_weighs_one():
    assert parse_weights("accuracy=1, format=0.25,language") == {"accuracy": 1.0, "format": 0.25, "language": 1.0}


@pytest.mark.parametrize("text, named", [("accuracy=1,nope=1", "'nope'"), ("format=lots", "'lots'")])
def test_parse_weights_rejects_unknown_rewards_and_non_numbers(text, named):
    with pytest.raises(SystemExit, match=named):
        parse_weights(text)

