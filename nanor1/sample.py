"""Sample from any checkpoint and read what the model writes, each response judged.

    python -m nanor1.sample --ckpt=out/zero/model.pt       # a held-out countdown problem, 4 samples
    python -m nanor1.sample --ckpt=out/zero/best.pt --family=linear --difficulty=2 --lang=zh --n=8
    python -m nanor1.sample --ckpt=out/base_cpu/model.pt \
        --question="Using the numbers 3 5 7, reach the target 22"
    python -m nanor1.sample --ckpt=out/r1/stage2_reasoning_rl/model.pt --interactive   # keep asking

Every checkpoint the project writes holds a language model: the base (nanor1.pretrain), train_zero's
model.pt and best.pt (training state, the optimizer is ignored), each stage of train_r1.py, SFT
runs. The question is wrapped in the R1-Zero template (nanor1.tasks.format_prompt) and sampled with
the evaluator's defaults (T=0.6, top-p 0.95), stopping at </answer>. Each response is printed with
    its verdict   right / wrong by the task's verifier for a held-out problem, ", malformed" if it
                  breaks the strict format; for a free question (--question, or typed in) only
                  well-formed or malformed
    its length    in tokens, the stop token included (what the evaluator's mean_len counts)
    its "aha"     the self-correction sentences nanor1.rewards detects ("Wait, ...", "等等，..."), in
                  colour on a terminal, between ** ** otherwise
Interactive mode reads one question per line; an empty line draws the next held-out problem, q (or
EOF) quits.
"""
import random
import sys
from dataclasses import dataclass

import torch

from nanor1.checkpoint import CheckpointError, load_model
from nanor1.config import parse_overrides
from nanor1.distributed import init_distributed
from nanor1.evaluate import response_mark
from nanor1.rewards import aha_spans, extract_answer, format_ok
from nanor1.sampler import SamplingParams, generate
from nanor1.tasks import (DIFFICULTIES, FAMILIES, LANGS, R1_TEMPLATE, format_prompt, sample_problem,
                          verify)
from nanor1.tokenizer import get_tokenizer


@dataclass
class SampleConfig:
    ckpt: str = "out/zero/model.pt"
    question: str = ""             # a free question ("" : a held-out problem drawn by
                                   # family/difficulty/lang)
    family: str = "countdown"      # countdown | arithmetic | linear
    difficulty: int = 1            # 1 (easy) .. 3 (hard)
    lang: str = "en"               # en | zh: the language of the held-out problem's prompt
    interactive: bool = False      # keep asking for questions on stdin
    n: int = 4                     # samples per question
    temperature: float = 0.6       # 0: greedy
    top_p: float = 0.95
    max_new_tokens: int = 400      # what training and the evaluator allow (long searches are cut at
                                   # 320)
    seed: int = 0                  # fixes the held-out problems drawn and the sampling
    color: str = "auto"            # auto (on a terminal) | always | never
    device: str = "auto"


# ANSI colours: verdicts, and the self-correction sentences
GREEN, RED, YELLOW, BOLD, RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m"


def highlight_aha(text: str, color: bool) -> str:
    """The response with each self-correction sentence in bold yellow (color) or between ** **
    (plain text)."""
    out, last = [], 0
    for a, b in aha_spans(text):
        open_, close = (BOLD + YELLOW, RESET) if color else ("**", "**")
        out += [text[last:a], open_, text[a:b], close]
        last = b
    return "".join(out + [text[last:]])


def paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text


def response_block(i: int, n: int, text: str, n_tokens: int, truncated: bool, problem,
                   color: bool) -> str:
    """One judged response: a header line (verdict, length, self-corrections), then the text."""
    correct = None if problem is None else verify(problem, extract_answer(text))
    mark = response_mark(correct, format_ok(text))
    code = YELLOW if "malformed" in mark else GREEN if correct or correct is None else RED
    n_aha = len(aha_spans(text))
    facts = [paint(mark, BOLD + code, color),
             f"{n_tokens} tokens" + (" (cut at max_new_tokens)" if truncated else ""),
             f"{n_aha} self-correction{'s' if n_aha != 1 else ''}"]
    return (f"--- sample {i + 1}/{n}: " + " | ".join(facts) + "\n"
            + highlight_aha(text.strip(), color))


