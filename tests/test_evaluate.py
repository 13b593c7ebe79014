"""The evaluator (nanor1/evaluate.py): per-response judging, the summary metrics, and the JSON it writes."""
import json
import os
import subprocess
import sys

import pytest
import torch

from nanor1.checkpoint import save_checkpoint
from nanor1.evaluate import evaluate, format_table, judge, summarize
from nanor1.model import GPT, ModelConfig
from nanor1.tasks import Problem
from nanor1.tokenizer import get_tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ("pass@1", "cons@k", "format_rate", "lang_mix_rate", "mean_len", "aha_rate", "acc_aha", "acc_no_aha")

EN = Problem("countdown", 1, "en", "Using the numbers 2 5 9, reach the target 90", "(2*5)*9", (2, 5, 9, 90))
ZH = Problem("countdown", 2, "zh", "用数字 8 2 5 9 凑出目标 39", "((8-2)*5)+9", (8, 2, 5, 9, 39))


# ----------------------------------------------------------------------------- judge

def test_judge_correct_answer():
    r = judge("<think> try (2*5)*9: 2*5=10, 10*9=90. 90 vs 90: yes. </think> <answer> (2 * 5) * 9 </answer>",
              EN, 30, False)
    assert r["correct"] and r["format"] and r["reasoning"]
    assert r["answer"] == "(2*5)*9"  # whitespace removed, so equal answers vote together
    assert not (r["aha"] or r["miss"] or r["retry_after_miss"] or r["mixed"])
    assert r["len"] == 30 and r["truncated"] is False


def test_judge_wrong_answer():
    r = judge("<think> try (2+5)*9: 2+5=7, 7*9=63. </think> <answer> (2+5)*9 </answer>", EN, 20, False)
    assert not r["correct"] and r["format"] and r["answer"] == "(2+5)*9"


def test_judge_malformed_format_is_still_graded():
    r = judge("<think> 2*5=10, 10*9=90 <answer> (2*5)*9 </answer>", EN, 15, False)  # no </think>
    assert not r["format"] and r["correct"]


def test_judge_no_answer():
    r = judge("<think> 2*5=10, 10*9=90, so the answer is", EN, 16, True)
    assert r["answer"] is None and not r["correct"] and not r["format"] and r["truncated"]


def test_judge_direct_answer_is_not_reasoning():
    r = judge("<think> </think> <answer> (2*5)*9 </answer>", EN, 8, False)
    assert r["correct"] and not r["reasoning"]


def test_judge_wait_after_a_miss_is_a_retry():
    text = ("<think> try (2+5)*9: 2+5=7, 7*9=63. 63 vs 90: no. Wait, try (2*5)*9: 2*5=10, 10*9=90. 90 vs 90: yes. "
            "</think> <answer> (2*5)*9 </answer>")
    r = judge(text, EN, 60, False)
    assert r["miss"] and r["aha"] and r["retry_after_miss"] and r["correct"]


def test_judge_stop_after_a_miss():
    r = judge("<think> try (2+5)*9: 2+5=7, 7*9=63. 63 vs 90: no. </think> <answer> (2+5)*9 </answer>", EN, 30, False)
    assert r["miss"] and not r["aha"] and not r["retry_after_miss"] and not r["correct"]


def test_judge_wait_before_the_miss_is_not_a_retry_after_it():
    r = judge("<think> wait, try (2+5)*9: 7*9=63. 63 vs 90: no. </think> <answer> (2+5)*9 </answer>", EN, 30, False)
    assert r["miss"] and r["aha"] and not r["retry_after_miss"]


def test_judge_chinese_miss_then_dengdeng():
    text = ("<think> 数字 8 2 5 9，目标 39：试 ((8*2)-5)*9：8*2=16，16-5=11，11*9=99。99 对 39：不对。 "
            "等等，数字 8 2 5 9，目标 39：试 ((8-2)*5)+9：8-2=6，6*5=30，30+9=39。39 对 39：对。 </think> "
            "<answer> ((8-2)*5)+9 </answer>")
    r = judge(text, ZH, 90, False)
    assert r["miss"] and r["aha"] and r["retry_after_miss"] and r["correct"] and r["format"]
    assert not r["mixed"]


def test_judge_chinese_yes_is_not_a_miss():
    r = judge("<think> 试 ((8-2)*5)+9：39 对 39：对。 </think> <answer> ((8-2)*5)+9 </answer>", ZH, 20, False)
    assert r["correct"] and not r["miss"]


