"""A rule process reward: split the chain of thought into arithmetic steps "a op b = c" and score each one.

    from baselines.process_reward import split_steps, score_steps, process_reward
    python experiments/process_reward.py       # outcome vs process reward from one base (recipe §3, §7)

The R1 report tried process reward models and dropped them (recipe §3): a step is hard to define, a step scorer
can be gamed, and it costs. This is the cheapest honest version for our world, a deterministic step checker with no
model: every "expression = integer" in the <think> text is one step (countdown's "6+2=8", arithmetic's column
"2+8+1=11", a check's "5110-389=4721", linear's "x=72/6=12" -> "72/6=12"), checked exactly by the safe parser of
nanor1/parse.py (never eval). Steps that name the unknown ("3*x=12") and mixed-number results ("9707/79=122+69/79")
are not arithmetic steps of this kind and are skipped.

process_reward = fraction of correct steps, 0 if there are none (the usual "mean step score" aggregation of
PRMs). It says nothing about the final answer: what the policy learns from it is the experiment's question.
Registered as the reward "process", so --reward_weights=process=1,format=0.25 selects it.
"""
import re

from nanor1.parse import parse_expression
from nanor1.rewards import register_reward, think_span

# A step: operands (an integer, a minus sign only right after an operator or at the start, parentheses around)
# joined by + - * /, then "=" and an integer. Guards: nothing glued on before (no letter, digit, parenthesis or
# operator: not the "x" of "3*x=12", and a match can only start where its run starts, which keeps matching linear in
# the text), and the result not followed by more arithmetic or a fraction (the "122" of "122+69/79" is not the value
# of the left side). A minus is never both operator and sign, so any text matches one way only (no exponential
# backtracking; tests/test_reward_fuzz.py times every registered reward on adversarial strings).
_OPERAND = r"[()]*-?[0-9]+[()]*"
_STEP_RE = re.compile(rf"(?<![A-Za-z0-9_.()+\-*/])({_OPERAND}(?:[+\-*/]{_OPERAND})+)=(-?[0-9]+)(?![0-9+*/]|-[0-9]|\.[0-9])",
                      re.ASCII)


def step_spans(completion) -> list[tuple[str, str, int]]:
    """The arithmetic steps of the chain of thought, in order: [(left side, claimed result, end), ...], end = the
    offset in the completion just after the result (where a learned scorer reads the step; baselines/learned_prm.py).
    The pattern runs on the completion itself, within think_text's span: tags left in a malformed chain of thought
    start with "<" and end with ">", which the pattern treats as the spaces think_text puts there, so the steps are
    the same."""
    if not isinstance(completion, str):
        return []
    lo, hi, _ = think_span(completion)
    steps = []
    for m in _STEP_RE.finditer(completion, lo, hi):
        lhs = m.group(1)
        while lhs.count("(") > lhs.count(")") and lhs.startswith("("):
            lhs = lhs[1:]  # "(1+2=3)": the match starts at the parenthesis
        steps.append((lhs, m.group(2), m.end()))
    return steps


def split_steps(completion) -> list[tuple[str, str]]:
    """The arithmetic steps of the chain of thought, in order: [(left side, claimed result), ...]."""
    return [(lhs, rhs) for lhs, rhs, _ in step_spans(completion)]


def score_steps(steps) -> list[bool]:
    """Exact check of each step; a left side that does not parse counts as wrong."""
    out = []
    for lhs, rhs in steps:
        value = parse_expression(lhs)
        out.append(value is not None and value == int(rhs))
    return out


def step_stats(completion) -> dict:
    """Per-response facts for the experiment: how many steps, how many right, how many distinct."""
    steps = split_steps(completion)
    ok = score_steps(steps)
    return {"n_steps": len(steps), "n_steps_ok": sum(ok), "n_steps_distinct": len(set(steps))}


@register_reward("process")
def process_reward(completion, problem=None) -> float:
    """Fraction of arithmetic steps in the chain of thought that are right (0 with no steps)."""
    ok = score_steps(split_steps(completion))
    return sum(ok) / len(ok) if ok else 0.0
