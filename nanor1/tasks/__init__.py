"""The task world: families of verifiable problems, in English and Chinese, with
correct-by-construction reasoning traces, exact verifiers, the R1-Zero template and a held-out
split. Three reasoning families (FAMILIES):

    countdown   reach a target from 3-5 numbers (the search task where "Wait, ..." pays;
                recipe §9-10)
    arithmetic  column-wise + - * with carries, optionally checked by the inverse operation
    linear      solve a*x+b = c*x+d step by step, optionally checked by substitution
and one non-reasoning family (GENERAL_FAMILIES, used from stage 3 of train_r1.py on, never in
pretraining):
    translate   translate one worked step of a trace between English and Chinese

Each family lives in its own module with the same six functions (generate, question, verify,
segments, wrong_answer, longest_data) and is registered with one line below (register); the rates of
the traces' habits are in habits.py; this file holds the shared API. The verifiers read answers with
the safe parsers of nanor1/parse.py. Print a few examples with
    python -m nanor1.tasks
"""
import hashlib
import random
from dataclasses import dataclass

from nanor1.tasks import arithmetic, countdown, linear, translate
from nanor1.tasks.habits import Habits  # noqa: F401  (the API: nanor1.tasks.Habits)

FAMILIES: tuple[str, ...] = ()          # reasoning: what R1-Zero trains and evaluates
GENERAL_FAMILIES: tuple[str, ...] = ()  # non-reasoning (recipe §5, stages 3-4)
_MODULES = {}                           # family name -> its module


def register(name: str, module, general: bool = False) -> None:
    """Add a task family: `module` defines generate, question, verify, segments, wrong_answer and
    longest_data, as countdown.py does. A reasoning family joins FAMILIES (RL prompts, the held-out
    evaluation and the pretraining corpus, which draws FAMILIES by CorpusMix.family_weights: give it
    a weight there), a general one GENERAL_FAMILIES. Register beside the lines below: `from
    nanor1.tasks import FAMILIES` elsewhere copies the tuple as it is at that import."""
    global FAMILIES, GENERAL_FAMILIES
    _MODULES[name] = module
    if general:
        GENERAL_FAMILIES += (name,)
    else:
        FAMILIES += (name,)


register("countdown", countdown)
register("arithmetic", arithmetic)
register("linear", linear)
register("translate", translate, general=True)

LANGS = ("en", "zh")
# easy .. hard; each family module reads its own meaning of the level
DIFFICULTIES: tuple[int, ...] = (1, 2, 3)

# recipe §4, verbatim structure, one line. Deliberately content-free: no hint on how to reason.
R1_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves "
    "it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user "
    "with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer "
    "here "
    "</answer>. User: {prompt}. Assistant:"
)

HELDOUT_PER_MILLE = 150  # ~15% of the problem space never appears in the corpus or in RL prompts


@dataclass(frozen=True)
class Problem:
    family: str        # a registered family: "countdown" | "arithmetic" | "linear" | "translate"
    difficulty: int    # 1 (easy) .. 3 (hard)
    lang: str          # "en" | "zh": language of the prompt; a correct trace answers in it
    question: str      # the user question text (no template)
    answer: str        # canonical ground-truth answer (countdown: one valid expression)
    data: tuple        # canonical problem data, hashable; (family, data) decides the split


