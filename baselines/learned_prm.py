"""A learned process reward model (PRM): the project's GPT with a scalar head that scores every arithmetic step of a
response, trained on step labels the rule checker gives exactly (baselines/process_reward.py).

    from baselines.learned_prm import ProcessRewardModel, prm_examples, train_prm, step_accuracy, active_prm
    prm = ProcessRewardModel.from_policy(base)               # backbone = a copy of the base (it already reads traces)
    train_prm(prm, prm_examples(base, tok, random.Random(0), n_prompts=600, n_slips=1200), RMConfig(epochs=2))
    step_accuracy(prm, heldout_examples)                     # agreement with the rule checker, step by step
    with active_prm(prm):                                    # the reward "learned_prm" now scores with it
        ...
    python experiments/process_reward.py                     # trains one, then RL against it (arm "learned_prm")

The R1 report's process reward models were neural step scorers, and RL learned to please them without getting the
answers right (recipe §3). This is that kind of scorer for this world, built the way R1's stage-4 reward model is
(nanor1/reward_model.py: the same backbone, zero-initialised head and training loop), read per step:

    steps      s_1..s_n = the rule splitter's "expression = integer" steps of the chain of thought (step_spans)
    input      <bos> question completion, read once by the causal backbone (no step sees what follows it)
    step score p_i = sigmoid(w . h_i + b), h_i = the hidden state at the last token of step i's result (a digit:
               the tokenizer gives every digit its own token), i.e. P(step i is right | question, text up to step i)
    loss       binary cross-entropy of p_i against y_i = the rule checker's verdict, class-balanced: the right and the
               wrong steps of a batch weigh half each (p = 0.5 is then the balanced threshold, not a calibrated one)
    response   score = mean_i p_i (0 with no steps): the rule reward's aggregation, so the two process rewards
               differ only in who judges a step

Training data, every step labelled by the rule checker (so the labels are exact and free):
    sampled   responses of the base model at T = 1 to training prompts: the policy's own steps and its own slips
    slips     corpus traces (nanor1/tasks) with one or two results changed by one digit, later steps left as written
A held-out set is built the same way from held-out problems. What the PRM cannot tell apart (a step it scores right
that the checker calls wrong) is what RL against it is free to exploit; a rule checker has no such blind spot.
The reward "learned_prm" scores with the PRM made active by active_prm(); with none active it is 0. It never raises:
text of any kind is cut to MAX_CHARS, then to the backbone's context, before it is read.
"""
import contextlib
import random

import torch
import torch.nn.functional as F

from baselines.process_reward import score_steps, split_steps, step_spans
from nanor1.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nanor1.model import GPT, ModelConfig
from nanor1.reward_model import RewardModel, RMConfig, fit
from nanor1.rewards import register_reward
from nanor1.sampler import SamplingParams, generate, left_pad
from nanor1.tasks import DIFFICULTIES, Habits, format_prompt, sample_problem, solution_trace
from nanor1.tokenizer import get_tokenizer

MAX_CHARS = 4000    # longer text is cut before it is tokenized: a hang guard (responses are <= 400 tokens)
SLIP_SHARE = 0.7    # share of corpus traces given slips (the rest stay correct: the PRM must not learn "corpus=wrong")


