"""The evaluator: what the R1 report measures (recipe §6), on a fixed held-out set.

    python -m nanor1.evaluate --ckpt=out/base/model.pt --out=eval.json
    python -m nanor1.evaluate --ckpt=out/zero/model.pt --temperature=1.0  # at the RL sampling
                                                                            temperature
    python -m nanor1.evaluate --ckpt=... --families=countdown --difficulties=1,2  # one part of the
                                                                                    world
    torchrun --standalone --nproc_per_node=N -m nanor1.evaluate --ckpt=...  # the problems split
                                                                              over N GPUs

pass@1 is the mean correctness over k samples per problem at temperature 0.6, top-p 0.95 (greedy
decoding is discouraged for long-CoT models); cons@k is the majority vote over the same k samples;
pass@k the share of problems with at least one right sample among them (what RL can sharpen toward
without new skills, recipe §10). Also: format-valid rate, language-mix rate, mean response length
(tokens), "aha" rate (self-correction phrases, both languages), accuracy of responses with and
without self-correction, readability (rewards.is_readable: well-formed, finished, one language, no
loops, the answer derived in the reasoning), each broken down by family and difficulty. Under
torchrun each rank samples a contiguous share of the held-out problems and the judged rows are
gathered, so every rank returns the same result (nanor1/distributed.py). The samples differ from one
process's (each rank has its own generator): the same problems, the same statistics, other draws.

"Gate" statistics (does the behaviour RL should amplify pay off? recipe §9):
    acc_reasoning / acc_direct     responses with a worked chain of thought vs (near-)empty <think>
    acc_retry_after_miss / acc_stop_after_miss
                                   among responses whose thinking records a failed check ("29 vs 7:
                                   no."), those that go on after it vs those that stop there. The
                                   clean comparison for "does retrying help": after RL almost
                                   everyone retries, so acc_aha vs acc_no_aha mostly compares
                                   retries against first-try hits.
    verdict_acc / verdict_acc_on_hits / verdict_acc_on_misses
                                   of the checks a response writes ("29 vs 7: no.", "check: 56-44=12
                                   vs 12: yes."), the share whose verdict is right (yes exactly when
                                   the two values are equal), and the same among checks whose values
                                   are equal / differ. A check that guesses its verdict cannot make
                                   a retry pay: it says "no" to a hit or "yes" to a miss.
Every training script calls evaluate() from here.
"""
import collections
import json
import os
import re
import sys
from dataclasses import dataclass

import torch
from tqdm import tqdm

from nanor1 import preflight
from nanor1.checkpoint import CheckpointError, load_model
from nanor1.config import parse_overrides
from nanor1.distributed import (all_gather_object, cleanup, init_distributed, is_main, rank_seed,
                                shard)
from nanor1.metrics import write_atomic
from nanor1.rewards import (VERDICT_RE, extract_answer, format_ok, has_aha, is_lang_mixed,
                            is_readable, think_text)
from nanor1.sampler import SamplingParams, generate
from nanor1.tasks import (DIFFICULTIES, FAMILIES, format_prompt, heldout_set, parse_difficulties,
                          parse_families, verify)
from nanor1.tokenizer import get_tokenizer


@dataclass
class EvalConfig:
    ckpt: str = "out/base/model.pt"
    out: str = ""                  # JSON output path ("" : <ckpt dir>/eval.json)
    n_per_cell: int = 12           # held-out problems per (family, difficulty)
    k: int = 4                     # samples per problem
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 320
    seed: int = 1234               # fixes the held-out set and the sampling
    batch_prompts: int = 96        # prompts per sampler call (x k rows): the cpu presets' 72 in one
                                   # call
    families: str = ",".join(FAMILIES)
    difficulties: str = ",".join(map(str, DIFFICULTIES))
    show: int = 2                  # print this many sampled responses


MISS_RE = re.compile(r"\bno\b\s*\.|不对")          # a failed check: "29 vs 7: no." / "29 对 7：不对。"
DIRECT_THINK_CHARS = 8                              # a <think> shorter than this is a direct answer


