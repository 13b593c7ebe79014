"""Linear equations: solve a*x+b = c*x+d for an integer x, step by step.

    difficulty 1: a*x=d            (a 2..12, x 1..20: only 220 problems, ~33 of them held out)
    difficulty 2: a*x+b=d          (b 1..20)
    difficulty 3: a*x+b=c*x+d      (a, c in -9..9, nonzero, a != c; b, d, x may be negative)

data = (a, b, c, d). Trace (isolate x one step at a time; negative numbers in parentheses after an
op):
    5*x-3=2*x+9, so 5*x-2*x=9+3, so 3*x=12, so x=12/3=4.
Optional check by substitution ("check: 5*4-3=17, 2*4+9=17, 17 vs 17: yes."), and given a check an
optional slip in the last division, caught by the check and recomputed (recipe §10), as in
arithmetic.
"""
import random
from fractions import Fraction

from nanor1.parse import parse_number

EN = {"so": ", so ", "check": "check:", "vs": "vs", "yes": "yes", "no": "no",
      "wait": "Wait, recompute:", "end": ".", "comma": ", ", "colon": ": "}
ZH = {"so": "，所以 ", "check": "验算：", "vs": "对", "yes": "对", "no": "不对", "wait": "等等，重新计算：",
      "end": "。", "comma": "，", "colon": "："}
WORDS = {"en": EN, "zh": ZH}


def generate(rng: random.Random, difficulty: int):
    """(data, answer)."""
    if difficulty == 1:
        a, x = rng.randint(2, 12), rng.randint(1, 20)
        b, c = 0, 0
    elif difficulty == 2:
        a, x, b, c = rng.randint(2, 9), rng.randint(1, 12), rng.randint(1, 20), 0
    else:
        while True:
            a, c = (rng.choice([n for n in range(-9, 10) if n]),
                    rng.choice([n for n in range(-9, 10) if n]))
            x, b = rng.randint(-10, 10), rng.randint(-20, 20)
            if a != c and abs((a - c) * x + b) <= 60:
                break
    d = (a - c) * x + b
    return (a, b, c, d), str(x)


def longest_data(difficulty: int) -> list[tuple]:
    """The data of the longest questions generate() makes at this difficulty (nanor1/preflight.py's
    sequence budget): every digit is a token of its own and a sign a piece of its own, so the widest
    numbers, every sign."""
    if difficulty == 1:  # a*x = d: a <= 12, x <= 20
        return [(12, 0, 0, 12 * 20)]
    if difficulty == 2:  # a*x+b = d: a <= 9, x <= 12, b <= 20
        return [(9, 20, 0, 9 * 12 + 20)]
    # c != a; |d| <= 60
    return [(a, b, c, d) for a in (9, -9) for b in (20, -20) for c in (8, -8) for d in (60, -60)]


def _side(coef, const) -> str:
    """'3*x+5', '-2*x-9', '5*x', '14' (a side of the equation)."""
    if coef == 0:
        return str(const)
    s = f"{coef}*x"
    return s if const == 0 else f"{s}+{const}" if const > 0 else f"{s}{const}"


def _minus(p, q) -> str:
    """'p-q' written without a double sign: 9-(-3) -> '9+3'."""
    return f"{p}-{q}" if q >= 0 else f"{p}+{-q}"


def _num(n) -> str:
    """A number after an operator: negatives in parentheses."""
    return f"({n})" if n < 0 else str(n)


def equation(data) -> str:
    a, b, c, d = data
    return f"{_side(a, b)}={_side(c, d)}"


def question(data, lang: str) -> str:
    return f"解方程 {equation(data)}，求 x" if lang == "zh" else f"Solve {equation(data)} for x"


def verify(data, answer_text: str) -> bool:
    text = answer_text.strip()
    head, eq, tail = text.partition("=")
    if eq and head.strip().lower() == "x":  # "x = 7" is fine too
        text = tail
    value = parse_number(text)
    a, b, c, d = data
    return value is not None and a * value + b == c * value + d


def _solve(data, lang, slip=0) -> tuple[str, int]:
    """Isolation steps; slip adds +-1 to the final division (then caught by the check)."""
    a, b, c, d = data
    w = WORDS[lang]
    coef, rhs = a - c, d - b
    parts = [equation(data)]
    if c != 0:
        parts.append(f"{a}*x{'-' if c > 0 else '+'}{abs(c)}*x={_minus(d, b)}")
    elif b != 0:
        parts.append(f"{a}*x={_minus(d, b)}={rhs}")
    if c != 0:
        parts.append(f"{coef}*x={rhs}")
    x = Fraction(rhs, coef)
    x = int(x) + slip
    parts.append(f"x={rhs}/{_num(coef)}={x}")
    return w["so"].join(parts) + w["end"], x


def _check(data, x, lang) -> tuple[str, bool]:
    """Substitute x into both sides: 'check: 5*4-3=17, 2*4+9=17, 17 vs 17: yes.'"""
    a, b, c, d = data
    w = WORDS[lang]
    left, right = a * x + b, c * x + d
    shown = f"{a}*{_num(x)}" + (f"+{b}" if b > 0 else f"{b}" if b < 0 else "") + f"={left}"
    if c != 0:
        rhs_txt = f"{c}*{_num(x)}" + (f"+{d}" if d > 0 else f"{d}" if d < 0 else "")
        shown += f"{w['comma']}{rhs_txt}={right}{w['comma']}{left}"
    ok = left == right
    return (f"{w['check']} {shown} {w['vs']} {right}{w['colon']}"
            f"{w['yes'] if ok else w['no']}{w['end']}", ok)


def segments(data, rng: random.Random, habits):
    checking = rng.random() < habits.check_inverse
    slip = rng.choice((-1, 1)) if checking and rng.random() < habits.slip_rate else 0
    steps = []
    for s in ([slip, 0] if slip else [0]):
        x = _solve(data, "en", s)[1]
        prefix = {lang: (WORDS[lang]["wait"] + " " if steps else "") for lang in WORDS}
        steps.append({lang: prefix[lang] + _solve(data, lang, s)[0] for lang in WORDS})
        if checking:
            steps.append({lang: _check(data, x, lang)[0] for lang in WORDS})
    return steps, str(x)


def wrong_answer(data, rng: random.Random) -> str:
    a, b, c, d = data
    x = (d - b) // (a - c)
    return str(x + rng.choice((-3, -2, -1, 1, 2, 3)))