class ProcessRewardModel(RewardModel):
    """RewardModel's backbone and zero-initialised head (every step starts at p = 0.5), read at every position
    instead of on the mean hidden state."""

    def forward(self, ids: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """ids (B, T) left-padded, pad (B,) -> step logits (B, T), one per position (the caller picks step ends)."""
        hidden = self.backbone(ids, pad=pad, return_hidden=True)   # (B, T, C)
        return self.head(hidden).squeeze(-1)                       # (B, T)

    def encode_steps(self, tok, questions: list[str], responses: list[str]):
        """-> ids (B, T), pad (B,), positions: per row the columns of its step ends (steps past the context dropped)."""
        limit = self.backbone.cfg.max_seq_len
        seqs, cols = [], []
        for q, r in zip(questions, responses):
            ids, ends = read_steps(tok, q, r)
            seqs.append(ids[:limit])
            cols.append([e for e in ends if e < limit])
        ids, pad = left_pad(seqs, tok.pad_id, next(self.parameters()).device)
        return ids, pad, [[int(p) + c for c in row] for p, row in zip(pad.tolist(), cols)]

    @torch.no_grad()
    def step_probs(self, tok, questions: list[str], responses: list[str], batch_size: int = 32) -> list[list[float]]:
        """P(step right) for every step of every response, in step order."""
        was = self.training
        self.eval()
        out = []
        for a in range(0, len(questions), batch_size):
            ids, pad, positions = self.encode_steps(tok, questions[a:a + batch_size], responses[a:a + batch_size])
            probs = torch.sigmoid(self(ids, pad))                  # (b, T)
            out += [probs[i, cols].tolist() for i, cols in enumerate(positions)]
        self.train(was)
        return out

    def score(self, tok, questions: list[str], responses: list[str], batch_size: int = 32) -> torch.Tensor:
        """(B,) response scores: the mean step probability, 0 with no steps."""
        return torch.tensor([sum(p) / len(p) if p else 0.0
                             for p in self.step_probs(tok, questions, responses, batch_size)])


def read_steps(tok, question: str, response: str) -> tuple[list[int], list[int]]:
    """Token ids of <bos> question response up to its last step, and the index of each step's last token (the text
    after the last step is not read: causal, no step score depends on it). The response is encoded in pieces cut
    just after each step's result; a result ends in a digit, a piece of its own for the tokenizer, so the pieces
    concatenate to the ids of the whole (tests/test_learned_prm.py checks it)."""
    response = response[:MAX_CHARS]
    ids, ends, prev = [tok.bos_id] + tok.encode(question[:MAX_CHARS] + "\n"), [], 0
    for _, _, end in step_spans(response):
        ids += tok.encode(response[prev:end])
        ends.append(len(ids) - 1)
        prev = end
    return ids, ends


def step_labels(response: str) -> list[bool]:
    """The rule checker's verdict on each step, the PRM's training target (of the text read_steps reads)."""
    return score_steps(split_steps(response[:MAX_CHARS]))


def prm_loss(prm: ProcessRewardModel, tok, batch: list[dict]) -> tuple[torch.Tensor, float]:
    """Class-balanced binary cross-entropy over the batch's steps (right and wrong steps weigh half the loss each:
    most steps are right, and a PRM that calls every step right would otherwise be a good fit), and the share of
    steps on the right side of 0.5."""
    ids, pad, positions = prm.encode_steps(tok, [e["question"] for e in batch], [e["response"] for e in batch])
    logits = prm(ids, pad)                                                             # (B, T)
    rows = torch.tensor([i for i, cols in enumerate(positions) for _ in cols], dtype=torch.long)
    cols = torch.tensor([c for cols in positions for c in cols], dtype=torch.long)
    labels = torch.tensor([float(y) for e, cs in zip(batch, positions) for y in e["labels"][:len(cs)]])
    z = logits[rows.to(logits.device), cols.to(logits.device)]                         # (n_steps,)
    n_right = labels.sum()
    weight = torch.where(labels > 0, 0.5 / n_right.clamp(min=1), 0.5 / (len(labels) - n_right).clamp(min=1))
    loss = F.binary_cross_entropy_with_logits(z, labels.to(z.device), weight.to(z.device), reduction="sum")
    return loss, float(((z > 0).float().cpu() == labels).float().mean())


def train_prm(prm: ProcessRewardModel, examples: list[dict], cfg: RMConfig, log=None, quiet=False) -> dict:
    """BCE training on the examples' steps (reward_model.fit's loop); returns {"loss", "steps", "seconds"}."""
    tok = get_tokenizer()
    return fit(prm, examples, lambda batch: prm_loss(prm, tok, batch), cfg, "process reward model", log, quiet)


def step_accuracy(prm: ProcessRewardModel, examples: list[dict], tok=None) -> dict:
    """Agreement with the rule checker step by step (p > 0.5 = "right"): overall, on the right steps, on the wrong
    steps (1 - the share of wrong steps the PRM lets through), and per data source."""
    tok = tok or get_tokenizer()
    probs = prm.step_probs(tok, [e["question"] for e in examples], [e["response"] for e in examples])
    pairs = [(p > 0.5, y, e["source"]) for e, ps in zip(examples, probs) for p, y in zip(ps, e["labels"])]

    def share(sel):
        return sum(said == y for said, y, _ in sel) / len(sel) if sel else None
    out = {"accuracy": share(pairs), "on_right_steps": share([t for t in pairs if t[1]]),
           "on_wrong_steps": share([t for t in pairs if not t[1]]), "n_steps": len(pairs),
           "wrong_step_share": sum(not y for _, y, _ in pairs) / max(1, len(pairs))}
    for source in sorted({s for *_, s in pairs}):
        out[f"accuracy_{source}"] = share([t for t in pairs if t[2] == source])
    return out


# -----------------------------------------------------------------------------
# training data: the base's own steps and corpus steps with slips, labelled by the rule checker

def example(problem, response: str, source: str) -> dict:
    return {"question": problem.question, "response": response, "labels": step_labels(response), "source": source}


@torch.no_grad()
def sampled_examples(model, tok, rng: random.Random, n_prompts: int, num_samples: int = 2, split: str = "train",
                     max_new_tokens: int = 400, batch_prompts: int = 32) -> list[dict]:
    """Responses of `model` at T = 1 to n_prompts problems of `split` (every family and difficulty); those with at
    least one step."""
    params = SamplingParams(temperature=1.0, max_new_tokens=max_new_tokens, stop_token_ids=(tok.answer_end_id,))
    gen_rng = torch.Generator(next(model.parameters()).device).manual_seed(rng.randrange(2 ** 31))
    out = []
    for a in range(0, n_prompts, batch_prompts):
        problems = [sample_problem(rng, difficulty=rng.choice(DIFFICULTIES), split=split)
                    for _ in range(min(batch_prompts, n_prompts - a))]
        gen = generate(model, [tok.encode(format_prompt(p)) for p in problems], num_samples, params,
                       pad_id=tok.pad_id, eos_id=tok.eos_id, generator=gen_rng)
        for row, text in enumerate(gen.completions(tok)):
            out.append(example(problems[gen.prompt_index[row].item()], text, "sampled"))
    return [e for e in out if e["labels"]]


def with_slips(text: str, rng: random.Random, n: int) -> str:
    """The text with n step results changed by one digit (the corpus' own kind of slip; same length, so the other
    steps keep their offsets)."""
    spans = step_spans(text)
    for _, rhs, end in rng.sample(spans, min(n, len(spans))):
        start = end - len(rhs)
        digits = [i for i, ch in enumerate(rhs) if ch.isdigit()]
        i = rng.choice(digits)
        lowest = 1 if i == digits[0] and len(digits) > 1 else 0  # no leading zero
        new = rng.choice([d for d in "0123456789"[lowest:] if d != rhs[i]])
        text = text[:start + i] + new + text[start + i + 1:]
    return text


def slip_examples(rng: random.Random, n: int, split: str = "train") -> list[dict]:
    """n corpus traces (default habits), SLIP_SHARE of them with one or two slips; those with at least one step."""
    out = []
    for _ in range(n):
        p = sample_problem(rng, difficulty=rng.choice(DIFFICULTIES), split=split)
        text = solution_trace(p, rng, Habits())
        if rng.random() < SLIP_SHARE:
            text = with_slips(text, rng, rng.choice((1, 1, 2)))
        out.append(example(p, text, "slips"))
    return [e for e in out if e["labels"]]


def prm_examples(model, tok, rng: random.Random, n_prompts: int, n_slips: int, split: str = "train",
                 max_new_tokens: int = 400) -> list[dict]:
    """Both sources, shuffled."""
    out = sampled_examples(model, tok, rng, n_prompts, split=split, max_new_tokens=max_new_tokens)
    out += slip_examples(rng, n_slips, split=split)
    rng.shuffle(out)
    return out


# -----------------------------------------------------------------------------
# checkpoint and the registered reward

KIND = "process_reward_model"


def save_prm(path: str, prm: ProcessRewardModel, extra: dict | None = None) -> None:
    save_checkpoint(path, {"model": prm.state_dict(), "model_config": prm.backbone.cfg.to_dict(), "kind": KIND,
                           **(extra or {})})


def load_prm(path: str, device="cpu") -> tuple[ProcessRewardModel, dict]:
    """The PRM of a save_prm checkpoint; anything else is one CheckpointError line."""
    ckpt = load_checkpoint(path, device)
    if ckpt.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a process reward model (kind {ckpt.get('kind')!r})")
    try:
        prm = ProcessRewardModel(GPT(ModelConfig(**ckpt["model_config"])))
        prm.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path}: weights do not fit the model config: {' '.join(str(e).split())[:300]}") \
            from None
    return prm.to(device), ckpt


_ACTIVE: list = []  # the PRM the reward scores with: at most one, set by active_prm()


@contextlib.contextmanager
def active_prm(prm: ProcessRewardModel):
    """Within the block, the reward "learned_prm" scores with this PRM."""
    _ACTIVE.append(prm)
    try:
        yield prm
    finally:
        _ACTIVE.remove(prm)


@register_reward("learned_prm")
def learned_prm_reward(completion, problem=None) -> float:
    """The active PRM's score of the response (mean step probability; 0 with no steps, or with no PRM active)."""
    if not _ACTIVE or not isinstance(completion, str):
        return 0.0
    question = getattr(problem, "question", "")
    return float(_ACTIVE[-1].score(get_tokenizer(), [question if isinstance(question, str) else ""], [completion])[0])
