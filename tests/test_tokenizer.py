"""Tokenizer: lossless round trip on arbitrary unicode, single-token tags and digits, offline loading."""
import random
import subprocess
import sys

import pytest

from nanor1.tokenizer import SPECIAL_TOKENS, Tokenizer, get_tokenizer, load_ranks, train_bpe


def random_unicode(rng: random.Random, n: int) -> str:
    pools = [
        (0x20, 0x7E),        # ASCII printable
        (0x00, 0x1F),        # control characters
        (0x4E00, 0x9FFF),    # CJK
        (0x1F300, 0x1FAFF),  # emoji
        (0x0600, 0x06FF),    # Arabic (incl. Arabic-Indic digits)
        (0xFF10, 0xFF19),    # fullwidth digits
        (0x80, 0x2FFF),      # assorted scripts and symbols
    ]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(pools)
        cp = rng.randint(lo, hi)
        if 0xD800 <= cp <= 0xDFFF:  # surrogates are not encodable
            cp = 0x41
        out.append(chr(cp))
    return "".join(out)


def test_roundtrip_random_unicode():
    tok, rng = get_tokenizer(), random.Random(0)
    for _ in range(500):
        s = random_unicode(rng, rng.randint(0, 60))
        assert tok.decode(tok.encode(s)) == s


def test_roundtrip_reasoning_text():
    tok = get_tokenizer()
    s = "<think> try (6+2)*4-3: 6+2=8, 8*4=32. 32 vs 29: no. 等等，数字 6 2 4 3 </think> <answer> 1,234 </answer><|eos|>"
    assert tok.decode(tok.encode(s)) == s


def test_tags_and_specials_are_single_tokens():
    tok = get_tokenizer()
    for s in SPECIAL_TOKENS:
        assert len(tok.encode(s)) == 1, s
    ids = tok.encode("<think>x</think>")
    assert ids[0] == tok.think_id and ids[-1] == tok.think_end_id
    assert len({tok.bos_id, tok.eos_id, tok.pad_id, tok.think_id, tok.answer_end_id}) == 5
    assert max(tok.special.values()) == tok.vocab_size - 1


def test_digits_are_one_token_each():
    tok = get_tokenizer()
    for s in ["1234567890", " 98765", "x=4721+389", "0003"]:
        digits = [t for t in tok.encode(s) if tok.decode([t]).strip().isdigit()]
        assert all(len(tok.decode([t])) == 1 for t in digits), s
        assert len(digits) == sum(c.isdigit() for c in s)


def test_trainer_is_deterministic_and_merges_frequent_pairs():
    text = "hello hello hello world world 12345 " * 50
    a, b = train_bpe(text, 270), train_bpe(text, 270)
    assert a == b
    assert b" hello" in a and b"hello" in a
    assert not any(k.isdigit() and len(k) > 1 for k in a)  # digits never merge
    tok = Tokenizer(a)
    assert tok.decode(tok.encode("hello world 42")) == "hello world 42"


@pytest.mark.slow
def test_loads_with_network_unreachable():
    # a fresh interpreter in which every socket connection fails: loading and encoding must still work
    code = (
        "import socket\n"
        "def deny(*a, **k): raise OSError('network disabled in test')\n"
        "socket.socket.connect = deny\nsocket.create_connection = deny\n"
        "from nanor1.tokenizer import get_tokenizer\n"
        "t = get_tokenizer(); assert t.decode(t.encode('<answer> 42 </answer>')) == '<answer> 42 </answer>'\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_missing_ranks_file_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m nanor1.tokenizer"):
        load_ranks(str(tmp_path / "nope.bpe"))


def test_committed_ranks_regenerate_exactly():
    # `python -m nanor1.tokenizer` must reproduce nanor1/tokenizer.bpe byte for byte: every checkpoint depends on it,
    # so its training text comes from a pinned mix (corpus.TOKENIZER_MIX), not from the tunable corpus defaults
    from nanor1.corpus import tokenizer_training_text
    from nanor1.tokenizer import VOCAB_SIZE
    assert train_bpe(tokenizer_training_text(seed=0), VOCAB_SIZE) == load_ranks()
