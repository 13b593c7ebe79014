"""Specification of the task world (nanor1/tasks): generators, traces, verifiers, template, split."""
import dataclasses
import hashlib
import random
import re

import pytest

from nanor1.corpus import CorpusMix, make_document
from nanor1.rewards import extract_answer, format_ok, is_lang_mixed, language_consistency
from nanor1.tasks import (FAMILIES, GENERAL_FAMILIES, R1_TEMPLATE, Habits, Problem, countdown, format_prompt, heldout_set,
                          sample_problem, solution_trace, split_of, verify)

ALWAYS_RETRY = Habits(retry_after_miss=1.0, max_tries=8, check_inverse=0.5, slip_rate=0.5)


def cd(nums, target, lang="en"):
    data = (*nums, target)
    return Problem("countdown", len(nums) - 2, lang, countdown.question(data, lang), "", data)


def test_template_is_r1_zero_structure():
    assert R1_TEMPLATE.startswith("A conversation between User and Assistant.")
    assert "<think> reasoning process here </think> <answer> answer here </answer>" in R1_TEMPLATE
    assert R1_TEMPLATE.endswith("User: {prompt}. Assistant:")
    p = sample_problem(random.Random(0), "arithmetic", 1, "en")
    assert format_prompt(p).endswith(f"User: {p.question}. Assistant:")


def test_generators_are_deterministic_per_seed():
    a = [sample_problem(random.Random(7)) for _ in range(5)]
    b = [sample_problem(random.Random(7)) for _ in range(5)]
    assert a == b
    ra, rb = random.Random(3), random.Random(3)
    assert [solution_trace(p, ra, ALWAYS_RETRY) for p in a] == [solution_trace(p, rb, ALWAYS_RETRY) for p in a]


def test_split_is_stable_and_language_independent():
    p = sample_problem(random.Random(1), "countdown", 2, "en", split=None)
    zh = Problem(p.family, p.difficulty, "zh", "other text", p.answer, p.data)
    assert split_of(p) == split_of(zh)
    assert split_of(cd([6, 2, 4, 3], 29)) == split_of(cd([6, 2, 4, 3], 29, "zh"))
    rng = random.Random(2)
    shares = [split_of(sample_problem(rng, split=None)) == "heldout" for _ in range(4000)]
    assert 0.10 <= sum(shares) / len(shares) <= 0.20


def test_train_and_heldout_are_disjoint():
    rng = random.Random(3)
    train = [sample_problem(rng) for _ in range(20_000)]
    assert all(split_of(p) == "train" for p in train)
    held = heldout_set(25)  # linear difficulty 1 has only 27 held-out problems
    assert len(held) == 25 * 9 and all(split_of(p) == "heldout" for p in held)
    assert not {(p.family, p.data) for p in held} & {(p.family, p.data) for p in train}


def test_heldout_set_is_fixed_and_mixes_languages():
    assert heldout_set(10) == heldout_set(10)
    held = heldout_set(10)
    assert {p.lang for p in held} == {"en", "zh"}
    assert {(p.family, p.difficulty) for p in held} == {(f, d) for f in FAMILIES for d in (1, 2, 3)}