def test_judge_counts_check_verdicts_right_and_wrong():
    def counts(text, problem):  # (checks, right, checks on equal values, right among those)
        r = judge(f"<think> {text} </think> <answer> x </answer>", problem, 60, False)
        return r["n_checks"], r["n_checks_right"], r["n_hit_checks"], r["n_hit_checks_right"]
    assert counts("try (2+5)*9: 7*9=63. 63 vs 90: yes. Wait, try (2*5)*9: 10*9=90. 90 vs 90: no. Wait, try (2*5)*9: "
                  "10*9=90. 90 vs 90: yes. check: 9707/79=122+69/79 vs 123: no.", EN) == (4, 2, 2, 1)
    assert counts("99 对 39：不对。 39 对 39：对。", ZH) == (2, 2, 1, 1)
    assert counts("2*5=10, 10*9=90", EN) == (0, 0, 0, 0)


def test_judge_code_switching_is_mixed():
    r = judge("<think> let me try ((8-2)*5)+9：结果 是 39 对 39 </think> <answer> ((8-2)*5)+9 </answer>", ZH, 20, False)
    assert r["mixed"]


# ----------------------------------------------------------------------------- summarize

def row(pid, answer, correct, aha=False, miss=False, retry=False, fmt=True, mixed=False, n=10, reasoning=True):
    return {"problem_id": pid, "answer": answer, "correct": correct, "aha": aha, "miss": miss,
            "retry_after_miss": retry, "format": fmt, "mixed": mixed, "len": n, "truncated": False,
            "reasoning": reasoning, "readable": fmt and not mixed}


def test_summarize_pass_at_1_is_mean_correctness():
    rows = [row(0, "a", True), row(0, "b", False), row(1, "a", True), row(1, "a", True)]
    s = summarize(rows, k=2)
    assert s["pass@1"] == 0.75 and s["k"] == 2 and s["n_responses"] == 4 and s["n_problems"] == 2


def test_summarize_cons_at_k_is_the_majority_vote():
    rows = [row(0, "right", True), row(0, "wrong", False), row(0, "wrong", False),   # majority wrong
            row(1, "wrong", False), row(1, "right", True), row(1, "right", True)]    # majority right
    s = summarize(rows, k=3)
    assert s["cons@k"] == 0.5 and s["pass@1"] == 0.5


def test_summarize_pass_at_k_counts_problems_with_any_right_sample():
    rows = [row(0, "wrong", False), row(0, "wrong", False), row(0, "right", True),   # one right of three: solved
            row(1, "wrong", False), row(1, "other", False), row(1, None, False),     # none right
            row(2, "right", True), row(2, "right", True), row(2, "right", True)]
    s = summarize(rows, k=3)
    assert abs(s["pass@k"] - 2 / 3) < 1e-12 and abs(s["pass@1"] - 4 / 9) < 1e-12 and abs(s["cons@k"] - 1 / 3) < 1e-12


def test_summarize_cons_at_k_tie_goes_to_the_answer_seen_first():
    assert summarize([row(0, "wrong", False), row(0, "right", True)], k=2)["cons@k"] == 0.0
    assert summarize([row(0, "right", True), row(0, "wrong", False)], k=2)["cons@k"] == 1.0


def test_summarize_cons_at_k_ignores_missing_answers():
    rows = [row(0, None, False), row(0, None, False), row(0, "right", True),   # one answer: it wins
            row(1, None, False), row(1, "", False), row(1, None, False)]         # no answer at all: a miss
    assert summarize(rows, k=3)["cons@k"] == 0.5


def test_summarize_rates_and_mean_length():
    rows = [row(0, "a", True, fmt=True, mixed=False, n=10), row(0, "a", True, fmt=False, mixed=True, n=30),
            row(1, "b", False, fmt=True, mixed=False, n=20), row(1, "c", False, fmt=True, mixed=False, n=40)]
    s = summarize(rows, k=2)
    assert s["format_rate"] == 0.75 and s["lang_mix_rate"] == 0.25 and s["mean_len"] == 25


def test_summarize_accuracy_with_and_without_aha():
    rows = [row(0, "a", True, aha=True), row(0, "b", False, aha=True), row(0, "a", True, aha=True),
            row(1, "a", True), row(1, "b", False), row(1, "b", False), row(1, "b", False)]
    s = summarize(rows, k=4)
    assert s["aha_rate"] == pytest.approx(3 / 7) and s["n_aha"] == 3
    assert s["acc_aha"] == pytest.approx(2 / 3) and s["acc_no_aha"] == 0.25


def test_summarize_retry_vs_stop_after_a_miss():
    rows = [row(0, "a", True, aha=True, miss=True, retry=True), row(0, "a", True, aha=True, miss=True, retry=True),
            row(0, "b", False, aha=True, miss=True, retry=True), row(0, "b", False, miss=True),
            row(1, "b", False, miss=True), row(1, "a", True, miss=True), row(1, "a", True)]  # last: no miss at all
    s = summarize(rows, k=4)
    assert s["n_retry_after_miss"] == 3 and s["acc_retry_after_miss"] == pytest.approx(2 / 3)
    assert s["n_stop_after_miss"] == 3 and s["acc_stop_after_miss"] == pytest.approx(1 / 3)