def parse_families(text: str, flag: str = "--families") -> tuple[str, ...]:
    """'countdown,linear' -> ('countdown', 'linear'); an unknown name is a clear error (CLI
    flags)."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in FAMILIES]
    if bad or not names:
        raise SystemExit(f"error: {flag}={text!r}: choose from {', '.join(FAMILIES)}")
    return names


def parse_difficulties(text: str, flag: str = "--difficulties") -> tuple[int, ...]:
    """'1,2' -> (1, 2); anything but the levels in DIFFICULTIES is a clear error (CLI flags)."""
    try:
        levels = tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError:
        levels = ()
    if not levels or any(d not in DIFFICULTIES for d in levels):
        raise SystemExit(f"error: {flag}={text!r}: comma-separated levels from "
                         f"{', '.join(map(str, DIFFICULTIES))}")
    return levels


def format_prompt(problem: Problem) -> str:
    return R1_TEMPLATE.format(prompt=problem.question)


def split_of(problem) -> str:
    """'train' or 'heldout' from a stable hash of (family, data): the same in every process
    (Python's hash() is salted per process) and the same for the en and zh versions of one
    problem."""
    key = repr((problem.family, tuple(problem.data))).encode()
    bucket = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % 1000
    return "heldout" if bucket < HELDOUT_PER_MILLE else "train"


def sample_problem(rng: random.Random, family=None, difficulty=None, lang=None,
                   split="train") -> Problem:
    """A random problem; family/difficulty/lang uniform if None. Rejection-samples until the problem
    is in `split` ("train", "heldout", or None for either)."""
    if split not in ("train", "heldout", None):
        raise ValueError(f"split={split!r}: choose 'train', 'heldout' or None")
    family = family or rng.choice(FAMILIES)
    difficulty = difficulty or rng.randint(1, 3)
    lang = lang or rng.choice(LANGS)
    mod = _MODULES[family]
    while True:
        data, answer = mod.generate(rng, difficulty)
        p = Problem(family, difficulty, lang, mod.question(data, lang), answer, data)
        if split is None or split_of(p) == split:
            return p


def heldout_set(n_per_cell: int, seed: int = 1234, families=FAMILIES,
                difficulties=DIFFICULTIES) -> list:
    """Fixed evaluation set: n_per_cell distinct held-out problems per (family, difficulty); every
    third one in Chinese. Deterministic in (n_per_cell, seed). A cell whose held-out space is
    smaller gives all it has (linear difficulty 1: 27 problems)."""
    out = []
    for family in families:
        for difficulty in difficulties:
            rng = random.Random(f"{seed}/{family}/{difficulty}")  # str seeds are hashed stably
            seen, tries = set(), 0
            while len(seen) < n_per_cell and tries < 200 * n_per_cell + 1000:
                tries += 1
                lang = "zh" if len(seen) % 3 == 2 else "en"
                p = sample_problem(rng, family, difficulty, lang, split="heldout")
                if p.data not in seen:
                    seen.add(p.data)
                    out.append(p)
    return out


def longest_problems(family: str, difficulty: int, lang: str) -> list[Problem]:
    """The problems (answers left empty) with the longest questions the family makes at this
    difficulty, in `lang`: what nanor1/preflight.py's sequence budget measures."""
    mod = _MODULES[family]
    return [Problem(family, difficulty, lang, mod.question(data, lang), "", data)
            for data in mod.longest_data(difficulty)]


def verify(problem, answer_text) -> bool:
    """Does answer_text solve problem? Exact (Fraction) and total: never raises, never hangs."""
    try:
        if not isinstance(answer_text, str):
            return False
        return bool(_MODULES[problem.family].verify(problem.data, answer_text))
    except Exception:  # defensive: a verifier bug must read as "wrong", never crash an RL step
        return False


def trace_parts(problem: Problem, rng: random.Random, habits: Habits) -> tuple[str, str]:
    """(chain of thought, final answer) of a generated solution, without tags.
    The trace is a list of steps, each rendered in both languages; with prob. habits.switch_lang
    the steps from a random point on are in the other language (code-switching, recipe §7)."""
    steps, answer = _MODULES[problem.family].segments(problem.data, rng, habits)
    lang = problem.lang
    other = "zh" if lang == "en" else "en"
    cut = len(steps)
    if len(steps) > 1 and rng.random() < habits.switch_lang:
        cut = rng.randint(1, len(steps) - 1)
    words = [step[lang] if i < cut else step[other] for i, step in enumerate(steps)]
    return " ".join(words), answer


def format_response(think: str, answer: str) -> str:
    """The R1 output format: '<think> ... </think> <answer> ... </answer>'."""
    return f"<think> {think} </think> <answer> {answer} </answer>"


def solution_trace(problem: Problem, rng: random.Random, habits: Habits) -> str:
    """A response in the R1 format. The answer is correct unless the habits make the trace give up
    after a miss (countdown), in which case it answers its last, wrong, try."""
    return format_response(*trace_parts(problem, rng, habits))


def wrong_answer(problem: Problem, rng: random.Random) -> str:
    """A plausible wrong answer (for unreliable direct answers in the corpus)."""
    return _MODULES[problem.family].wrong_answer(problem.data, rng)

