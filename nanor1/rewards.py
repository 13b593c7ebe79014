"""Rule rewards for GRPO (recipe §3): answer extraction, an anchored format check, language
consistency, "aha" detection, and a registry of named reward functions with the parser of
--reward_weights.

A reward is a plain function (completion: str, problem: Problem) -> float, registered by name:

    @register_reward("my_reward")
    def my_reward(completion, problem):
        return 1.0 if "..." in completion else 0.0

In a file of your own, loaded with --rewards=my_rewards.py (nanor1/reward_modules.py, which also
runs rewards written for TRL's GRPOTrainer), then weighted with
--reward_weights=accuracy=1,format=0.25,my_reward=0.1.

Everything here is total: no function raises or hangs on any input. Answers are checked by the task
verifiers (nanor1.tasks.verify), which read them with the safe parsers of nanor1/parse.py: model
text is never evaluated as code (recipe §3 records regex+eval verifiers hanging on `9**9**9`).
tests/test_reward_fuzz.py checks this on 10k adversarial strings.
"""
import re
from typing import Callable

from nanor1 import tasks

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
EOS = "<|eos|>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


# ----------------------------------------------------------------------------- answer extraction

def extract_answer(completion) -> str | None:
    """Stripped text inside the last complete <answer>...</answer>; None if there is none."""
    if not isinstance(completion, str):
        return None
    end = completion.rfind(ANSWER_CLOSE)
    if end < 0:
        return None
    start = completion.rfind(ANSWER_OPEN, 0, end)
    if start < 0:
        return None
    return completion[start + len(ANSWER_OPEN):end].strip()


# ----------------------------------------------------------------------------- format

def format_ok(completion) -> bool:
    """Anchored parse of the WHOLE completion (recipe §9: a regex *search* was gamed within
    minutes): ws <think> T </think> ws <answer> A </answer> ws [<|eos|>] ws, each tag exactly once,
    A non-empty."""
    if not isinstance(completion, str):
        return False
    s = completion.strip()
    if s.endswith(EOS):
        s = s[: -len(EOS)].rstrip()
    if EOS in s or any(s.count(tag) != 1 for tag in TAGS):
        return False  # every tag exactly once => no nested, repeated or stray tags anywhere
    if not (s.startswith(THINK_OPEN) and s.endswith(ANSWER_CLOSE)):
        return False  # nothing before <think>, nothing after </answer>
    think_end, answer_start = s.find(THINK_CLOSE), s.find(ANSWER_OPEN)
    if think_end > answer_start or s[think_end + len(THINK_CLOSE):answer_start].strip():
        return False  # </think> must come first, with only whitespace up to <answer>
    return bool(s[answer_start + len(ANSWER_OPEN):-len(ANSWER_CLOSE)].strip())


def think_text(completion) -> str:
    """The chain of thought: inside the first <think>...</think>, or, if malformed, the text before
    the first <answer> with any tags removed."""
    if not isinstance(completion, str):
        return ""
    lo, hi, well_formed = think_span(completion)
    if well_formed:
        return completion[lo:hi]
    before = completion[lo:hi]
    for tag in TAGS + (EOS,):
        before = before.replace(tag, " ")
    return before


def think_span(completion: str) -> tuple[int, int, bool]:
    """(start, end, well_formed): where think_text's chain of thought lies in the completion, for
    callers that need offsets (display, step positions). Malformed: the text before the first
    <answer>, its tags still in place."""
    start = completion.find(THINK_OPEN)
    end = completion.find(THINK_CLOSE, start + 1) if start >= 0 else -1
    if start >= 0 and end >= 0:
        return start + len(THINK_OPEN), end, True
    return 0, len(completion.split(ANSWER_OPEN, 1)[0]), False