@pytest.mark.parametrize("family", FAMILIES + GENERAL_FAMILIES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_trace_that_does_not_give_up_verifies(family, lang):
    rng = random.Random(f"{family}/{lang}")
    for _ in range(300):
        p = sample_problem(rng, family, rng.randint(1, 3), lang)
        assert verify(p, p.answer), p
        trace = solution_trace(p, rng, ALWAYS_RETRY)
        assert format_ok(trace), trace
        assert verify(p, extract_answer(trace)), trace
        assert language_consistency(trace, p) == 1.0, trace  # no switching unless habits say so


def test_countdown_search_reaches_a_hit_within_five_tries():
    rng = random.Random(4)
    for _ in range(500):
        p = sample_problem(rng, "countdown", 3)
        trace = solution_trace(p, rng, Habits(retry_after_miss=1.0, max_tries=5))
        assert trace.count("try ") <= 5 and verify(p, extract_answer(trace))


def test_countdown_free_search_may_use_up_its_tries():
    """A free search is not steered: it stops at a hit or after max_tries (then its answer, the last try, misses)."""
    rng, unresolved = random.Random(6), 0
    for _ in range(300):
        p = sample_problem(rng, "countdown", 3, "en")
        trace = solution_trace(p, rng, Habits(retry_after_miss=1.0, max_tries=4, free_search=1.0))
        hit = verify(p, extract_answer(trace))
        assert trace.count("try ") <= 4 and (hit or trace.count("try ") == 4)
        unresolved += not hit
    assert unresolved > 150


def test_countdown_traces_that_give_up_answer_wrong():
    rng, gave_up = random.Random(5), 0
    for _ in range(300):
        p = sample_problem(rng, "countdown", rng.randint(1, 3), "en")
        trace = solution_trace(p, rng, Habits(retry_after_miss=0.0))
        assert "Wait" not in trace
        if ": no." in trace:
            gave_up += 1
            assert not verify(p, extract_answer(trace))
        else:
            assert verify(p, extract_answer(trace))
    assert gave_up > 100  # most first tries miss: retrying must pay


def test_countdown_first_try_hit_balances_the_checks_verdict():
    """first_try_hit makes "yes" after a first try common (so a check's verdict must be read off the two values,
    not guessed from the position of the try); 0 draws nothing extra, so older corpora stay bit-identical."""
    rng, hits = random.Random(7), 0
    for _ in range(300):
        p = sample_problem(rng, "countdown", rng.randint(1, 3), "en")
        trace = solution_trace(p, rng, Habits(retry_after_miss=0.0, first_try_hit=1.0))
        assert "Wait" not in trace and ": yes." in trace and verify(p, extract_answer(trace)), trace
    for _ in range(1000):
        p = sample_problem(rng, "countdown", rng.randint(1, 3), "en")
        hits += ": yes." in solution_trace(p, rng, Habits(retry_after_miss=0.0, first_try_hit=0.3))
    assert 300 < hits < 500  # 0.3 + 0.7 x the share of random first tries that hit
    # at 0 the corpus is the one every base before first_try_hit was pretrained on (pinned: cpu_v1 and experiments/)
    mix = CorpusMix(habits=dataclasses.replace(CorpusMix().habits, first_try_hit=0.0))
    doc_rng = random.Random(5)
    text = "".join(make_document(doc_rng, mix) for _ in range(5000))
    assert hashlib.md5(text.encode()).hexdigest() == "d21189e657b41f2b0c069bd377123695"


def test_countdown_retry_restates_and_changes_exactly_one_operator():
    rng = random.Random(6)
    for _ in range(200):
        p = sample_problem(rng, "countdown", rng.randint(1, 3), "en")
        trace = solution_trace(p, rng, ALWAYS_RETRY)
        nums, target = " ".join(map(str, p.data[:-1])), p.data[-1]
        assert trace.count("Wait, ") == trace.count(f"Wait, numbers {nums}, target {target}: try ")
        tries = [re.sub(r"[^-+*]", "", e) for e in re.findall(r"try (\S+):", trace)]
        for prev, new in zip(tries, tries[1:]):
            assert sum(a != b for a, b in zip(prev, new)) == 1, trace
        for v, t, yn in re.findall(r"(-?\d+) vs (\d+): (yes|no)", trace):
            assert (v == t) == (yn == "yes")


def test_countdown_generator_ranges():
    rng = random.Random(7)
    for d, k in ((1, 3), (2, 4), (3, 5)):
        for _ in range(200):
            p = sample_problem(rng, "countdown", d)
            nums, t = p.data[:-1], p.data[-1]
            assert len(nums) == k and all(1 <= n <= 9 for n in nums)
            assert 1 <= t <= 99 and t not in nums


def test_countdown_verifier_follows_real_rules():
    p = cd([6, 2, 4, 3], 29)
    assert verify(p, "((6+2)*4)-3")
    assert verify(p, "(6+2)*4-3")           # standard precedence, fewer parentheses
    assert verify(p, "3 * (4 + 6) - 2 + 0") is False  # 0 is not one of the numbers
    assert verify(p, "4*6+2+3")            # another order: still valid
    assert verify(cd([2, 4, 5], 5), "5")   # a subset of the numbers is allowed
    assert not verify(p, "6*4+6-1")        # 6 reused, 1 not given
    assert not verify(p, "6+2+4+3")        # = 15, misses the target
    assert not verify(p, "29")             # the target is not a given number
    assert not verify(p, "6/(2-2)")        # division by zero
    assert not verify(p, "-(6-2)*4+...")
    assert not verify(p, "")
    assert verify(cd([8, 4, 3], 6), "8/4*3")  # exact division is allowed


def test_arithmetic_and_linear_verifiers_tolerate_formatting():
    add = Problem("arithmetic", 3, "en", "Compute 4721+389", "5110", ("+", 4721, 389))
    assert verify(add, "5110") and verify(add, " 5,110 ") and verify(add, "5110.0")
    assert not verify(add, "5100") and not verify(add, "4721+389") and not verify(add, "")
    lin = Problem("linear", 3, "en", "Solve", "4", (5, -3, 2, 9))
    assert verify(lin, "4") and verify(lin, "x = 4") and verify(lin, "x=4")
    assert not verify(lin, "5") and not verify(lin, "x")


def test_arithmetic_difficulty_ranges():
    rng = random.Random(8)
    for _ in range(300):
        p = sample_problem(rng, "arithmetic", 3)
        op, a, b = p.data
        assert (op in "+-" and a >= 1000 and b >= 1000) or (op == "*" and a >= 100 and b >= 10)
        if op == "-":
            assert a >= b


def test_caught_slip_is_fixed_by_recompute():
    rng, caught = random.Random(9), 0
    for _ in range(200):
        p = sample_problem(rng, rng.choice(["arithmetic", "linear"]), rng.randint(1, 3), "en")
        trace = solution_trace(p, rng, Habits(check_inverse=1.0, slip_rate=1.0))
        assert verify(p, extract_answer(trace))
        if ": no." in trace:
            caught += 1
            assert "Wait, recompute:" in trace and trace.rstrip(" </answer>").count(": yes.") == 1
    assert caught > 150


def test_switch_lang_mixes_languages():
    rng, mixed = random.Random(10), 0
    for _ in range(100):
        p = sample_problem(rng, "countdown", 3, "zh")
        trace = solution_trace(p, rng, Habits(retry_after_miss=1.0, switch_lang=1.0))
        mixed += is_lang_mixed(trace, p)
    assert mixed > 30  # only traces with >= 2 steps can switch


def test_family_and_difficulty_lists_parse_and_reject_unknowns():
    from nanor1.tasks import parse_difficulties, parse_families
    assert parse_families("countdown, linear") == ("countdown", "linear")
    assert parse_difficulties("1,2") == (1, 2)
    for bad in ("countdown,chess", ""):
        with pytest.raises(SystemExit, match="--families="):
            parse_families(bad)
    for bad in ("1,4", "one", ""):
        with pytest.raises(SystemExit, match="--difficulties="):
            parse_difficulties(bad)
