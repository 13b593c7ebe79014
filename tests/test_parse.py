"""Specification of the safe answer parsers (nanor1/parse.py): what parses as a number or an expression, and
what is rejected (never evaluated, never raising)."""
from fractions import Fraction

import pytest

from nanor1.parse import parse_expression, parse_expression_numbers, parse_number


@pytest.mark.parametrize("text,value", [("42", 42), (" -5 ", -5), ("+7", 7), ("1,234", 1234), ("-1,234,567", -1234567),
                                        ("3.25", Fraction(13, 4)), ("3/4", Fraction(3, 4)), ("-6/4", Fraction(-3, 2))])
def test_parse_number_accepts(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1,23", "1e5", "3/0", "٣", "３", "1 2", "--5", "1" * 100, "0x10", None, 5])
def test_parse_number_rejects(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text,value", [("1+2*3", 7), ("(1+2)*3", 9), ("8/4*3", 6), ("7-2-1", 4), ("2/3", Fraction(2, 3)),
                                        ("-3+5", 2), (" ( 4 ) ", 4), ("((6+2)*4)-3", 29)])
def test_parse_expression_evaluates_exactly(text, value):
    assert parse_expression(text) == value


@pytest.mark.parametrize("text", ["1/0", "6/(2-2)", "9**9**9", "2^10", "__import__('os')", "1+", "(1+2", "1+2)",
                                  "3 4", "", "٣+1", "１+1", "(" * 60 + "1" + ")" * 60, "9" * 13, "999999*999999*9",
                                  "1/7/7/7/7/7/7/7/7/7/7/7/7/7/7/7", "1" * 201])
def test_parse_expression_rejects(text):
    assert parse_expression(text) is None


def test_parse_expression_numbers_lists_the_literals_spent_and_can_refuse_unary_minus():
    assert parse_expression_numbers("((6+2)*4)-3") == (29, [6, 2, 4, 3])
    assert parse_expression_numbers("-3+5", allow_unary=False) is None