def ask(model, tok, question: str, problem, cfg: SampleConfig, gen: torch.Generator,
        color: bool) -> list[str]:
    """Sample cfg.n responses to one question (problem: the held-out Problem it is, or None) and
    print them."""
    prompt = format_prompt(problem) if problem is not None else R1_TEMPLATE.format(prompt=question)
    params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p,
                            max_new_tokens=cfg.max_new_tokens, stop_token_ids=(tok.answer_end_id,))
    out = generate(model, [tok.encode(prompt)], cfg.n, params, pad_id=tok.pad_id, eos_id=tok.eos_id,
                   generator=gen)
    texts = out.completions(tok)
    for i, text in enumerate(texts):
        print(response_block(i, cfg.n, text, int(out.lengths[i]), out.finish_reason[i] == "length",
                             problem, color))
    if problem is not None:
        right = sum(verify(problem, extract_answer(t)) for t in texts)
        print(f"=== {right}/{cfg.n} right, {sum(bool(aha_spans(t)) for t in texts)} with a "
              "self-correction, "
              f"mean length {float(out.lengths.float().mean()):.0f} tokens")
    return texts


def heldout_problem(rng: random.Random, cfg: SampleConfig):
    p = sample_problem(rng, cfg.family, cfg.difficulty, cfg.lang, split="heldout")
    print(f"\nheld-out {p.family}, difficulty {p.difficulty}, {p.lang}: {p.question}   (one "
          f"answer: {p.answer})")
    return p


def check(cfg: SampleConfig) -> None:
    """Reject bad choices before the checkpoint is loaded (status 2, like a bad flag)."""
    for name, value, choices in (("family", cfg.family, FAMILIES),
                                 ("difficulty", cfg.difficulty, DIFFICULTIES),
                                 ("lang", cfg.lang, LANGS),
                                 ("color", cfg.color, ("auto", "always", "never"))):
        if value not in choices:
            print(f"error: --{name}={value!r}: choose one of {', '.join(map(str, choices))}",
                  file=sys.stderr)
            raise SystemExit(2)
    if cfg.n < 1 or cfg.max_new_tokens < 1:
        print("error: --n and --max_new_tokens must be at least 1", file=sys.stderr)
        raise SystemExit(2)


def main(argv):
    cfg = parse_overrides(SampleConfig(), argv)
    check(cfg)
    tok = get_tokenizer()
    try:
        model, _ = load_model(cfg.ckpt, init_distributed(cfg.device))
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    model.eval()
    color = cfg.color == "always" or (cfg.color == "auto" and sys.stdout.isatty())
    rng, gen = (random.Random(cfg.seed),
                torch.Generator(next(model.parameters()).device).manual_seed(cfg.seed))
    print(f"{cfg.ckpt}: {model.num_params() / 1e6:.2f}M parameters; {cfg.n} samples per question "
          "at "
          f"T={cfg.temperature}, top-p {cfg.top_p}, at most {cfg.max_new_tokens} new tokens")
    if not cfg.interactive:
        try:
            if cfg.question:
                print(f"\nquestion: {cfg.question}")
                ask(model, tok, cfg.question, None, cfg, gen, color)
            else:
                ask(model, tok, "", heldout_problem(rng, cfg), cfg, gen, color)
        except ValueError as e:  # the prompt leaves no room under the model's max_seq_len
            raise SystemExit(f"error: {e}") from None
        return
    print(f"type a question (the R1-Zero template is added); empty line: a held-out {cfg.family} "
          "problem "
          f"(difficulty {cfg.difficulty}, {cfg.lang}); q: quit")
    while True:
        try:
            line = input("question> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line in ("q", "quit", "exit"):
            return
        try:
            if line:
                ask(model, tok, line, None, cfg, gen, color)
            else:
                ask(model, tok, "", heldout_problem(rng, cfg), cfg, gen, color)
        except ValueError as e:
            print(f"error: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
