"""A learned preference reward: a small transformer with a scalar head, trained on (chosen,
rejected) pairs with the Bradley-Terry loss. R1 stage 4 scores general (non-reasoning) prompts with
such a model, reasoning prompts with rules (recipe §3, §5). The score is the head applied to the
mean final hidden state of the response.

    from nanor1.reward_model import RewardModel, preference_pairs, train_reward_model
    rm = RewardModel.from_policy(model)              # backbone initialised from a policy checkpoint
    train_reward_model(rm, preference_pairs(random.Random(0), 2000), RMConfig())
    rm.score(tok, prompts, responses)                   # (B,) float scores

Bradley-Terry: P(chosen > rejected) = sigmoid(r(chosen) - r(rejected)); the loss is -log of that.

The pairs are synthetic, from the non-reasoning family (nanor1/tasks/translate.py): chosen = a
correct, well-formed, single-language response; rejected = the same response with one realistic flaw
(a wrong answer: a number changed; the sentence left untranslated; an answer cut short; thinking in
the other language; broken tags). A reward model learns which flaws it can see cheaply; what it
cannot tell apart, RL against it will not fix (reward hacking; recipe §3), which is why R1 used it
only in the last part of the final stage, and why train_r1.py measures the task with the exact
verifier.
"""
import dataclasses
import math
import random
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from nanor1.model import GPT
from nanor1.sampler import left_pad
from nanor1.tasks import (GENERAL_FAMILIES, Habits, format_prompt, format_response, sample_problem,
                          solution_trace, trace_parts, translate, wrong_answer)
from nanor1.tokenizer import get_tokenizer


