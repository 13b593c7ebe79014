"""The synthetic pretraining corpus: an endless stream of short documents, mixed by CorpusMix.

Document kinds (recipe §9-10: the base must already show, rarely, what RL will amplify):
    template_trace  R1 template + "<think> trace </think> <answer> X </answer>"
    plain_trace     the same reasoning in plain formats ("Question: ... Solution: ... Answer: X")
    direct          an answer without reasoning, reliable on easy problems, unreliable on hard ones;
                    some of them under the R1 template with an empty think, so that direct answering
                    is something the base also does under the template (what RL starts from,
                    recipe §9)
    drill           single skills in isolation: one-step facts, restating numbers/target, "a vs b"
                    checks, left-to-right evaluation of a try; optionally (check_drills) whole
                    countdown tries checked against their own value or a near miss, the skill a
                    retry needs most (README: "why retries pay")
    filler          short generic sentences in English and Chinese
Only train-split problems are used (held-out ones never appear). The caller adds BOS/EOS between
documents.

    python -m nanor1.corpus            # print one document per kind and stats over 20k documents
"""
import dataclasses
import random
import sys
from dataclasses import dataclass, field
from typing import Iterator

from nanor1 import tasks
from nanor1.tasks import FAMILIES, Habits, countdown

KINDS = ("template_trace", "plain_trace", "direct", "drill", "filler")


@dataclass
class CorpusMix:
    # share of each document kind (normalised when sampled). Tuned by pretraining + evaluating (see
    # the README): the full template costs 85 tokens of boilerplate per document, so most tagged
    # traces use the short form ("User: .. Assistant: <think>"); drills and countdown got more
    # weight because copying the numbers and getting single steps right is what makes a retry pay
    # (recipe §9 items 1-4).
    template_trace: float = 0.15
    plain_trace: float = 0.45                # a third of these in the short template
    direct: float = 0.10
    drill: float = 0.25
    filler: float = 0.05
    direct_in_template: float = 0.3          # share of direct answers written under the R1 template
    direct_wrong: tuple = (0.1, 0.4, 0.8)    # P(direct answer is wrong) at difficulty 1, 2, 3
    zh: float = 0.3                          # share of problems (and filler) in Chinese
    family_weights: tuple = (0.6, 0.2, 0.2)       # countdown, arithmetic, linear (countdown is
                                                  # where "aha" emerges)
    difficulty_weights: tuple = (0.35, 0.35, 0.3)  # difficulty 1, 2, 3
    # traces: most stop after one try; a few search (countdown) or check (arithmetic, linear)
    habits: Habits = field(default_factory=lambda: Habits(retry_after_miss=0.15, max_tries=5,
                                                          check_inverse=0.3,
                                                          slip_rate=0.2, switch_lang=0.0))
    zh_switch_lang: float = 0.3              # Chinese traces switch to English midway at this rate
                                             # (R1-Zero mixing)
    short_template: bool = True              # plain traces may use the short template tail
                                             # (SHORT_TEMPLATE)
    # Off by default, on in the cpu preset (nanor1/pretrain.py), the shipped base: a base must learn
    # to read "V vs T" before a check's verdict means anything, and at the 4-minute budget no mix
    # taught it (measured, README)
    check_drills: float = 0.0                # share of drills that are checks of one countdown try
                                             # (check_drill)


def _problem(rng: random.Random, mix: CorpusMix) -> tasks.Problem:
    family = rng.choices(FAMILIES, mix.family_weights)[0]
    difficulty = rng.choices((1, 2, 3), mix.difficulty_weights)[0]
    lang = "zh" if rng.random() < mix.zh else "en"
    return tasks.sample_problem(rng, family, difficulty, lang, split="train")


def _habits(mix: CorpusMix, lang: str) -> Habits:
    h = mix.habits
    return dataclasses.replace(h, switch_lang=mix.zh_switch_lang if lang == "zh" else h.switch_lang)


def template_trace(rng, mix) -> str:
    p = _problem(rng, mix)
    return tasks.format_prompt(p) + " " + tasks.solution_trace(p, rng, _habits(mix, p.lang))


