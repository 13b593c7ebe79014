"""The data of R1's SFT stages (recipe §5): the cold-start set (stage 1), the rejection-sampling
filter (stage 3) and the non-reasoning set mixed into stage 3. Used by train_r1.py; printable with

    python -m nanor1.r1_data            # a few cold-start examples, and the filter's verdict on
                                          some broken ones

Cold start: long, readable chains of thought from the task world's correct-by-construction traces,
in the R1 output format "reasoning, then a short summary, then the answer". Deviation: the summary
is the last sentence *inside* <think> (R1 puts it after the reasoning token), because the strict
format reward (recipe §9) accepts nothing between </think> and <answer>. Every example is in one
language (no code-switching) and verified: correct, or a countdown search that used up its tries and
says so.

Rejection sampling: keep a sampled response only if it is finished (not cut at the length cap),
well-formed, correct, single-language, and not a duplicate of one already kept for the same prompt;
every drop has a reason. Deviation: a countdown search that ends unresolved, as the cold start
taught, is kept when what it says is true (no try of it reaches the target): R1 keeps correct
responses only, and here a model fine-tuned on searches that always end in a hit searches on until
the length cap cuts it off.
"""
import collections
import dataclasses
import random
import re

from nanor1.rewards import (EOS, extract_answer, format_ok, is_lang_mixed, language_consistency,
                            register_reward, think_text)
from nanor1.tasks import (FAMILIES, GENERAL_FAMILIES, Habits, format_prompt, format_response,
                          sample_problem, solution_trace, trace_parts, verify)
from nanor1.tokenizer import get_tokenizer

# Long-CoT habits (recipe §5: "long, readable"): every countdown miss is followed by another try, up
# to four tries (four tries of five numbers fit the RL length cap), most arithmetic/linear results
# are checked by the inverse operation, some slips are caught and fixed. A share of the searches is
# not steered toward a hit, so some use up their tries and end unresolved: with searches that always
# end in a hit, the model learned to search on until the length cap cut it off, unfinished and
# unreadable (half of its countdown responses; docs/results.md).
COLD_START_HABITS = Habits(retry_after_miss=1.0, max_tries=4, free_search=0.4, check_inverse=0.8,
                           slip_rate=0.25, switch_lang=0.0)
SUMMARY = {"en": "Summary: the answer is {answer}.", "zh": "总结：答案是 {answer}。"}
NO_HIT = {"en": "no try reached the target", "zh": "没有一次凑出目标"}
UNRESOLVED = {"en": f"Summary: {NO_HIT['en']}; the answer is the last try, {{answer}}.",
              "zh": f"总结：{NO_HIT['zh']}，答案是最后一次尝试 {{answer}}。"}


def sft_example(problem, response: str) -> dict:
    """One SFT example: the R1-Zero prompt of the problem, the response, and what the example is
    about."""
    return {"prompt": format_prompt(problem), "response": response, "family": problem.family,
            "difficulty": problem.difficulty, "lang": problem.lang}


def cold_start_example(problem, rng: random.Random,
                       habits: Habits = COLD_START_HABITS) -> dict | None:
    """{"prompt", "response", ...} or None if the trace is not a single-language, well-formed answer
    that is either correct or a countdown search that used up its tries and says so (its answer is
    then its last, wrong, try)."""
    think, answer = trace_parts(problem, rng, habits)
    solved = verify(problem, answer)
    if not solved and problem.family != "countdown":
        return None
    summary = (SUMMARY if solved else UNRESOLVED)[problem.lang].format(answer=answer)
    response = format_response(f"{think} {summary}", answer)
    if not (format_ok(response) and language_consistency(response, problem) == 1.0):
        return None
    return sft_example(problem, response)


def build_cold_start(n: int, seed: int = 0, families=FAMILIES, zh: float = 0.3,
                     max_tokens: int = 0, habits: Habits = COLD_START_HABITS
                     ) -> tuple[list[dict], dict]:
    """n cold-start examples over the train split (deduplicated by problem); returns (examples,
    stats). max_tokens > 0 drops traces longer than that many tokens: the RL that follows samples at
    most its max_new_tokens, and a habit learned from traces that do not fit is a habit of being cut
    off, which is neither right nor readable (recipe §5: the cold start is there for
    readability)."""
    rng = random.Random(seed)
    out, seen, stats = [], set(), collections.Counter()
    tok = get_tokenizer() if max_tokens else None
    for _ in range(50 * n):
        if len(out) >= n:
            break
        p = sample_problem(rng, rng.choice(families), rng.randint(1, 3),
                           "zh" if rng.random() < zh else "en")
        if (p.family, p.data, p.lang) in seen:
            stats["duplicate_problem"] += 1
            continue
        ex = cold_start_example(p, rng, habits)
        if ex is None:
            stats["unverified_trace"] += 1
            continue
        if tok is not None and len(tok.encode(ex["response"])) > max_tokens:
            stats["too_long"] += 1
            continue
        seen.add((p.family, p.data, p.lang))
        out.append(ex)
        stats["unresolved_search"] += not verify(p, extract_answer(ex["response"]) or "")
    stats["kept"] = len(out)
    return out, dict(stats)


