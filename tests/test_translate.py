"""The non-reasoning family (nanor1/tasks/translate.py): one worked step translated between English and Chinese;
the verifier, the held-out split, and that it stays out of the reasoning world (pretraining, R1-Zero)."""
import random

from nanor1.corpus import CorpusMix, make_document
from nanor1.rewards import format_ok, language_consistency
from nanor1.tasks import FAMILIES, Habits, heldout_set, sample_problem, solution_trace, split_of, translate, verify


def test_questions_answers_and_thinking():
    rng = random.Random(0)
    for i in range(200):
        p = sample_problem(rng, "translate", rng.randint(1, 3), ("en", "zh")[i % 2])
        direction, en, zh = p.data
        assert translate.source(p.data) in p.question and p.answer == (zh if direction == "en_to_zh" else en)
        trace = solution_trace(p, rng, Habits())
        assert format_ok(trace) and language_consistency(trace, p) == 1.0, trace
        assert verify(p, p.answer)


def test_verifier_ignores_spacing_and_case_only():
    data = ("zh_to_en", "check: 9+122=131 vs 131: yes.", "验算： 9+122=131 对 131：对。")
    assert translate.verify(data, "Check:  9+122=131 vs 131: yes.")
    for bad in ("check: 9+122=132 vs 131: yes.", "验算： 9+122=131 对 131：对。", "check: 9+122=131 vs 131: no.", "",
                "x" * 5000):
        assert not translate.verify(data, bad), bad
    data_zh = ("en_to_zh",) + data[1:]
    assert translate.verify(data_zh, "验算：9+122=131 对 131：对。")


def test_wrong_answers_are_wrong():
    rng = random.Random(1)
    for _ in range(300):
        p = sample_problem(rng, "translate", rng.randint(1, 3))
        assert not verify(p, translate.wrong_answer(p.data, rng))


def test_heldout_split_is_disjoint_and_covers_every_difficulty():
    held = heldout_set(6, families=("translate",))
    assert {p.difficulty for p in held} == {1, 2, 3} and all(split_of(p) == "heldout" for p in held)
    rng = random.Random(3)
    train = [sample_problem(rng, "translate", rng.randint(1, 3)) for _ in range(500)]
    assert not {p.data for p in held} & {p.data for p in train}


def test_not_part_of_the_reasoning_world():
    assert "translate" not in FAMILIES  # R1-Zero RL and its evaluation never see it
    rng = random.Random(0)
    docs = " ".join(make_document(rng, CorpusMix()) for _ in range(300))
    assert "Translate into" not in docs and "翻译" not in docs  # nor does pretraining