# ----------------------------------------------------------------------------- language

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD_RE = re.compile(rf"[{_CJK}]|[A-Za-z]+")
_TAG_RE = re.compile(r"</?think>|</?answer>|<\|eos\|>")
MIXED_MIN_WORDS = 2  # is_lang_mixed: the minority script needs at least this many words


def language_fractions(text) -> dict:
    """{"en": f, "zh": f}: each CJK character is one zh word, each run of Latin letters one en word.
    Digits, operators, punctuation and tags are ignored, and so is the lone letter "x": it is the
    unknown in linear equations, shared math notation in both languages. {0, 0} if there are no
    words."""
    counts = _word_counts(text)
    total = counts["en"] + counts["zh"]
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def _word_counts(text) -> dict:
    counts = {"en": 0, "zh": 0}
    if not isinstance(text, str):
        return counts
    for w in _WORD_RE.findall(_TAG_RE.sub(" ", text)):
        if w.isascii():
            if w not in ("x", "X"):
                counts["en"] += 1
        else:
            counts["zh"] += 1
    return counts


def language_consistency(completion, problem) -> float:
    """Fraction of chain-of-thought words in problem.lang (recipe §3, R1 stage 2); 1.0 if no
    words."""
    counts = _word_counts(think_text(completion))
    total = counts["en"] + counts["zh"]
    return counts.get(getattr(problem, "lang", "en"), 0) / total if total else 1.0


def is_lang_mixed(completion, problem=None) -> bool:
    """True if the chain of thought holds >= MIXED_MIN_WORDS words of BOTH scripts
    (code-switching)."""
    counts = _word_counts(think_text(completion))
    return min(counts.values()) >= MIXED_MIN_WORDS


# ----------------------------------------------------------------------------- "aha"
# (recipe §6, §9)

AHA_PATTERNS = (
    r"\bwait\b", r"\blet me try another\b", r"\btry again\b", r"\bre-?check", r"\blet me verify\b",
    r"\blet me check\b", r"\bre-?compute", r"\bre-?evaluate", r"\bmistake\b",
    "等等", "等一下", "再试", "重新检查", "重新计算", "验证一下", "换一个",
)
_AHA_RE = re.compile("|".join(AHA_PATTERNS), re.IGNORECASE)


def has_aha(completion) -> bool:
    """Self-correction phrase in the chain of thought. A plain "check:" is not one; a caught miss
    is."""
    return _AHA_RE.search(think_text(completion)) is not None


# a written check: value (countdown, or "9707/79=122+69/79" in a division check), target, verdict
# ("29 vs 7: no."); the evaluator scores its verdicts, pretraining's verdict probe asks the base for
# them
VERDICT_RE = re.compile(r"(-?[0-9][0-9+/]*) (?:vs|对) (-?[0-9]+)\s?[:：]\s?(yes|no|不对|对)")


_SENTENCE_END_RE = re.compile(r"[.。!?！？](?=\s|$)|[。！？]")


def aha_spans(completion) -> list[tuple[int, int]]:
    """(start, end) character offsets into the completion of each self-correction sentence (for
    display): from a phrase has_aha detects to the end of its sentence, within the chain of thought
    (as think_text finds it)."""
    if not isinstance(completion, str):
        return []
    lo, hi, _ = think_span(completion)
    spans = []
    for m in _AHA_RE.finditer(completion, lo, hi):
        if spans and m.start() < spans[-1][1]:
            continue  # a second phrase inside an already marked sentence
        stop = _SENTENCE_END_RE.search(completion, m.end(), hi)
        spans.append((m.start(), stop.end() if stop else hi))
    return spans


# ----------------------------------------------------------------------------- readability
# (recipe §5, §7)

_SENTENCE_SPLIT_RE = re.compile(r"[.。!?！？\n]+")
LOOP_REPEATS = 3  # the same sentence this many times in a row is a sampling loop


