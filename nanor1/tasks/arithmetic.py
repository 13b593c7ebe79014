"""Arithmetic: + - * done column by column, with carries and borrows.

    difficulty 1: 2-digit + and -          difficulty 2: 3-digit + and -, 2-digit * 1-digit
    difficulty 3: 4-5 digit + and -, 3-digit * 2-digit   (a tiny base almost never answers these
                                                         directly)

Trace notation, least significant column first; "write" shows all result digits so far, so the final
number is copied from the last step instead of being read back in reverse (easier for a tiny model):
    4721+389: 1+9=10 write 0 carry 1; 2+8+1=11 write 10 carry 1; 7+3+1=11 write 110 carry 1;
              4+0+1=5 write 5110. so 4721+389=5110.
    4721-389: 11-9=2 write 2 borrow 1; 12-1-8=3 write 32 borrow 1; 7-1-3=3 write 332;
              4-0=4 write 4332. so ...
    47*8: 7*8=56 write 6 carry 5; 4*8+5=37 write 376. so 47*8=376.
3-digit * 2-digit: two rows (each as above), the second times 10, then their column-wise sum. With
prob. check_inverse the result is checked by the inverse operation ("check: 5110-389=4721 vs 4721:
yes."); given a check, with prob. slip_rate one column is first off by one, the check catches it
("... vs 4721: no.") and the trace recomputes ("Wait, recompute: ...") - recipe §10.
"""
import random
from fractions import Fraction

from nanor1.parse import parse_number

EN = {"write": "write", "carry": "carry", "borrow": "borrow", "so": "so", "check": "check:",
      "vs": "vs", "yes": "yes", "no": "no", "wait": "Wait, recompute:", "semi": "; ", "end": ".",
      "colon": ": "}
ZH = {"write": "写", "carry": "进", "borrow": "借", "so": "所以", "check": "验算：",
      "vs": "对", "yes": "对", "no": "不对", "wait": "等等，重新计算：", "semi": "；", "end": "。", "colon": "："}
WORDS = {"en": EN, "zh": ZH}


# + and -: the range of both operands
OPERANDS = {1: (10, 99), 2: (100, 999), 3: (1000, 99999)}
# *: the ranges of a and b (no * at 1)
FACTORS = {2: ((10, 99), (2, 9)), 3: ((100, 999), (10, 99))}


def generate(rng: random.Random, difficulty: int):
    """(data, answer), data = (op, a, b); subtraction has a >= b so every result is >= 0."""
    op = rng.choice("+-") if difficulty == 1 else rng.choice("+-*")
    if op == "*":
        (lo_a, hi_a), (lo_b, hi_b) = FACTORS[difficulty]
        a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
    else:
        lo, hi = OPERANDS[difficulty]
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        if op == "-" and a < b:
            a, b = b, a
    return (op, a, b), str(_apply(op, a, b))


def longest_data(difficulty: int) -> list[tuple]:
    """The data of the longest questions generate() makes at this difficulty (nanor1/preflight.py's
    sequence budget): every digit is a token of its own, so the widest operands of each
    operation."""
    _, widest = OPERANDS[difficulty]
    data = [("+", widest, widest), ("-", widest, widest)]
    if difficulty in FACTORS:
        (_, a), (_, b) = FACTORS[difficulty]
        data.append(("*", a, b))
    return data


def _apply(op, a, b) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def question(data, lang: str) -> str:
    op, a, b = data
    return f"计算 {a}{op}{b}" if lang == "zh" else f"Compute {a}{op}{b}"


def verify(data, answer_text: str) -> bool:
    value = parse_number(answer_text)
    return value is not None and value == _apply(*data)


# ----------------------------------------------------------------------------- column procedures
# Each returns (list of column strings in language w, result). `slip` = (column, +-1) puts an
# off-by-one into that column's value; later columns continue correctly from the wrong value.

def _digits(n: int, width: int) -> list:
    return [int(c) for c in str(n).zfill(width)[::-1]]


def _add_columns(a, b, w, slip=None):
    n = max(len(str(a)), len(str(b)))
    da, db, carry, written, out = _digits(a, n), _digits(b, n), 0, "", []
    for i in range(n):
        s = da[i] + db[i] + carry
        lhs = f"{da[i]}+{db[i]}" + (f"+{carry}" if carry else "")
        if slip and slip[0] == i:
            s = max(0, s + slip[1])
        if i < n - 1:
            written = f"{s % 10}{written}"
            carry = s // 10
            out.append(f"{lhs}={s} {w['write']} {written}"
                       + (f" {w['carry']} {carry}" if carry else ""))
        else:
            written = f"{s}{written}"
            out.append(f"{lhs}={s} {w['write']} {written}")
    return out, int(written)


def _sub_columns(a, b, w, slip=None):
    n = len(str(a))
    da, db, borrow, written, out = _digits(a, n), _digits(b, n), 0, "", []
    for i in range(n):
        need = da[i] - borrow - db[i] < 0
        top = da[i] + 10 if need else da[i]
        v = top - borrow - db[i]
        if slip and slip[0] == i:
            v = v + slip[1] if 0 <= v + slip[1] <= 9 else v - slip[1]
        written = f"{v}{written}"
        out.append(f"{top}" + (f"-{borrow}" if borrow else "") + f"-{db[i]}={v} {w['write']} "
                                                                 f"{written}"
                   + (f" {w['borrow']} 1" if need else ""))
        borrow = int(need)
    return out, int(written)