def test_summarize_verdict_accuracy_pools_the_checks():
    rows = [dict(row(0, "a", True), n_checks=3, n_checks_right=3, n_hit_checks=1, n_hit_checks_right=1),
            dict(row(1, "b", False), n_checks=1, n_checks_right=0, n_hit_checks=1, n_hit_checks_right=0),
            row(2, "c", False)]  # no checks written (or a judge_fn that does not count them)
    s = summarize(rows, k=1)
    assert s["verdict_acc"] == 0.75 and s["verdict_acc_on_hits"] == 0.5 and s["n_checks"] == 4
    assert s["verdict_acc_on_misses"] == 1.0  # the two checks whose values differ were both judged right
    assert summarize([row(0, "a", True)], k=1)["verdict_acc"] is None


def test_summarize_rate_without_any_qualifying_response_is_none():
    s = summarize([row(0, "a", True), row(1, "b", False)], k=1)
    assert s["acc_aha"] is None and s["acc_retry_after_miss"] is None and s["acc_stop_after_miss"] is None
    assert s["acc_no_aha"] == 0.5 and s["n_retry_after_miss"] == 0


def test_summarize_reasoning_vs_direct():
    rows = [row(0, "a", True), row(0, "b", False), row(1, "a", True, reasoning=False)]
    s = summarize(rows, k=2)
    assert s["acc_reasoning"] == 0.5 and s["acc_direct"] == 1.0 and s["n_reasoning"] == 2


# ----------------------------------------------------------------------------- evaluate (smoke)

def tiny_model(tok):
    torch.manual_seed(0)
    return GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size))


def check_result(result, n_problems, k, max_new_tokens):
    for key in METRICS + ("temperature",):
        assert key in result, key
    for group in ("by_family", "by_difficulty"):
        assert result[group], group
        for name, sub in result[group].items():
            assert all(key in sub for key in METRICS), (group, name)
    assert set(result["by_family"]) == {"countdown", "arithmetic", "linear"}
    assert set(result["by_difficulty"]) == {"1", "2", "3"}
    assert result["n_problems"] == n_problems and result["n_responses"] == n_problems * k and result["k"] == k
    assert 0 < result["mean_len"] <= max_new_tokens
    for key in ("pass@1", "cons@k", "format_rate", "lang_mix_rate", "aha_rate"):
        assert 0.0 <= result[key] <= 1.0, key


def test_evaluate_smoke_returns_the_report_keys():
    tok = get_tokenizer()
    model = tiny_model(tok).train()
    result = evaluate(model, tok, n_per_cell=1, k=2, max_new_tokens=16)
    check_result(result, n_problems=9, k=2, max_new_tokens=16)  # 3 families x 3 difficulties
    assert result["temperature"] == 0.6
    assert sum(r["n_responses"] for r in result["by_family"].values()) == 18
    assert model.training  # restored
    assert "pass@1" in format_table(result)


def test_evaluate_is_deterministic_in_the_seed():
    tok = get_tokenizer()
    model = tiny_model(tok)
    a = evaluate(model, tok, n_per_cell=1, k=2, max_new_tokens=12, temperature=1.0, seed=7)
    b = evaluate(model, tok, n_per_cell=1, k=2, max_new_tokens=12, temperature=1.0, seed=7)
    assert a == b


@pytest.mark.slow
def test_evaluate_cli_writes_the_json(tmp_path):
    tok = get_tokenizer()
    model = tiny_model(tok)
    ckpt = tmp_path / "model.pt"
    save_checkpoint(str(ckpt), {"model": model.state_dict(), "model_config": model.cfg.to_dict()})
    out = tmp_path / "e.json"
    r = subprocess.run([sys.executable, "-m", "nanor1.evaluate", f"--ckpt={ckpt}", f"--out={out}", "--n_per_cell=1",
                        "--k=2", "--max_new_tokens=16"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout
    check_result(json.loads(out.read_text()), n_problems=9, k=2, max_new_tokens=16)
    assert not os.path.exists(f"{out}.tmp")


def test_evaluate_keeps_only_the_requested_families_and_difficulties():
    tok = get_tokenizer()
    result = evaluate(tiny_model(tok), tok, n_per_cell=2, k=1, max_new_tokens=8, families=("linear",),
                      difficulties=(1, 2))
    assert set(result["by_family"]) == {"linear"} and set(result["by_difficulty"]) == {"1", "2"}
    assert result["n_problems"] == 4


@pytest.mark.slow
def test_evaluate_cli_rejects_a_bad_difficulty_before_loading_anything(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nanor1.evaluate", f"--ckpt={tmp_path / 'missing.pt'}",
                        "--difficulties=1,4"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": REPO})
    assert r.returncode != 0 and "--difficulties='1,4'" in r.stderr and "Traceback" not in r.stderr
