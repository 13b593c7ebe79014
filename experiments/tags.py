"""Claim: the <think>/<answer> template cuts malformed and hallucinated answers (R1 report §2.2.2; recipe §4, §7).

    python experiments/tags.py                  # cpu preset: 2 templates x 3 seeds x 20 RL steps from out/base_cpu_v1
    python experiments/tags.py --preset=tiny    # the CI size (< 60 s)

Two arms from the same base, same GRPO settings and budget; only the contract differs:
    tags    the R1-Zero template; answer = inside <answer>...</answer>; reward accuracy + 0.25 x format (anchored)
    plain   "Question: {q}\\nSolution:" (zh: "问题：{q}\\n解答："); answer = the line after the last "Answer:" /
            "答案："; reward accuracy + 0.25 x plain format (no tags, one answer line, at the end)
Measured on held-out problems, each arm under its own contract:
    unparseable     no answer can be extracted, or it is not a well-formed number / expression for its family
    confident_wrong a well-formed, wrong answer whose own reasoning did not flag a miss (its last check, if any,
                    says yes: "29 vs 29: yes." / no check at all). Countdown traces that give up after "no." and
                    answer their last try know they are wrong: those are not counted.
    unsupported     a well-formed answer that appears nowhere in its reasoning (stated, not derived)
    tag_leak        (plain arm) responses that write a tag although the template never mentions one

The confound: the base was pretrained on both formats, tagged documents (the R1 template, 15% of documents; its
short tail, another 15%) and this plain format ("Question/Solution/Answer", 15%; nanor1/corpus.py PLAIN_FORMATS).
The plain arm therefore uses exactly the corpus' plain format, so neither arm asks for a format the base never saw;
both arms' base rates (step 0) are reported, and the claim is judged on what RL does to each from there. What
remains: the base saw tagged answers about twice as often, and the tags are single tokens (nanor1/tokenizer.py).
Writes <out_dir>/tags.json and tags.png.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (arm_summary, ensure_base, grpo_config, parse, plot_arms, print_arm_table, run_arm,  # noqa: E402
                    runs_of, write_result)

from nanor1.evaluate import judge  # noqa: E402
from nanor1.parse import parse_expression_numbers, parse_number  # noqa: E402
from nanor1.rewards import TAGS, extract_answer, think_text  # noqa: E402
from nanor1.tasks import verify  # noqa: E402

PLAIN_PROMPT = {"en": "Question: {q}\nSolution:", "zh": "问题：{q}\n解答："}
ANSWER_MARKS = ("Answer:", "答案：")
EOS = "<|eos|>"
_VERDICT_RE = re.compile(r"[:：]\s*(yes|no|对|不对)\s*[.。]")


def plain_prompt(problem) -> str:
    return PLAIN_PROMPT[problem.lang].format(q=problem.question)


def _last_mark(text: str) -> tuple[int, str]:
    return max((text.rfind(m), m) for m in ANSWER_MARKS)


def extract_plain(text) -> str | None:
    """The rest of the line after the last "Answer:" / "答案："; None if there is none or it is empty."""
    pos, mark = _last_mark(text)
    if pos < 0:
        return None
    answer = text[pos + len(mark):].split("\n", 1)[0].replace(EOS, "").strip()
    return answer or None


def plain_reasoning(text) -> str:
    pos, _ = _last_mark(text)
    return text if pos < 0 else text[:pos]


def plain_format_ok(text) -> bool:
    """No tags; exactly one answer mark, at the start of a line; one non-empty answer line, then nothing."""
    s = text.replace(EOS, "").rstrip()
    if any(t in s for t in TAGS) or sum(s.count(m) for m in ANSWER_MARKS) != 1:
        return False
    pos, mark = _last_mark(s)
    return s[:pos].endswith("\n") and bool(s[pos + len(mark):].strip()) and "\n" not in s[pos + len(mark):].strip()


def well_formed(answer, problem) -> bool:
    if answer is None:
        return False
    if problem.family == "countdown":
        return parse_expression_numbers(answer, allow_unary=False) is not None
    text = answer.split("=", 1)[1] if answer.replace(" ", "").lower().startswith("x=") else answer
    return parse_number(text) is not None


def contract_facts(answer, reasoning, problem) -> dict:
    ok_form = well_formed(answer, problem)
    correct = ok_form and verify(problem, answer)
    verdicts = _VERDICT_RE.findall(reasoning)
    flagged_miss = bool(verdicts) and verdicts[-1] in ("no", "不对")
    squash = lambda s: re.sub(r"\s+", "", s)  # noqa: E731
    return {"correct": correct, "unparseable": not ok_form,
            "confident_wrong": ok_form and not correct and not flagged_miss,
            "unsupported": ok_form and squash(answer) not in squash(reasoning)}


def judge_tags(text, problem, n_tokens, truncated):
    r = judge(text, problem, n_tokens, truncated)
    return {**r, **contract_facts(extract_answer(text), think_text(text), problem), "tag_leak": False}


def judge_plain(text, problem, n_tokens, truncated):
    r = judge(text, problem, n_tokens, truncated)
    answer = extract_plain(text)
    facts = contract_facts(answer, plain_reasoning(text), problem)
    return {**r, **facts, "answer": answer, "format": plain_format_ok(text), "tag_leak": any(t in text for t in TAGS)}


def plain_reward(text, problem, step):
    acc = 1.0 if judge_plain(text, problem, 0, False)["correct"] else 0.0
    fmt = 1.0 if plain_format_ok(text) else 0.0
    return acc + 0.25 * fmt, {"accuracy": acc, "format": fmt}


def contract_metrics(res: dict) -> dict:
    rows = res["rows"]
    n = max(1, len(rows))
    out = {k: sum(r[k] for r in rows) / n for k in ("unparseable", "confident_wrong", "unsupported", "tag_leak")}
    out["pass@1"] = sum(r["correct"] for r in rows) / n  # the arm's own contract (plain: evaluate's judge uses tags)
    out["format_rate"] = sum(bool(r["format"]) for r in rows) / n
    return out


ARMS = {"tags": dict(eval_kw=dict(judge_fn=judge_tags, return_rows=True)),
        "plain": dict(eval_kw=dict(judge_fn=judge_plain, prompt_fn=plain_prompt, return_rows=True),
                      trainer_kw=dict(prompt_fn=plain_prompt, reward_fn=plain_reward))}
KEYS = ("pass@1", "unparseable", "confident_wrong", "unsupported", "format_rate", "tag_leak", "mean_len")


def main(argv):
    cfg = parse(argv, "tags")
    base = ensure_base(cfg)
    by_arm = {arm: [run_arm(cfg, base, arm, grpo_config(cfg, seed), extra=contract_metrics, **kw)
                    for seed in range(cfg.seeds)] for arm, kw in ARMS.items()}
    summary = arm_summary(by_arm, KEYS)
    print(f"\nheld-out, each arm under its own contract; base (step 0) -> after {cfg.steps} RL steps, "
          f"mean +- std over {cfg.seeds} seeds:")
    print_arm_table(summary, KEYS)
    plot_arms(by_arm, [("pass@1", "held-out pass@1", "curve"), ("unparseable", "unparseable answers", "curve"),
                       ("confident_wrong", "confident wrong answers", "curve"),
                       ("unsupported", "answer not in reasoning", "curve"),
                       ("format_rate", "format (own contract)", "curve")],
              os.path.join(cfg.out_dir, "tags.png"), "R1 tags vs tag-free Answer: (same base and budget)")
    samples = {arm: res[0]["curve"][-1]["samples"] for arm, res in by_arm.items()}
    print("wrote " + write_result(cfg, "tags", {"base": base, "summary": summary, "samples_final": samples,
                                              "runs": runs_of(by_arm)}))


if __name__ == "__main__":
    main(sys.argv[1:])