def _mul1_columns(a, d, w, slip=None):
    """a * one digit d."""
    da, carry, written, out = _digits(a, len(str(a))), 0, "", []
    for i, x in enumerate(da):
        p = x * d + carry
        lhs = f"{x}*{d}" + (f"+{carry}" if carry else "")
        if slip and slip[0] == i:
            p = max(0, p + slip[1])
        if i < len(da) - 1:
            written, carry = f"{p % 10}{written}", p // 10
            out.append(f"{lhs}={p} {w['write']} {written}"
                       + (f" {w['carry']} {carry}" if carry else ""))
        else:
            written = f"{p}{written}"
            out.append(f"{lhs}={p} {w['write']} {written}")
    return out, int(written)


def _work(data, lang, slip=None) -> tuple[str, int]:
    """The whole computation as one string in `lang`, ending with 'so a op b = r.'. slip = (part,
    column, +-1): part picks the row (0, 1) or the final sum (2) of a 2-row product."""
    op, a, b = data
    w = WORDS[lang]
    two_rows = op == "*" and b >= 10

    def on(part):  # the (column, delta) slip for this part, if it lands here (one-part ops: always)
        return (slip[1], slip[2]) if slip and (slip[0] == part or not two_rows) else None

    if op == "+":
        cols, r = _add_columns(a, b, w, on(0))
    elif op == "-":
        cols, r = _sub_columns(a, b, w, on(0))
    elif not two_rows:
        cols, r = _mul1_columns(a, b, w, on(0))
    else:  # two rows, the second times 10, then their sum
        c1, r1 = _mul1_columns(a, b % 10, w, on(0))
        c2, r2 = _mul1_columns(a, b // 10, w, on(1))
        cols, r = _add_columns(r1, r2 * 10, w, on(2))
        body = (f"{a}*{b % 10}{w['colon']}" + w["semi"].join(c1) + w["end"]
                + f" {a}*{b // 10}{w['colon']}" + w["semi"].join(c2) + w["end"]
                + f" {r2}*10={r2 * 10}{w['end']} {r1}+{r2 * 10}{w['colon']}"
                + w["semi"].join(cols))
        return f"{body}{w['end']} {w['so']} {a}{op}{b}={r}{w['end']}", r
    return f"{w['semi'].join(cols)}{w['end']} {w['so']} {a}{op}{b}={r}{w['end']}", r


def _check(data, r, lang) -> tuple[str, bool]:
    """Check r by the inverse operation: r-b, r+b or r/b must give back a."""
    op, a, b = data
    w = WORDS[lang]
    if op == "+":
        lhs, back = f"{r}-{b}", Fraction(r - b)
    elif op == "-":
        lhs, back = f"{r}+{b}", Fraction(r + b)
    else:
        lhs, back = f"{r}/{b}", Fraction(r, b)
    q, rem = (divmod(back.numerator, back.denominator) if back.denominator != 1
              else (back.numerator, 0))
    shown = f"{q}+{rem}/{b}" if rem else f"{q}"  # a mixed number keeps the notation math-only
    ok = back == a
    return (f"{w['check']} {lhs}={shown} {w['vs']} {a}{w['colon']}"
            f"{w['yes'] if ok else w['no']}{w['end']}", ok)


def segments(data, rng: random.Random, habits):
    """(steps, answer): restated problem + computation, then an optional check; a caught slip adds
    "Wait, recompute: ..." and a second check. Always ends with the correct answer."""
    op, a, b = data
    true = _apply(op, a, b)
    checking = rng.random() < habits.check_inverse
    slip = None
    if checking and rng.random() < habits.slip_rate:
        for _ in range(20):  # a slip in a column that does not exist, or that cancels, is no slip
            candidate = (rng.randrange(3), rng.randrange(6), rng.choice((-1, 1)))
            if _work(data, "en", candidate)[1] != true:
                slip = candidate
                break
    steps = []
    for attempt in ([slip, None] if slip else [None]):
        r = _work(data, "en", attempt)[1]
        # a recompute restates the problem locally, like countdown's retries (recipe §9 item 1)
        prefix = {lang: ((WORDS[lang]["wait"] + " " if steps else "")
                         + f"{a}{op}{b}{WORDS[lang]['colon']}")
                  for lang in WORDS}
        steps.append({lang: prefix[lang] + _work(data, lang, attempt)[0] for lang in WORDS})
        if checking:
            steps.append({lang: _check(data, r, lang)[0] for lang in WORDS})
    return steps, str(true)


def wrong_answer(data, rng: random.Random) -> str:
    true = _apply(*data)
    while True:
        digits = len(str(true))
        guess = true + rng.choice((-1, 1)) * rng.randint(1, 3) * 10 ** rng.randrange(digits)
        if guess != true and guess >= 0:
            return str(guess)
