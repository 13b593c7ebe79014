"""Specification of the synthetic pretraining corpus (nanor1/corpus.py)."""
import itertools
import random
import re
from dataclasses import replace

from nanor1 import corpus, tasks
from nanor1.corpus import KINDS, CorpusMix, iter_documents, make_document, tokenizer_training_text
from nanor1.evaluate import VERDICT_RE
from nanor1.rewards import format_ok, has_aha
from nanor1.tasks import R1_TEMPLATE, heldout_set

MIX = CorpusMix()


def sample(n, seed=0, mix=MIX):
    rng = random.Random(seed)
    return [corpus.make_document_with_kind(rng, mix) for _ in range(n)]


def test_documents_are_deterministic_per_seed():
    assert list(itertools.islice(iter_documents(3, MIX), 50)) == list(itertools.islice(iter_documents(3, MIX), 50))
    assert make_document(random.Random(1), MIX) == make_document(random.Random(1), MIX)
    assert list(itertools.islice(iter_documents(3, MIX), 20)) != list(itertools.islice(iter_documents(4, MIX), 20))


def test_kind_shares_follow_the_mix():
    docs = sample(4000)
    for kind in KINDS:
        share = sum(k == kind for k, _ in docs) / len(docs)
        assert abs(share - getattr(MIX, kind)) < 0.03, (kind, share)
    only_filler = replace(MIX, **{k: 0.0 for k in KINDS if k != "filler"})
    assert all(k == "filler" for k, _ in sample(100, mix=only_filler))


def test_template_documents_have_a_well_formed_completion():
    prefix = R1_TEMPLATE.split("{prompt}")[0]
    n = n_short = 0
    for kind, doc in sample(2000):
        if doc.startswith(prefix):
            n += 1
            assert kind in ("template_trace", "direct")
            assert format_ok(doc.split(". Assistant: ", 1)[1]), doc
        elif doc.startswith("User: "):  # the short template (the full one's tail) among the plain traces
            n_short += 1
            assert kind == "plain_trace"
            assert format_ok(doc.split(". Assistant: ", 1)[1]), doc
    assert n > 250 and n_short > 150


def test_direct_answers_are_unreliable_on_hard_problems():
    mix = replace(MIX, **{k: 0.0 for k in KINDS if k != "direct"}, direct_in_template=0.0, zh=0.0,
                  family_weights=(0, 1, 0), difficulty_weights=(0, 0, 1))  # hard arithmetic only
    right = 0
    for _, doc in sample(400, mix=mix):
        a, op, b, ans = re.match(r"Q: Compute (\d+)([-+*])(\d+)\nA: (\d+)", doc).group(1, 2, 3, 4)
        a, b, ans = int(a), int(b), int(ans)
        right += ans == (a + b if op == "+" else a - b if op == "-" else a * b)
    assert 0.1 < right / 400 < 0.3  # direct_wrong[2] = 0.8


def test_no_heldout_problem_appears_in_the_corpus():
    text = "\n".join(doc for _, doc in sample(3000))
    for p in heldout_set(20):
        for lang in ("en", "zh"):  # the split is language-independent: neither version may appear
            q = tasks._MODULES[p.family].question(p.data, lang)
            assert not re.search(re.escape(q) + r"(?![0-9])", text), q  # "target 3" is not "target 32"


def test_languages_and_aha_rates():
    docs = [d for _, d in sample(3000)]
    zh = sum(bool(re.search(r"[\u4e00-\u9fff]", d)) for d in docs) / len(docs)
    assert 0.2 < zh < 0.4
    aha = sum(has_aha(d.split("Assistant:")[-1]) for d in docs) / len(docs)
    assert 0.02 < aha < 0.15  # rare but present: RL amplifies what the base already shows (recipe §10)


def test_tokenizer_text_covers_template_tags_and_both_languages():
    text = tokenizer_training_text(seed=0, n_chars=50_000)
    assert len(text) == 50_000
    assert R1_TEMPLATE in text
    for tag in ("<think>", "</think>", "<answer>", "</answer>", "<|eos|>", "Wait, ", "等等", "验算"):
        assert tag in text


def test_check_drills_are_right_and_half_of_them_hits():
    """check_drill: tries in the trace's own form whose verdict is right by construction, hits and near misses
    mixed so that only reading the two values decides "yes" or "no"."""
    rng, verdicts = random.Random(3), []
    for _ in range(200):
        for line in corpus.check_drill(rng, rng.choice(("en", "zh"))).split("\n"):
            value, target, verdict = VERDICT_RE.findall(line)[-1]
            assert (value == target) == (verdict in ("yes", "对")), line
            verdicts.append(value == target)
    assert 0.4 < sum(verdicts) / len(verdicts) < 0.6
    mix = CorpusMix(check_drills=1.0, drill=1.0, template_trace=0, plain_trace=0, direct=0, filler=0)
    assert all(" vs " in doc or " 对 " in doc for _, doc in sample(50, mix=mix))