def judge(completion: str, problem, n_tokens: int, truncated: bool) -> dict:
    """Per-response facts; everything reported is an average of these."""
    answer = extract_answer(completion)
    think = think_text(completion)
    miss = MISS_RE.search(think)
    checks = [(value == target, verdict in ("yes", "对"))
              for value, target, verdict in VERDICT_RE.findall(think)]
    return {
        "correct": bool(answer is not None and verify(problem, answer)),
        "answer": None if answer is None else re.sub(r"\s+", "", answer),
        "format": format_ok(completion),
        "mixed": is_lang_mixed(completion, problem),
        "aha": has_aha(completion),
        "len": n_tokens,
        "truncated": truncated,
        "reasoning": len(think.strip()) >= DIRECT_THINK_CHARS,
        "miss": miss is not None,
        "retry_after_miss": miss is not None and has_aha(think[miss.end():]),
        "readable": is_readable(completion, problem, truncated),
        "n_checks": len(checks), "n_checks_right": sum(equal == yes for equal, yes in checks),
        "n_hit_checks": sum(equal for equal, _ in checks),
        "n_hit_checks_right": sum(equal and yes for equal, yes in checks),
    }


def response_mark(correct: bool | None, well_formed: bool) -> str:
    """A response at a glance: "right" / "wrong" by the verifier (correct=None: a free question, no
    verifier), ", malformed" added when it breaks the strict format (judge()'s "format"; it is
    graded all the same)."""
    if correct is None:
        return "well-formed" if well_formed else "malformed"
    return ("right" if correct else "wrong") + ("" if well_formed else ", malformed")


def _rate(rows, key, where=None):
    sel = [r for r in rows if where is None or where(r)]
    return (sum(bool(r[key]) for r in sel) / len(sel)) if sel else None


def _verdicts(rows) -> dict:
    """Check-verdict accuracy pooled over the rows' checks: overall, on equal values (hits) and on
    unequal ones."""
    # .get: an experiment's judge_fn may return rows without the check counts
    n, right, hits, hits_right = (sum(r.get(k, 0) for r in rows)
                                  for k in ("n_checks", "n_checks_right", "n_hit_checks",
                                            "n_hit_checks_right"))

    def ratio(a, b):
        return a / b if b else None
    return {"verdict_acc": ratio(right, n), "verdict_acc_on_hits": ratio(hits_right, hits),
            "verdict_acc_on_misses": ratio(right - hits_right, n - hits), "n_checks": n}


def summarize(rows: list[dict], k: int) -> dict:
    """rows: one judge() dict per response, with "problem_id". Returns the metric keys of the
    evaluator JSON."""
    by_problem = collections.defaultdict(list)
    for r in rows:
        by_problem[r["problem_id"]].append(r)
    cons, any_right = [], []
    for rs in by_problem.values():
        any_right.append(any(r["correct"] for r in rs))
        votes = collections.Counter(r["answer"] for r in rs if r["answer"])
        if not votes:
            cons.append(False)
            continue
        top = votes.most_common(1)[0][0]  # ties: the answer seen first among the most common
        cons.append(next(r["correct"] for r in rs if r["answer"] == top))
    n = len(rows)
    return {
        "pass@1": _rate(rows, "correct"), "cons@k": sum(cons) / max(1, len(cons)),
        "pass@k": sum(any_right) / max(1, len(any_right)), "k": k,
        "format_rate": _rate(rows, "format"), "lang_mix_rate": _rate(rows, "mixed"),
        "mean_len": sum(r["len"] for r in rows) / max(1, n), "aha_rate": _rate(rows, "aha"),
        "acc_aha": _rate(rows, "correct", lambda r: r["aha"]),
        "acc_no_aha": _rate(rows, "correct", lambda r: not r["aha"]),
        "n_aha": sum(r["aha"] for r in rows), "truncation_rate": _rate(rows, "truncated"),
        "readable_rate": _rate(rows, "readable"),
        "acc_reasoning": _rate(rows, "correct", lambda r: r["reasoning"]),
        "acc_direct": _rate(rows, "correct", lambda r: not r["reasoning"]),
        "n_reasoning": sum(r["reasoning"] for r in rows),
        "acc_retry_after_miss": _rate(rows, "correct", lambda r: r["retry_after_miss"]),
        "acc_stop_after_miss": _rate(rows, "correct",
                                     lambda r: r["miss"] and not r["retry_after_miss"]),
        "n_retry_after_miss": sum(r["retry_after_miss"] for r in rows),
        "n_stop_after_miss": sum(r["miss"] and not r["retry_after_miss"] for r in rows),
        **_verdicts(rows),
        "n_responses": n, "n_problems": len(by_problem),
    }