# the template's tail only
SHORT_TEMPLATE = "User: {q}. Assistant: <think> {t} </think> <answer> {a} </answer>"
PLAIN_FORMATS = {
    "en": ("Question: {q}\nSolution: {t}\nAnswer: {a}",
           "Problem: {q}. Let's think. {t} The answer is {a}.", SHORT_TEMPLATE),
    "zh": ("问题：{q}\n解答：{t}\n答案：{a}", "题目：{q}。想一想。{t} 答案是 {a}。", SHORT_TEMPLATE),
}


def plain_trace(rng, mix) -> str:
    p = _problem(rng, mix)
    think, answer = tasks.trace_parts(p, rng, _habits(mix, p.lang))
    formats = PLAIN_FORMATS[p.lang] if mix.short_template else PLAIN_FORMATS[p.lang][:2]
    return rng.choice(formats).format(q=p.question, t=think, a=answer)


def direct(rng, mix) -> str:
    p = _problem(rng, mix)
    wrong = rng.random() < mix.direct_wrong[p.difficulty - 1]
    answer = tasks.wrong_answer(p, rng) if wrong else p.answer
    if rng.random() < mix.direct_in_template:
        return tasks.format_prompt(p) + f" <think> </think> <answer> {answer} </answer>"
    return (f"问：{p.question}\n答：{answer}" if p.lang == "zh" else f"Q: {p.question}\nA: {answer}")


def check_drill(rng, lang) -> str:
    """Tries of countdown whose target is their own value half the time and a near miss otherwise:
    the verdict "V vs T: yes/no" in the exact form traces use, where only reading the two values can
    decide it."""
    lines = []
    for _ in range(rng.randint(2, 5)):
        nums = [rng.randint(1, 9) for _ in range(rng.randint(3, 5))]
        ops = [rng.choice(countdown.OPS) for _ in nums[1:]]
        value = countdown.evaluate(nums, ops)
        target = (value if rng.random() < 0.5
                  else value + rng.choice((-1, 1)) * rng.choice((1, 2, 3, 9, 10, 11, 20)))
        lines.append(countdown.render_try(nums, target, ops, retry=False)[lang])
    return "\n".join(lines)


def drill(rng, mix) -> str:
    """One of four drills, a few lines each, each a primitive a trace is built from (or a check
    drill)."""
    lang = "zh" if rng.random() < mix.zh else "en"
    # (no draw at 0: older corpora unchanged)
    if mix.check_drills > 0 and rng.random() < mix.check_drills:
        return check_drill(rng, lang)
    kind = rng.randrange(4)
    lines = []
    for _ in range(rng.randint(3, 8)):
        if kind == 0:  # one-step facts, as met in running values and columns
            a, b, op = rng.randint(-20, 99), rng.randint(0, 9), rng.choice("+-*")
            lines.append(f"{a}{op}{b}={a + b if op == '+' else a - b if op == '-' else a * b}")
        elif kind == 1:  # restate: copy numbers and target from a question (recipe §9 item 1)
            p = tasks.sample_problem(rng, "countdown", rng.randint(1, 3), lang)
            nums, t = " ".join(map(str, p.data[:-1])), p.data[-1]
            lines.append(f"{p.question}. 数字 {nums}，目标 {t}。" if lang == "zh"
                         else f"{p.question}. numbers {nums}, target {t}.")
        elif kind == 2:  # compare two values side by side (recipe §9 item 2)
            a = rng.randint(-20, 99)
            b = a if rng.random() < 0.5 else rng.randint(1, 99)
            lines.append(f"{a} 对 {b}：{'对' if a == b else '不对'}。" if lang == "zh"
                         else f"{a} vs {b}: {'yes' if a == b else 'no'}.")
        else:  # evaluate a try left to right
            nums = [rng.randint(1, 9) for _ in range(rng.randint(3, 5))]
            ops = [rng.choice(countdown.OPS) for _ in nums[1:]]
            steps, v = [], nums[0]
            for op, n in zip(ops, nums[1:]):
                new = countdown.evaluate([v, n], [op])
                steps.append(f"{v}{op}{n}={new}")
                v = new
            sep = "，" if lang == "zh" else ", "
            lines.append(f"{countdown.expression(nums, ops)}: {sep.join(steps)}.")
    return "\n".join(lines)


