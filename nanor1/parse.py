"""Safe parsers for model answers: numbers and arithmetic expressions, exact, bounded, never
evaluated as code.

    from nanor1.parse import parse_number, parse_expression
    parse_number("1,234")        # Fraction(1234)
    parse_expression("(6+2)*4")  # Fraction(32); "9**9**9" -> None (bounded, never computed)

The task verifiers (nanor1/tasks) and the rule rewards (nanor1/rewards.py) read answers through
these functions, so this module imports nothing from nanor1. Every function is total: on any input
it returns a value or None, never raises and never hangs (recipe §3 records regex+eval verifiers
hanging on `9**9**9`). tests/test_reward_fuzz.py checks this on 10k adversarial strings.
"""
import re
from fractions import Fraction

# bounds that make parsing O(len) with small constants and rule out huge numbers
MAX_NUMBER_CHARS = 64          # parse_number input
MAX_DIGITS = 12                # one integer literal in an expression
MAX_MAGNITUDE = 10 ** 12       # |numerator| and denominator of every intermediate value
MAX_DEPTH = 50                 # parenthesis / unary nesting


# ----------------------------------------------------------------------------- numbers

# ASCII digits only: Python's int() also accepts '٣' or '３', which no tokenizer here produces.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?", re.ASCII)


def parse_number(text) -> Fraction | None:
    """'42', ' -5 ', '+7', '1,234', '3.25', '3/4', '-3/4' -> Fraction; anything else -> None."""
    if not isinstance(text, str) or len(text) > MAX_NUMBER_CHARS:
        return None
    text = text.strip()
    num, slash, den = text.partition("/")
    if not _NUMBER_RE.fullmatch(num.strip()):
        return None
    try:
        value = Fraction(num.strip().replace(",", ""))
        if slash:
            den = den.strip()
            if not re.fullmatch(r"[0-9]+", den, re.ASCII) or int(den) == 0:
                return None
            value /= int(den)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return value


# ----------------------------------------------------------------------------- expressions

class _Reject(Exception):
    """Internal: the text is not a valid, bounded expression."""


class _Parser:
    """Recursive descent over expr := term (('+'|'-') term)* ; term := factor (('*'|'/') factor)* ;
    factor := INT | '(' expr ')' | '-' factor (only if allow_unary). Exact arithmetic with Fraction,
    every intermediate bounded by MAX_MAGNITUDE, nesting bounded by MAX_DEPTH. Records the integer
    literals used, so countdown can check which numbers an answer spends."""

    def __init__(self, text: str, allow_unary: bool):
        # anything unexpected becomes its own token
        self.toks = re.findall(r"[0-9]+|\S", text, re.ASCII)
        self.i, self.depth, self.allow_unary, self.numbers = 0, 0, allow_unary, []

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def bounded(self, x: Fraction) -> Fraction:
        if abs(x.numerator) > MAX_MAGNITUDE or x.denominator > MAX_MAGNITUDE:
            raise _Reject
        return x

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = self.bounded(value + self.term() if self.take() == "+" else value - self.term())
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in ("*", "/"):
            op, rhs = self.take(), self.factor()
            if op == "/" and rhs == 0:
                raise _Reject
            value = self.bounded(value * rhs if op == "*" else value / rhs)
        return value

    def factor(self) -> Fraction:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Reject
        tok = self.take()
        if tok is None:
            raise _Reject
        # ASCII only ('٣'.isdigit() is True, but it is a lone token here)
        if tok[0] in "0123456789":
            if len(tok) > MAX_DIGITS:
                raise _Reject
            self.numbers.append(int(tok))
            value = Fraction(int(tok))
        elif tok == "(":
            value = self.expr()
            if self.take() != ")":
                raise _Reject
        elif tok == "-" and self.allow_unary:
            value = -self.factor()
        else:
            raise _Reject
        self.depth -= 1
        return value


def parse_expression_numbers(text, max_len: int = 200, allow_unary: bool = True):
    """(value, [integer literals used]) for a valid expression, else None. Never raises."""
    if not isinstance(text, str) or len(text) > max_len:
        return None
    try:
        p = _Parser(text, allow_unary)
        value = p.expr()
        if p.i != len(p.toks):  # trailing junk, e.g. "1+2)" or "3 4"
            return None
        return value, p.numbers
    except (_Reject, RecursionError, ZeroDivisionError, OverflowError, ValueError):
        return None


def parse_expression(text, max_len: int = 200) -> Fraction | None:
    """Exact value of an expression over integers, + - * / ( ) and unary minus; None if invalid."""
    parsed = parse_expression_numbers(text, max_len)
    return None if parsed is None else parsed[0]
