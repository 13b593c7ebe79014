"""Number words, English <-> Chinese: the world's non-reasoning family (recipe §5, stage 3: "writing, QA,
translation"). Writing a number in words, or translating number words between the two languages, needs knowledge
of the words, not a search: the thinking is one short line, as in R1's non-reasoning data.

    direction "en_words"  Write 47 in English words          -> forty-seven
              "zh_words"  Write 47 in Chinese numerals       -> 四十七
              "en_to_zh"  Translate forty-seven into Chinese -> 四十七
              "zh_to_en"  Translate 四十七 into English      -> forty-seven
    difficulty 1: 0..20, 2: 21..99, 3: 100..999

data = (direction, n). The answer's language is the direction's target, not the prompt's; the thinking is in the
prompt's language (what the language-consistency reward measures). Not in the pretraining corpus: the base model
never saw number words, so this family measures what stage 3's SFT data and stage 4's preference reward teach.
"""
import random
import re

DIRECTIONS = ("en_words", "zh_words", "en_to_zh", "zh_to_en")
RANGES = {1: (0, 20), 2: (21, 99), 3: (100, 999)}

_EN_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
            "sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ZH_DIGITS = "零一二三四五六七八九"


def english(n: int) -> str:
    """0..999 in American English words: 342 -> 'three hundred forty-two'."""
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        return _EN_TENS[n // 10] + ("" if n % 10 == 0 else "-" + _EN_ONES[n % 10])
    rest = n % 100
    return f"{_EN_ONES[n // 100]} hundred" + ("" if rest == 0 else " " + english(rest))


def chinese(n: int) -> str:
    """0..999 in Chinese numerals: 12 -> 十二, 105 -> 一百零五, 110 -> 一百一十, 342 -> 三百四十二."""
    if n < 10:
        return _ZH_DIGITS[n]
    if n < 20:
        return "十" + ("" if n == 10 else _ZH_DIGITS[n % 10])
    if n < 100:
        return _ZH_DIGITS[n // 10] + "十" + ("" if n % 10 == 0 else _ZH_DIGITS[n % 10])
    rest = n % 100
    if rest == 0:
        return _ZH_DIGITS[n // 100] + "百"
    if rest < 10:
        return _ZH_DIGITS[n // 100] + "百零" + _ZH_DIGITS[rest]
    return _ZH_DIGITS[n // 100] + "百" + (_ZH_DIGITS[1] + chinese(rest) if rest < 20 else chinese(rest))


def generate(rng: random.Random, difficulty: int):
    """(data, answer)."""
    lo, hi = RANGES[difficulty]
    direction, n = rng.choice(DIRECTIONS), rng.randint(lo, hi)
    return (direction, n), target_words((direction, n))


def target_words(data) -> str:
    direction, n = data
    return chinese(n) if direction in ("zh_words", "en_to_zh") else english(n)


_QUESTIONS = {
    "en": {"en_words": "Write {n} in English words", "zh_words": "Write {n} in Chinese numerals",
           "en_to_zh": "Translate {en} into Chinese", "zh_to_en": "Translate {zh} into English"},
    "zh": {"en_words": "用英文单词写出 {n}", "zh_words": "用汉字写出 {n}",
           "en_to_zh": "把 {en} 翻译成中文", "zh_to_en": "把 {zh} 翻译成英文"},
}


def question(data, lang: str) -> str:
    direction, n = data
    return _QUESTIONS[lang][direction].format(n=n, en=english(n), zh=chinese(n))


def _normalise(text: str) -> str:
    """Case, spaces, hyphens and a British "and" do not matter ('Three hundred and forty two' ==
    'three hundred forty-two'); Chinese: spaces removed."""
    text = text.strip().lower().rstrip(".。")
    text = re.sub(r"[\s\-]+", " ", text)
    text = re.sub(r"\band\b ", "", text)
    return text.replace(" ", "") if re.search(r"[\u4e00-\u9fff]", text) else text.strip()


def verify(data, answer_text: str) -> bool:
    if not isinstance(answer_text, str) or len(answer_text) > 200:
        return False
    return _normalise(answer_text) == _normalise(target_words(data))


def segments(data, rng: random.Random, habits):
    """One short step in each language: the number split into place values (no search, no check)."""
    direction, n = data
    parts = [d * 10 ** i for i, d in enumerate(int(c) for c in reversed(str(n))) if d][::-1] or [0]
    split = " + ".join(map(str, parts))
    target = {"en": "Chinese" if direction in ("zh_words", "en_to_zh") else "English",
              "zh": "中文" if direction in ("zh_words", "en_to_zh") else "英文"}
    steps = [{"en": f"The number is {n} = {split}, written in {target['en']} words.",
              "zh": f"这个数是 {n} = {split}，用{target['zh']}写出。"}]
    return steps, target_words(data)


def wrong_answer(data, rng: random.Random) -> str:
    direction, n = data
    lo, hi = RANGES[3 if n >= 100 else 2 if n > 20 else 1]
    other = min(hi, max(lo, n + rng.choice((-10, -2, -1, 1, 2, 10))))
    if other == n:
        other = n + 1 if n < hi else n - 1
    return target_words((direction, other))