FILLER = {
    "en": (("the cat", "a boy", "my friend", "the teacher", "a bird", "the old man", "our team"),
           ("sees", "likes", "finds", "reads", "draws", "counts", "carries"),
           ("a red ball", "the book", "two apples", "a small house", "the river", "many stars",
            "a letter")),
    "zh": (("小猫", "男孩", "我的朋友", "老师", "小鸟", "老人", "我们"),
           ("看见", "喜欢", "找到", "读", "画", "数", "带着"),
           ("红色的球", "这本书", "两个苹果", "一座小房子", "河流", "很多星星", "一封信")),
}


def filler(rng, mix) -> str:
    lang = "zh" if rng.random() < mix.zh else "en"
    subj, verb, obj = FILLER[lang]
    out = []
    for _ in range(rng.randint(2, 5)):
        s, v, o = rng.choice(subj), rng.choice(verb), rng.choice(obj)
        out.append(f"{s}{v}{o}。" if lang == "zh" else f"{s.capitalize()} {v} {o}.")
    return ("" if lang == "zh" else " ").join(out)


_MAKERS = {"template_trace": template_trace, "plain_trace": plain_trace, "direct": direct,
           "drill": drill, "filler": filler}


def make_document_with_kind(rng: random.Random, mix: CorpusMix) -> tuple[str, str]:
    kind = rng.choices(KINDS, [getattr(mix, k) for k in KINDS])[0]
    return kind, _MAKERS[kind](rng, mix)


def make_document(rng: random.Random, mix: CorpusMix) -> str:
    """ONE pretraining document."""
    return make_document_with_kind(rng, mix)[1]


def iter_documents(seed: int, mix: CorpusMix) -> Iterator[str]:
    """Endless, deterministic stream of documents for a seed."""
    rng = random.Random(seed)
    while True:
        yield make_document(rng, mix)


# The tokenizer's training text is generated with this FIXED mix (the corpus defaults when
# nanor1/tokenizer.bpe was trained), so tuning CorpusMix never changes the vocabulary that every
# checkpoint depends on.
TOKENIZER_MIX = CorpusMix(template_trace=0.30, plain_trace=0.30, direct=0.15, drill=0.15,
                          filler=0.10, family_weights=(0.5, 0.25, 0.25), zh_switch_lang=0.1,
                          short_template=False)


def tokenizer_training_text(seed: int = 0, n_chars: int = 2_000_000) -> str:
    """Representative text for training the BPE tokenizer: the template and every tag, then every
    (family, difficulty, language) trace with all habits switched on, then corpus documents."""
    rng = random.Random(seed)
    rich = Habits(retry_after_miss=1.0, max_tries=5, check_inverse=1.0, slip_rate=0.5,
                  switch_lang=0.2)
    parts = [tasks.R1_TEMPLATE, "<think> </think> <answer> </answer> <|eos|>"]
    for family in FAMILIES:
        for difficulty in (1, 2, 3):
            for lang in tasks.LANGS:
                p = tasks.sample_problem(rng, family, difficulty, lang)
                parts.append(tasks.format_prompt(p) + " " + tasks.solution_trace(p, rng, rich))
    for kind in KINDS:
        parts.append(_MAKERS[kind](rng, TOKENIZER_MIX))
    size = sum(len(s) + 1 for s in parts)
    docs = iter_documents(seed + 1, TOKENIZER_MIX)
    while size < n_chars:
        parts.append(next(docs))
        size += len(parts[-1]) + 1
    return "\n".join(parts)[:n_chars]


if __name__ == "__main__":
    from nanor1.rewards import has_aha
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rng, mix = random.Random(0), CorpusMix()
    print(mix, "\n")
    shown, counts, aha, chars = set(), dict.fromkeys(KINDS, 0), 0, 0
    for _ in range(n):
        kind, doc = make_document_with_kind(rng, mix)
        counts[kind] += 1
        aha += has_aha(doc.split("Assistant:")[-1])
        chars += len(doc)
        if kind not in shown:
            shown.add(kind)
            print(f"--- {kind}\n{doc}\n")
    print(f"{n} documents, mean {chars / n:.0f} chars; aha in {aha / n:.2%}")
    for kind in KINDS:
        print(f"  {kind:15s} {counts[kind] / n:.1%}")
