"""The non-reasoning family (nanor1/tasks/numwords.py): number words in English and Chinese, the verifier's
tolerance, the held-out split, and that it stays out of the reasoning world (pretraining, R1-Zero)."""
import random

import pytest

from nanor1.corpus import CorpusMix, make_document
from nanor1.tasks import FAMILIES, heldout_set, numwords, sample_problem, split_of, verify


@pytest.mark.parametrize("n,en,zh", [
    (0, "zero", "零"), (7, "seven", "七"), (10, "ten", "十"), (15, "fifteen", "十五"), (20, "twenty", "二十"),
    (47, "forty-seven", "四十七"), (90, "ninety", "九十"), (100, "one hundred", "一百"),
    (105, "one hundred five", "一百零五"), (110, "one hundred ten", "一百一十"),
    (118, "one hundred eighteen", "一百一十八"), (342, "three hundred forty-two", "三百四十二"),
    (999, "nine hundred ninety-nine", "九百九十九")])
def test_number_words(n, en, zh):
    assert numwords.english(n) == en
    assert numwords.chinese(n) == zh


def test_verifier_tolerates_spelling_variants_not_wrong_numbers():
    p = sample_problem(random.Random(0), "numwords", 3)
    data = ("en_words", 342)
    for ok in ("three hundred forty-two", "Three Hundred Forty Two", " three hundred and forty-two. "):
        assert numwords.verify(data, ok), ok
    for bad in ("three hundred forty-three", "342", "三百四十二", "", "three hundred forty-two two", "x" * 10_000):
        assert not numwords.verify(data, bad), bad
    assert numwords.verify(("zh_to_en", 12), "twelve") and not numwords.verify(("en_to_zh", 12), "twelve")
    assert numwords.verify(("en_to_zh", 12), "十 二")
    assert verify(p, p.answer) and not verify(p, numwords.wrong_answer(p.data, random.Random(1)))


def test_questions_name_the_number_in_the_source_form():
    assert numwords.question(("en_to_zh", 47), "en") == "Translate forty-seven into Chinese"
    assert numwords.question(("zh_to_en", 47), "zh") == "把 四十七 翻译成英文"
    assert "47" in numwords.question(("zh_words", 47), "zh")


def test_heldout_split_is_disjoint_and_covers_every_difficulty():
    held = heldout_set(6, families=("numwords",))
    assert {p.difficulty for p in held} == {1, 2, 3}
    assert all(split_of(p) == "heldout" for p in held)
    rng = random.Random(3)
    train = [sample_problem(rng, "numwords", rng.randint(1, 3)) for _ in range(500)]
    assert not {p.data for p in held} & {p.data for p in train}


def test_not_part_of_the_reasoning_world():
    assert "numwords" not in FAMILIES  # R1-Zero RL and its evaluation never see it
    rng = random.Random(0)
    docs = " ".join(make_document(rng, CorpusMix()) for _ in range(300))
    assert "Chinese numerals" not in docs and "English words" not in docs  # nor does pretraining