@torch.no_grad()
def evaluate(model, tok, *, n_per_cell=12, k=4, temperature=0.6, top_p=0.95, max_new_tokens=320,
             seed=1234, batch_prompts=96, families=FAMILIES, difficulties=DIFFICULTIES,
             return_samples=0, langs=("en", "zh"), prompt_fn=format_prompt, judge_fn=judge,
             return_rows=False) -> dict:
    """Sample k responses per held-out problem and measure them. Returns the evaluator JSON as a
    dict.

    langs keeps the held-out problems of those prompt languages. prompt_fn(problem) -> str and
    judge_fn(text, problem, n_tokens, truncated) -> dict let an experiment change the template or
    add per-response facts (experiments/: a tag-free template, process-reward step counts); judge_fn
    must return at least judge()'s keys. return_rows=True adds every per-response dict as
    result["rows"]."""
    was_training = model.training
    model.eval()
    problems = [p for p in heldout_set(n_per_cell, seed=seed, families=families,
                                       difficulties=difficulties)
                if p.lang in langs]
    params = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                            stop_token_ids=(tok.answer_end_id,))
    device = next(model.parameters()).device
    gen_rng = torch.Generator(device).manual_seed(rank_seed(seed))
    mine = shard(list(enumerate(problems)), even=False)  # (problem_id, problem): this rank's share
    rows, samples = [], []
    bar = tqdm(total=len(mine) * k, desc="held-out eval", unit="response", leave=False,
               dynamic_ncols=True,
               # a minute or more of silence otherwise
               disable=not sys.stderr.isatty() or not is_main())
    for start in range(0, len(mine), batch_prompts):
        ids, batch = zip(*mine[start:start + batch_prompts])
        gen = generate(model, [tok.encode(prompt_fn(p)) for p in batch], k, params,
                       pad_id=tok.pad_id,
                       eos_id=tok.eos_id, generator=gen_rng, on_finished=bar.update)
        texts = gen.completions(tok)
        for row, text in enumerate(texts):
            i = gen.prompt_index[row].item()
            p = batch[i]
            r = judge_fn(text, p, int(gen.lengths[row]), gen.finish_reason[row] == "length")
            r.update(problem_id=ids[i], family=p.family, difficulty=p.difficulty, lang=p.lang)
            rows.append(r)
            if len(samples) < return_samples and row % k == 0:
                samples.append({"question": p.question, "response": text, "correct": r["correct"],
                                "format": r["format"], "len": r["len"]})
    bar.close()
    model.train(was_training)
    # every rank's rows, in problem order
    rows = [r for part in all_gather_object(rows) for r in part]
    samples = [s for part in all_gather_object(samples) for s in part][:return_samples]
    result = summarize(rows, k)
    result.update(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    result["by_family"] = {f: summarize([r for r in rows if r["family"] == f], k) for f in families}
    result["by_difficulty"] = {str(d): summarize([r for r in rows if r["difficulty"] == d], k)
                               for d in difficulties}
    # language mixing is a property of Chinese prompts (recipe §7): report the prompt languages
    # apart
    result["by_lang"] = {lang: summarize([r for r in rows if r["lang"] == lang], k)
                         for lang in ("en", "zh")}
    if return_samples:
        result["samples"] = samples
    if return_rows:
        result["rows"] = rows
    return result


# -----------------------------------------------------------------------------
# paired comparisons: two models on the same held-out problems

def by_problem(rows: list[dict], key: str = "correct") -> dict[str, float]:
    """Per held-out problem (its id, a string: JSON keys), the share of its responses whose `key` is
    true."""
    groups = collections.defaultdict(list)
    for r in rows:
        groups[str(r["problem_id"])].append(float(r[key]))
    return {pid: sum(v) / len(v) for pid, v in groups.items()}


def paired_difference(a: dict[str, float], b: dict[str, float]) -> dict:
    """a - b, two models' by_problem shares on the problems both answered: the mean difference and
    its 95% interval (1.96 standard errors of the per-problem differences). Pairing removes the
    problems' own difficulty from the noise: the interval is narrower than that of two independent
    rows."""
    diffs = [a[pid] - b[pid] for pid in sorted(set(a) & set(b), key=lambda pid: (len(pid), pid))]
    n = len(diffs)
    mean = sum(diffs) / n if n else 0.0
    if n < 2:  # no spread to estimate
        return {"n_problems": n, "diff": mean, "ci95": None, "lo": None, "hi": None}
    sd = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5
    half = 1.96 * sd / n ** 0.5
    return {"n_problems": n, "diff": mean, "ci95": half, "lo": mean - half, "hi": mean + half}


def _fmt(v, pct=True):
    if v is None:
        return "    -"
    return f"{100 * v:5.1f}" if pct else f"{v:5.0f}"


# the table's columns: (result key, header, a rate in %?)
TABLE_COLUMNS = [("pass@1", "pass@1", True), ("cons@k", "cons@k", True), ("pass@k", "pass@k", True),
                 ("format_rate", "format", True), ("lang_mix_rate", "mixed", True),
                 ("mean_len", "tokens", False),
                 ("aha_rate", "aha", True), ("acc_aha", "acc|aha", True),
                 ("acc_no_aha", "acc|none", True), ("readable_rate", "readable", True)]
TABLE_LEGEND = ("format: strict <think>/<answer> form; mixed: mixes languages; tokens: mean "
                "length; aha: has a\n"
                "self-correction (\"Wait\", ...); acc|aha, acc|none: pass@1 with / without one; "
                "readable: "
                "well-formed, finished,\none language, no loop")


def format_table(result: dict) -> str:
    """Fixed-width table: overall, per family, per difficulty, per prompt language; a legend; the
    gate line."""
    cols = [(key, pct) for key, _, pct in TABLE_COLUMNS]
    head = f"{'':14s} " + " ".join(f"{name:>8s}" for _, name, _ in TABLE_COLUMNS) + f" {'n':>5s}"
    lines = [f"held-out evaluation, T={result['temperature']}, k={result['k']} (rates in %)", head]

    def line(name, r):
        return (f"{name:14s} " + " ".join(f"{_fmt(r[c], p):>8s}" for c, p in cols)
                + f" {r['n_responses']:5d}")
    lines.append(line("all", result))
    for f, r in result["by_family"].items():
        lines.append(line(f, r))
    for d, r in result["by_difficulty"].items():
        lines.append(line(f"difficulty {d}", r))
    for lang, r in result.get("by_lang", {}).items():
        lines.append(line(f"prompts {lang}", r))
    lines.append(TABLE_LEGEND)
    g = result  # does the reasoning carry the answers? (the base's gate, docs/results.md)
    lines.append("gate (pass@1 of responses that reason vs answer at once; after a failed check, "
                 "of those that "
                 "retry vs stop;\nchecks whose verdict is right):")
    lines.append(f"gate: acc reasoning {_fmt(g['acc_reasoning'])}% (n={g['n_reasoning']}) vs "
                 "direct "
                 f"{_fmt(g['acc_direct'])}% (n={g['n_responses'] - g['n_reasoning']}); after a "
                 "miss: retry "
                 f"{_fmt(g['acc_retry_after_miss'])}% (n={g['n_retry_after_miss']}) vs stop "
                 f"{_fmt(g['acc_stop_after_miss'])}% (n={g['n_stop_after_miss']}); check verdicts "
                 "right "
                 f"{_fmt(g['verdict_acc'])}% (n={g['n_checks']}; on hits "
                 f"{_fmt(g['verdict_acc_on_hits']).strip()}%, on "
                 f"misses {_fmt(g['verdict_acc_on_misses']).strip()}%)")
    return "\n".join(lines)


def main(argv):
    cfg = parse_overrides(EvalConfig(), argv)
    # before any loading
    families, difficulties = parse_families(cfg.families), parse_difficulties(cfg.difficulties)
    tok = get_tokenizer()
    try:
        model, _ = load_model(cfg.ckpt, init_distributed())
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    preflight.check_eval(model.cfg, cfg.max_new_tokens, families, difficulties,
                         n_per_cell=cfg.n_per_cell, k=cfg.k, batch_prompts=cfg.batch_prompts)
    result = evaluate(model, tok, n_per_cell=cfg.n_per_cell, k=cfg.k, temperature=cfg.temperature,
                      top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                      batch_prompts=cfg.batch_prompts, families=families, difficulties=difficulties,
                      return_samples=cfg.show)
    print(format_table(result))
    for s in result.get("samples", []):
        print(f"\n[{response_mark(s['correct'], s['format'])}] {s['question']}\n  -> "
              f"{s['response'][:400]}")
    out = cfg.out or os.path.join(os.path.dirname(cfg.ckpt) or ".", "eval.json")
    if is_main():
        write_atomic(out, json.dumps(result, indent=1))
    print(f"\nwrote {out}")
    cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