class RewardModel(nn.Module):
    def __init__(self, backbone: GPT):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.cfg.n_embd, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_policy(cls, policy: GPT) -> "RewardModel":
        """A copy of the policy's weights as the backbone (RMs start from an SFT model: it already
        reads the text)."""
        backbone = GPT(policy.cfg).to(next(policy.parameters()).device)
        backbone.load_state_dict(policy.state_dict())
        return cls(backbone)

    def forward(self, ids: torch.Tensor, pad: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """ids (B, T) left-padded, pad (B,), start (B,) the first column of each row's response
        (encode gives all three) -> scores (B,): the head on the mean hidden state of the response's
        tokens. Mean, not the last token: every response ends "</answer> <eos>", and a flaw such as
        an answer in the wrong language is a property of many positions, which a mean carries
        directly (measured: read at the last token, the reward model could not tell an untranslated
        answer from a translation, 40% held-out pair accuracy). The response only: template and
        question are 100-360 tokens, and in a mean over prompt and response the few tokens where
        chosen and rejected differ weigh little (docs/results.md)."""
        hidden = self.backbone(ids, pad=pad, return_hidden=True)                    # (B, T, C)
        cols = torch.arange(ids.size(1), device=ids.device)
        # (B, T, 1): the response
        keep = (cols[None, :] >= start[:, None]).float().unsqueeze(-1)
        pooled = (hidden * keep).sum(1) / keep.sum(1).clamp(min=1)                  # (B, C)
        return self.head(pooled).squeeze(-1)

    def encode(self, tok, prompts: list[str], responses: list[str]):
        """-> ids (B, T) left-padded, pad (B,), start (B,): where each row's response (with its
        <eos>) begins."""
        limit = self.backbone.cfg.max_seq_len
        seqs, lens = [], []
        for p, r in zip(prompts, responses):
            resp = tok.encode(r) + [tok.eos_id]
            seqs.append(([tok.bos_id] + tok.encode(p) + resp)[-limit:])  # keep the end: the answer
            lens.append(min(len(resp), limit))
        ids, pad = left_pad(seqs, tok.pad_id, next(self.parameters()).device)
        return ids, pad, torch.tensor([ids.size(1) - n for n in lens], device=ids.device)

    @torch.no_grad()
    def score(self, tok, prompts: list[str], responses: list[str],
              batch_size: int = 64) -> torch.Tensor:
        was = self.training
        self.eval()
        out = []
        for a in range(0, len(prompts), batch_size):
            out.append(self(*self.encode(tok, prompts[a:a + batch_size],
                                         responses[a:a + batch_size])))
        self.train(was)
        return torch.cat(out) if out else torch.zeros(0)


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(r_c - r_r), mean over pairs (logsigmoid is the stable form)."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


# -----------------------------------------------------------------------------
# synthetic preference pairs

FLAWS = ("wrong_answer", "untranslated", "cut_short", "think_language", "broken_format")
# most pairs differ in the answer itself: the hard, useful case. "untranslated" has its own share
# because RL against a reward model that could not tell it apart learned exactly that (the answer =
# the question's sentence; README)
FLAW_WEIGHTS = (0.4, 0.25, 0.1, 0.1, 0.15)


def rejected_response(problem, rng: random.Random, flaw: str) -> str:
    think, answer = trace_parts(problem, rng, Habits())
    if flaw == "wrong_answer":
        return format_response(think, wrong_answer(problem, rng))
    if flaw == "untranslated":
        return format_response(think, translate.source(problem.data))
    if flaw == "cut_short":
        return format_response(think, answer[:max(1, len(answer) // 2)].rstrip())
    if flaw == "think_language":
        other = trace_parts(dataclasses.replace(problem,
                                                lang="zh" if problem.lang == "en" else "en"),
                            rng, Habits())[0]
        return format_response(other, answer)
    cut = rng.choice(("no_answer_tag", "no_think", "trailing"))
    if cut == "no_answer_tag":
        return f"<think> {think} </think> {answer}"
    if cut == "no_think":
        return f"<answer> {answer} </answer>"
    return format_response(think, answer) + " " + answer


def preference_pairs(rng: random.Random, n: int, split: str = "train") -> list[dict]:
    """n pairs {"prompt", "chosen", "rejected", "flaw"} over general (non-reasoning) problems of
    `split`."""
    pairs = []
    for _ in range(n):
        p = sample_problem(rng, rng.choice(GENERAL_FAMILIES), rng.randint(1, 3), split=split)
        flaw = rng.choices(FLAWS, FLAW_WEIGHTS)[0]
        pairs.append({"prompt": format_prompt(p), "chosen": solution_trace(p, rng, Habits()),
                      "rejected": rejected_response(p, rng, flaw), "flaw": flaw})
    return pairs


@torch.no_grad()
def policy_pairs(policy, tok, rng: random.Random, n_prompts: int, k: int = 4,
                 temperature: float = 1.0, max_new_tokens: int = 200,
                 split: str = "train") -> list[dict]:
    """Pairs of the policy's own responses to general problems of `split`: k samples a prompt, and
    for each prompt with both a right and a wrong answer among them (the exact checker as the
    labeller), up to min(right, wrong) pairs, each sample used once, flaw "policy". A reward model
    trained on the synthetic flaws alone misses the mistakes the policy actually makes; comparisons
    of the policy's samples are what R1's preference data were."""
    from nanor1.rewards import extract_answer
    from nanor1.sampler import SamplingParams, generate
    from nanor1.tasks import verify
    problems = [sample_problem(rng, rng.choice(GENERAL_FAMILIES), rng.randint(1, 3), split=split)
                for _ in range(n_prompts)]
    params = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens,
                            stop_token_ids=(tok.answer_end_id,))
    gen_rng = torch.Generator(next(policy.parameters()).device).manual_seed(rng.randrange(2 ** 31))
    pairs = []
    for a in range(0, len(problems), 32):
        batch = problems[a:a + 32]
        gen = generate(policy, [tok.encode(format_prompt(p)) for p in batch], k, params,
                       pad_id=tok.pad_id, eos_id=tok.eos_id, generator=gen_rng)
        groups = [([], []) for _ in batch]
        for row, text in enumerate(gen.completions(tok)):
            i = gen.prompt_index[row].item()
            groups[i][0 if verify(batch[i], extract_answer(text) or "") else 1].append(text)
        for p, (right, wrong) in zip(batch, groups):
            pairs += [{"prompt": format_prompt(p), "chosen": c, "rejected": r, "flaw": "policy"}
                      for c, r in zip(right, wrong)]
    return pairs


# -----------------------------------------------------------------------------
# training

@dataclass
class RMConfig:
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0


def pair_accuracy(rm: RewardModel, pairs: list[dict], tok=None) -> dict:
    """Share of pairs where r(chosen) > r(rejected), overall and per flaw."""
    tok = tok or get_tokenizer()
    rc = rm.score(tok, [p["prompt"] for p in pairs], [p["chosen"] for p in pairs])
    rr = rm.score(tok, [p["prompt"] for p in pairs], [p["rejected"] for p in pairs])
    right = (rc > rr).tolist()
    out = {"accuracy": sum(right) / max(1, len(right))}
    for flaw in (*FLAWS, "policy"):
        sel = [r for r, p in zip(right, pairs) if p["flaw"] == flaw]
        if sel:
            out[flaw] = sum(sel) / len(sel)
    return out


def train_reward_model(rm: RewardModel, pairs: list[dict], cfg: RMConfig, log=None,
                       quiet=False) -> dict:
    """Bradley-Terry training over the pairs; returns {"loss", "steps", "seconds"}."""
    tok = get_tokenizer()

    def batch_loss(batch):
        prompts = [p["prompt"] for p in batch] * 2
        # (2b,)
        scores = rm(*rm.encode(tok, prompts,
                               [p["chosen"] for p in batch] + [p["rejected"] for p in batch]))
        right = (scores[:len(batch)] > scores[len(batch):]).float().mean()
        return bradley_terry_loss(scores[:len(batch)], scores[len(batch):]), float(right)
    return fit(rm, pairs, batch_loss, cfg, "reward model", log, quiet)


def fit(model: nn.Module, items: list, batch_loss, cfg: RMConfig, name: str, log=None,
        quiet=False) -> dict:
    """AdamW over shuffled minibatches of items for cfg.epochs, gradients clipped; batch_loss(batch)
    -> (loss, batch accuracy). The loop of every scorer trained here (this reward model,
    baselines/learned_prm.py's PRM). Returns {"loss", "steps", "seconds"}."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(items) / cfg.batch_size)
    t0, step, loss_val = time.time(), 0, float("nan")
    model.train()
    for epoch in range(cfg.epochs):
        order = list(range(len(items)))
        rng.shuffle(order)
        for b in range(steps_per_epoch):
            loss, acc = batch_loss(
                [items[i] for i in order[b * cfg.batch_size:(b + 1) * cfg.batch_size]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
                continue  # skipped, never applied; a run of them shows as a flat loss in the log
            opt.step()
            step += 1
            loss_val = loss.item()
            if log is not None:
                log.write({"step": step, "epoch": epoch, "loss": loss_val, "batch_accuracy": acc})
            if not quiet and (step % 20 == 0 or step == cfg.epochs * steps_per_epoch):
                print(f"{name} {step:4d}/{cfg.epochs * steps_per_epoch} | loss {loss_val:.3f} | "
                      f"batch accuracy {100 * acc:5.1f}% | {time.time() - t0:4.0f}s")
    return {"loss": loss_val, "steps": step, "seconds": round(time.time() - t0, 1)}
