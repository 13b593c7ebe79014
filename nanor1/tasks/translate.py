"""Translation of one worked step between English and Chinese: the world's non-reasoning family
(recipe §5, stage 3: "writing, QA, translation"). It needs knowledge of the two phrasings, not a
search: the thinking is one short line, as in R1's non-reasoning data.

    "Translate into Chinese: check: 9+122=131 vs 131: yes."  -> 验算： 9+122=131 对 131：对。
    "把这句翻译成英文：8*x+7=95，所以 8*x=95-7=88，所以 x=88/8=11。" -> 8*x+7=95, so 8*x=95-7=88, so x=88/8=11.

The sentences are steps of the reasoning families' own traces (countdown tries and checks, column
arithmetic, equation steps, "Wait" retries), so the base model has read both phrasings, in separate
documents, but never a sentence next to its translation: stage 3 must teach the task. data =
(direction, en, zh), difficulty = the source problem's. The answer is in the target language; the
thinking in the prompt's (the language-consistency reward). Not in the pretraining corpus and not in
R1-Zero's prompts or evaluation.
"""
import random
import re

from nanor1.tasks import arithmetic, countdown, linear
from nanor1.tasks.habits import Habits

SOURCES = (countdown, arithmetic, linear)
DIRECTIONS = ("en_to_zh", "zh_to_en")
# the habits of the source traces: checks, slips and retries, so every kind of step can be asked
_HABITS = dict(retry_after_miss=0.7, max_tries=5, check_inverse=0.6, slip_rate=0.3, switch_lang=0.0)
SAMPLED = 200  # longest_data: generated steps per difficulty beside the exact longest ones


def generate(rng: random.Random, difficulty: int):
    """(data, answer): one step of a random reasoning problem of this difficulty, in one translation
    direction."""
    mod = rng.choice(SOURCES)
    source, _ = mod.generate(rng, difficulty)
    steps, _ = mod.segments(source, rng, Habits(**_HABITS))
    step = rng.choice(steps)
    data = (rng.choice(DIRECTIONS), step["en"], step["zh"])
    return data, target(data)


def longest_data(difficulty: int) -> list[tuple]:
    """The data of the longest questions generate() makes at this difficulty (nanor1/preflight.py's
    sequence budget): the steps of the sources' longest problems with every check, slip and
    recompute, in both directions, then a fixed sample of generated steps: countdown's tries need
    solvable data, so they have no widest form."""
    every = Habits(retry_after_miss=1.0, check_inverse=1.0, slip_rate=1.0)
    steps = [step for mod in (arithmetic, linear) for data in mod.longest_data(difficulty)
             for seed in range(12) for step in mod.segments(data, random.Random(seed), every)[0]]
    exact = [(direction, step["en"], step["zh"]) for step in steps for direction in DIRECTIONS]
    rng = random.Random(f"longest/{difficulty}")
    return exact + [generate(rng, difficulty)[0] for _ in range(SAMPLED)]


def target(data) -> str:
    direction, en, zh = data
    return zh if direction == "en_to_zh" else en


def source(data) -> str:
    direction, en, zh = data
    return en if direction == "en_to_zh" else zh


_QUESTIONS = {"en": {"en_to_zh": "Translate into Chinese: {s}",
                     "zh_to_en": "Translate into English: {s}"},
              "zh": {"en_to_zh": "把这句翻译成中文：{s}", "zh_to_en": "把这句翻译成英文：{s}"}}
_THINK = {"en": {"en_to_zh": "Translate the step into Chinese, keeping every number.",
                 "zh_to_en": "Translate the step into English, keeping every number."},
          "zh": {"en_to_zh": "把这一步翻译成中文，数字不变。", "zh_to_en": "把这一步翻译成英文，数字不变。"}}


def question(data, lang: str) -> str:
    return _QUESTIONS[lang][data[0]].format(s=source(data))


def _normalise(text: str) -> str:
    """Whitespace and letter case do not matter; every character else does (numbers, operators,
    words)."""
    return re.sub(r"\s+", "", text).lower()


def verify(data, answer_text: str) -> bool:
    if not isinstance(answer_text, str) or len(answer_text) > 2000:
        return False
    return _normalise(answer_text) == _normalise(target(data))


def segments(data, rng: random.Random, habits):
    """One short step, in each language (the thinking of a non-reasoning answer)."""
    return [{"en": _THINK["en"][data[0]], "zh": _THINK["zh"][data[0]]}], target(data)


def wrong_answer(data, rng: random.Random) -> str:
    """A plausible wrong translation: one number changed, or the sentence left untranslated."""
    answer = target(data)
    numbers = list(re.finditer(r"\d+", answer))
    if not numbers or rng.random() < 0.3:
        return source(data)
    m = rng.choice(numbers)
    changed = str(int(m.group()) + rng.choice((-2, -1, 1, 2, 10)))
    if changed == m.group() or changed.startswith("-"):
        changed = m.group() + "1"
    return answer[:m.start()] + changed + answer[m.end():]