def general_examples(n: int, seed: int = 0, families=GENERAL_FAMILIES,
                     zh: float = 0.3) -> list[dict]:
    """Non-reasoning SFT data (stage 3): reference responses to train-split problems of the general
    families."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = sample_problem(rng, rng.choice(families), rng.randint(1, 3),
                           "zh" if rng.random() < zh else "en")
        out.append(sft_example(p, solution_trace(p, rng, Habits())))
    return out


# -----------------------------------------------------------------------------
# rejection sampling (stage 3)

DROP_REASONS = ("truncated", "malformed", "wrong", "mixed_language", "duplicate")
KEEP = ("keep", "keep_unresolved")
_TRIES = re.compile(r"(?:\btry|试)\s+([0-9+\-*/() ]+?)\s*[:：]")


def honest_unresolved(completion: str, problem) -> bool:
    """A countdown response that ends as the cold start taught (a search that used up its tries, a
    summary saying so), and whose claim is true: it shows at least one try, the answer is one of
    them, and none of them reaches the target. Every statement of it is checked, so it is kept as a
    correct one is: dropping it would leave the next model only searches that end in a hit, and
    those search on past the length cap (docs/results.md)."""
    if problem.family != "countdown":
        return False
    think = think_text(completion)
    if NO_HIT.get(problem.lang, NO_HIT["en"]) not in think:
        return False
    tries = [t.strip() for t in _TRIES.findall(think)]
    answer = (extract_answer(completion) or "").strip()
    return bool(tries) and answer in tries and not any(verify(problem, t) for t in tries)


@register_reward("honest_giveup")
def honest_giveup_reward(completion, problem) -> float:
    """1 for a well-formed countdown response that ends unresolved and says so truthfully
    (honest_unresolved): a reward that can make stopping pay more than searching on to the length
    cap (--reasoning_weights)."""
    return 1.0 if format_ok(completion) and honest_unresolved(completion, problem) else 0.0


def judge_sample(completion: str, problem, truncated: bool) -> str:
    """'keep', 'keep_unresolved' (honest_unresolved) or the first reason to drop, in the order of
    DROP_REASONS."""
    if truncated:
        return "truncated"
    if not format_ok(completion):
        return "malformed"
    kept = "keep"
    answer = extract_answer(completion)
    if answer is None or not verify(problem, answer):
        if not honest_unresolved(completion, problem):
            return "wrong"
        kept = "keep_unresolved"
    if is_lang_mixed(completion, problem) or language_consistency(completion, problem) < 1.0:
        return "mixed_language"
    return kept


def rejection_filter(samples: list[dict]) -> tuple[list[dict], dict]:
    """samples: [{"problem", "completion", "truncated"}] -> (kept SFT examples, counts per verdict).
    Duplicates: the same completion text (whitespace-normalised) for the same prompt is kept
    once."""
    kept, counts, seen = [], collections.Counter(), set()
    for s in samples:
        problem, text = s["problem"], s["completion"].replace(EOS, "").strip()
        verdict = judge_sample(text, problem, s["truncated"])
        key = (format_prompt(problem), " ".join(text.split()))
        if verdict in KEEP and key in seen:
            verdict = "duplicate"
        counts[verdict] += 1
        if verdict in KEEP:
            seen.add(key)
            kept.append(sft_example(problem, text))
    counts["drawn"] = len(samples)
    return kept, dict(counts)


if __name__ == "__main__":
    examples, stats = build_cold_start(6, seed=1)
    for ex in examples:
        print(ex["prompt"].split("User: ")[1], "\n  ", ex["response"], "\n")
    print("builder stats:", stats)
    p = sample_problem(random.Random(0), "linear", 2)
    for text, trunc in [(f"<think> x </think> <answer> {p.answer} </answer>", False),
                        (f"<think> x </think> <answer> {p.answer} </answer> more", False),
                        ("<think> x </think> <answer> 99999 </answer>", False),
                        (f"<think> x 等等 验算 </think> <answer> {p.answer} </answer>", False),
                        (f"<think> x </think> <answer> {p.answer}", True)]:
        print(f"{judge_sample(text, dataclasses.replace(p, lang='en'), trunc):15s} {text}")