def is_looping(text) -> bool:
    """True if one sentence repeats LOOP_REPEATS times in a row (degenerate repetition)."""
    sentences = [s.strip() for s in _SENTENCE_SPLIT_RE.split(text if isinstance(text, str) else "")
                 if s.strip()]
    run = 1
    for a, b in zip(sentences, sentences[1:]):
        run = run + 1 if a == b else 1
        if run >= LOOP_REPEATS:
            return True
    return False


def is_readable(completion, problem=None, truncated: bool = False) -> bool:
    """The readability measure of this project (R1's complaint about R1-Zero: "poor readability,
    language mixing"): a reader can follow the response from question to answer. All of: well-formed
    (one <think>, one <answer>), finished (not cut at the token limit), one language, no sentence
    looping, and the answer written out in the reasoning (so it is derived there, not only
    asserted). Deliberately not required: a summary line, which only the cold-start data teaches;
    the measure must not be built to favour one stage."""
    if truncated or not format_ok(completion) or is_lang_mixed(completion, problem):
        return False
    think = think_text(completion)
    answer = extract_answer(completion)
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    return answer is not None and squash(answer) in squash(think) and not is_looping(think)


# ----------------------------------------------------------------------------- registry

REWARDS: dict[str, Callable[[str, "tasks.Problem"], float]] = {}


def register_reward(name: str):
    def decorator(fn):
        REWARDS[name] = fn
        return fn
    return decorator


@register_reward("accuracy")
def accuracy_reward(completion, problem) -> float:
    answer = extract_answer(completion)
    return 1.0 if answer is not None and tasks.verify(problem, answer) else 0.0


@register_reward("format")
def format_reward(completion, problem) -> float:
    return 1.0 if format_ok(completion) else 0.0


@register_reward("language")
def language_reward(completion, problem) -> float:
    return language_consistency(completion, problem)


# Soft overlong penalty (DAPO, recipe §2): 0 up to LENGTH_CAP_CHARS - LENGTH_BUFFER_CHARS, then a
# linear ramp down to -1 at the cap, -1 beyond. Counted in characters so that it does not depend on
# the tokenizer; set these two to match the sampler's max_new_tokens (recipe §9 used 320 tokens).
LENGTH_CAP_CHARS = 1200
LENGTH_BUFFER_CHARS = 300


@register_reward("length_penalty")
def length_penalty(completion, problem) -> float:
    n = len(completion) if isinstance(completion, str) else 0
    free = LENGTH_CAP_CHARS - LENGTH_BUFFER_CHARS
    if n <= free:
        return 0.0
    if n >= LENGTH_CAP_CHARS:
        return -1.0
    return (free - n) / LENGTH_BUFFER_CHARS


def combined_reward(completion, problem, weights: dict) -> tuple[float, dict]:
    """sum_k weights[k] * REWARDS[k](completion, problem), and each part unweighted. A reward that
    raises (or an unknown name) counts 0.0 and is reported as parts["error/<name>"] = 1.0."""
    total, parts = 0.0, {}
    for name, weight in weights.items():
        try:
            value = float(REWARDS[name](completion, problem))
        except Exception:  # a buggy reward must not kill an RL run; it shows up in the logs instead
            value, parts[f"error/{name}"] = 0.0, 1.0
        parts[name] = value
        total += weight * value
    return total, parts


def parse_weights(text: str) -> dict[str, float]:
    """'accuracy=1,format=0.25' -> {"accuracy": 1.0, "format": 0.25} (a bare name weighs 1); an
    unknown reward or a weight that is not a number is a clear error (the --reward_weights flag)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, w = part.partition("=")
        if name not in REWARDS:
            raise SystemExit(f"error: --reward_weights: unknown reward {name!r}; registered: "
                             f"{sorted(REWARDS)} "
                             "(--rewards=FILE.py loads your own)")
        try:
            out[name] = float(w or 1.0)
        except ValueError:
            raise SystemExit(
                f"error: --reward_weights: weight of {name!r} is not a number: {w!r}") from None
    return out
