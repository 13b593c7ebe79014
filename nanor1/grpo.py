"""GRPO: Group Relative Policy Optimization (DeepSeekMath, DeepSeek-R1), one file, in the order of
one step.

    from nanor1.grpo import GRPOConfig, GRPOTrainer, train_step
    trainer = GRPOTrainer(model, GRPOConfig(steps=40), out_dir="out/grpo")  # model: a GPT, e.g. a
                                                                              pretrained base
    while trainer.step < trainer.cfg.steps:
        row = train_step(trainer)      # one step; its metrics, also appended to out/grpo/grpo.jsonl
(train_zero.py and train_r1.py are the scripts around this loop: base model, evaluation,
checkpoints, plots.)

One step, train_step (recipe §1); the numbers mark the same steps in the code below:
  1. sample P train prompts, G completions each, from the current policy pi_old (GRPOTrainer.sample,
     nanor1.sampler)
  2. score each completion with the rule rewards (nanor1.rewards): r (P, G)
  3. group-relative advantages A_i = (r_i - mean_group) / (std_group + eps), the same for every
     token of o_i
  4. the policy loss per token (nanor1.loss): -min(rho A, clip(rho) A) + beta * k3 KL to the
     reference model, weighted so that its sum is the chosen aggregation over tokens and completions
     ("grpo" / "dapo" / "dr_grpo")
  5. update: clip the gradient norm, one AdamW step; with mu = num_iterations > 1, steps 4-5 repeat
     on the same samples (then rho moves away from 1 and the clip matters)
No value network: the group mean is the baseline. Below train_step come the trainer that does steps
1-5, the pieces it calls (each testable alone), and the gathering of rollouts over several
processes.

The loss is ~0 at every step by construction: advantages sum to zero within a group and rho == 1 at
the first inner iteration. Its gradient is not zero. Watch reward, accuracy and length, not the
loss.

Deviations from the paper (and why):
- beta: GRPOConfig's default is 0 (as in DAPO and Dr.GRPO), which keeps no reference model in
  memory; train_zero.py runs its cpu presets with beta = 0.05 (SMALL_WORLD there: without the KL the
  arithmetic inside <think> decays, recipe §9) and its gpu preset with 0.01. The reference is the
  policy at the start of the run, copied from the policy again every `ref_reset_every` steps
  (R1-Zero: 400; default 0, never).
- The learning rate warms up and decays by a cosine to min_lr_frac (nanor1/optim.py): at a constant
  lr a solved task drifted (recipe §9).
- Rewards that are NaN/inf are replaced by 0 and counted, so one bad reward cannot poison a batch.
- Group std is the population std (unbiased=False): G = 1 then gives A = 0 (no baseline, no signal)
  instead of NaN.
- old log-probs are recomputed from the training forward (detached) at the first inner iteration,
  not taken from the sampler: the two differ by float noise only, and this way rho is exactly 1 when
  mu = 1.

Several processes (torchrun, nanor1/distributed.py): the P prompts of a step are split over the
ranks, whole groups per rank, so advantages are exact without communication. Each rank samples its
share (generator seeded by (seed, step, rank)), the rollouts are gathered (gather_rollout) for the
step's metrics and for the loss normalisers (grpo: number of outputs; dapo: number of tokens;
dr_grpo: outputs x max_len; batch-level reward std), and the per-rank gradients, each weighted by
those whole-batch counts, are summed. Given the same rollouts, N ranks take the step one process
takes. Not DDP: ranks run different numbers of micro-batches (length-sorted, dynamic sampling keeps
different numbers of groups per rank), which DDP's per-backward all-reduce cannot pair up; and the
weighted gradients must be summed, not averaged. With dynamic sampling each rank fills its own share
of P.
"""
import math
import os
import random
import time
from dataclasses import dataclass, replace

import torch

from nanor1 import cpu_threads, reward_modules
from nanor1.checkpoint import build_model
from nanor1.distributed import (all_gather_object, all_reduce, all_reduce_grads, amp_dtype,
                                autocast_for, broadcast_params, rank_seed, shard, world)
from nanor1.loss import grpo_token_loss, token_logprobs
from nanor1.metrics import MetricsLog
from nanor1.model import KVCache
from nanor1.optim import lr_at  # warmup + cosine decay, the schedule of pretraining and SFT
from nanor1.rewards import combined_reward, has_aha, is_lang_mixed, parse_weights
from nanor1.sampler import SamplingParams, generate, left_pad
from nanor1.tasks import format_prompt, parse_difficulties, parse_families, sample_problem
from nanor1.tokenizer import get_tokenizer


@dataclass
class GRPOConfig:
    steps: int = 60
    prompts_per_step: int = 16         # P questions per step
    num_generations: int = 8           # G completions per question (TRL: num_generations)
    temperature: float = 1.0           # RL sampling temperature (recipe §1)
    top_p: float = 1.0
    max_new_tokens: int = 320
    # objective (TRL names)
    loss_type: str = "grpo"            # grpo (paper) | dapo (token-level) | dr_grpo (sum / (outputs
                                       # * max_len))
    scale_rewards: str = "group"       # group (paper) | batch | none (Dr.GRPO)
    epsilon: float = 0.2               # eps_low
    epsilon_high: float | None = None  # None: epsilon, or 0.28 with loss_type=dapo (clip-higher)
    beta: float = 0.0                  # k3 KL coefficient; 0 keeps no reference model
    ref_reset_every: int = 0           # copy the policy into the reference every N steps (0: never)
    num_iterations: int = 1            # mu: gradient steps on the same samples
    mask_truncated_completions: bool = False
    overlong_buffer: int = 0           # DAPO soft overlong punishment: over the last N tokens
                                       # before max_new_tokens
    overlong_penalty: float = 1.0      # the reward falls linearly, by this much at the cap (0
                                       # tokens: off)
    dynamic_sampling: bool | None = None   # None: on with loss_type=dapo. Drop all-equal groups and
                                           # refill
    max_sampling_rounds: int = 3       # dynamic sampling: at most this many sampling rounds per
                                       # step
    reward_weights: str = "accuracy=1.0,format=0.25"
    rewards: str = ""                  # your reward modules, loaded before the weights are checked:
                                       # .py paths or dotted names, comma-separated
                                       # (nanor1/reward_modules.py)
    entropy_coef: float = 0.0
    # which problems
    families: str = "countdown,arithmetic,linear"
    difficulties: str = "1,2,3"
    # optimization
    lr: float = 2e-4
    min_lr_frac: float = 0.1       # cosine decay to this fraction (recipe §9: a constant lr drifts)
    warmup_steps: int = 3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    micro_batch_rows: int = 64         # at most this many rows per forward/backward (gradients
                                       # accumulate exactly)
    micro_batch_tokens: int = 6144     # ... and at most this many completion positions (rows x
                                       # longest)
    seed: int = 0
    max_bad_steps: int = 5             # consecutive non-finite steps before the run stops

    def resolved(self) -> "GRPOConfig":
        # a copy of the same class (PPOConfig in baselines/ppo.py extends this one)
        c = replace(self)
        if c.loss_type not in ("grpo", "dapo", "dr_grpo"):
            raise SystemExit(f"error: --loss_type={c.loss_type!r}: choose grpo, dapo or dr_grpo")
        if c.scale_rewards not in ("group", "batch", "none"):
            raise SystemExit(f"error: --scale_rewards={c.scale_rewards!r}: choose group, batch or "
                             "none")
        if c.epsilon_high is None:
            c.epsilon_high = 0.28 if c.loss_type == "dapo" else c.epsilon
        if c.dynamic_sampling is None:
            c.dynamic_sampling = c.loss_type == "dapo"
        if c.prompts_per_step % world():
            raise SystemExit(f"error: --prompts_per_step={c.prompts_per_step} must be a multiple "
                             "of the number of "
                             f"processes ({world()}): each rank samples whole groups")
        # --rewards first: it may define weighted names
        reward_modules.resolve(c.rewards, c.reward_weights)
        parse_weights(c.reward_weights)
        # a typo fails now, not after pretraining
        parse_families(c.families), parse_difficulties(c.difficulties)
        return c


# -----------------------------------------------------------------------------
# the step

def train_step(trainer: "GRPOTrainer") -> dict:
    """One full GRPO step at trainer.step, steps 1-5 of the module docstring. Its randomness is
    seeded by the step, so a resumed run sees the same prompts and samples. Returns the metrics row
    (also written to the log)."""
    cfg = trainer.cfg
    rng, gen = step_generators(trainer)
    # this step's learning rate; every ref_reset_every steps a new reference
    for g in trainer.optimizer.param_groups:
        g["lr"] = lr_at(trainer.step, cfg)
    if (cfg.ref_reset_every and trainer.ref_model is not None
            and trainer.step % cfg.ref_reset_every == 0 and trainer.step > 0):
        trainer.ref_model.load_state_dict(trainer.model.state_dict())
    t0 = time.time()
    # 1-2. sample P prompts x G completions and score them (under torchrun: this rank's share of the
    # groups)
    r = trainer.sample(rng, gen)
    # all ranks' groups (r itself in one process): metrics and loss normalisers
    whole = gather_rollout(r)
    t_gen = time.time() - t0
    row = {"step": trainer.step + 1, "lr": lr_at(trainer.step, cfg),
           **rollout_stats(whole, cfg.scale_rewards)}
    # 3-5. advantages, the loss and its gradient, the AdamW step
    cpu_threads.check()
    stats = trainer.update(r, whole)
    if stats.get("skipped"):
        trainer.bad_steps += 1
        row["skipped"] = 1
        print(f"step {trainer.step + 1}: non-finite gradient, update skipped ({trainer.bad_steps} "
              "in a row)")
        if trainer.bad_steps >= cfg.max_bad_steps:
            raise SystemExit(f"error: {trainer.bad_steps} consecutive non-finite steps; stopping. "
                             "Lower --lr, "
                             "or check the rewards.")
    else:
        trainer.bad_steps = 0
    total = time.time() - t0
    row.update(stats, seconds_gen=t_gen, seconds=total,
               tokens_per_s=float(whole.lengths.sum()) / max(t_gen, 1e-9),
               threads=cpu_threads.current())
    trainer.step += 1
    trainer.log.write(row)
    return row


def step_generators(trainer: "GRPOTrainer") -> tuple[random.Random, torch.Generator]:
    """The randomness of step trainer.step, a function of (cfg.seed, step): the same problems on
    every rank (rng), each rank its own samples (gen; rank 0 keeps one process's seed)."""
    seed = trainer.cfg.seed * 1_000_003 + trainer.step
    return random.Random(seed), torch.Generator(trainer.device).manual_seed(rank_seed(seed))


# -----------------------------------------------------------------------------
# the trainer: what train_step calls for steps 1-5

@dataclass
class Rollout:
    problems: list          # P problems
    prompt_ids: torch.Tensor  # (B, L) left-padded prompts, one row per completion
    prompt_pad: torch.Tensor  # (B,)
    tokens: torch.Tensor    # (B, T)
    mask: torch.Tensor      # (B, T) tokens that get a gradient
    rewards: torch.Tensor   # (P, G)
    parts: dict             # reward part -> (P, G) tensor
    texts: list
    truncated: torch.Tensor  # (B,) bool
    lengths: torch.Tensor   # (B,) completion lengths as sampled (mask may drop truncated rows from
                            # the loss)
    n_bad_rewards: int = 0
    n_sampled_groups: int = 0


class GRPOTrainer:
    """Hooks, so that other stages reuse the algorithm unchanged (train_r1.py, experiments/):
      problem_source(rng) -> Problem     which prompts RL sees (default: the world's train split,
                                         cfg.families x cfg.difficulties)
      prompt_fn(problem) -> str          the prompt text (default: the R1-Zero template, recipe §4)
      reward_fn(text, problem, step) -> (total, parts)   default: the registered rule rewards,
                                                         cfg.reward_weights
    """
    def __init__(self, model, cfg: GRPOConfig, out_dir: str, tok=None, log_name="grpo",
                 resume: bool = False, problem_source=None, prompt_fn=None, reward_fn=None):
        self.cfg = cfg.resolved()
        self.model, self.out_dir = model, out_dir
        broadcast_params(model)  # every rank starts from rank 0's weights (no DDP here to do it)
        self.tok = tok or get_tokenizer()
        self.device = next(model.parameters()).device
        self.autocast = autocast_for(self.device)
        self.weights = parse_weights(self.cfg.reward_weights)
        self.families = parse_families(self.cfg.families)
        self.difficulties = parse_difficulties(self.cfg.difficulties)
        self.problem_source = problem_source or self.default_problem
        self.prompt_fn = prompt_fn or format_prompt
        self.reward_fn = reward_fn or self.rule_reward
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=self.cfg.lr, betas=(0.9, 0.99),
                                           weight_decay=self.cfg.weight_decay)
        self.ref_model = self._copy_policy() if self.cfg.beta > 0 else None
        self.step, self.bad_steps = 0, 0
        self.ckpt_path = os.path.join(out_dir, "model.pt")
        self.log = MetricsLog(os.path.join(out_dir, f"{log_name}.jsonl"), resume=resume)

    def _copy_policy(self):
        ref = build_model({"model": self.model.state_dict(),
                           "model_config": self.model.cfg.to_dict()},
                          device=self.device)
        return ref.eval().requires_grad_(False)

    def rule_reward(self, text: str, problem, step: int) -> tuple[float, dict]:
        """The default reward_fn: the registered rule rewards weighted by cfg.reward_weights."""
        return combined_reward(text, problem, self.weights)

    def default_problem(self, rng: random.Random):
        return sample_problem(rng, rng.choice(self.families), rng.choice(self.difficulties),
                              split="train")

    def sample(self, rng, gen) -> Rollout:
        """One round, or with dynamic sampling (DAPO) several, keeping only groups whose rewards
        differ."""
        r = self.sample_round(rng, gen)
        if not self.cfg.dynamic_sampling:
            return r
        kept, share = [r], self.cfg.prompts_per_step // world()  # this rank's share of the P groups
        for _ in range(self.cfg.max_sampling_rounds - 1):
            if sum(int(has_spread(x.rewards).sum()) for x in kept) >= share:
                break
            kept.append(self.sample_round(rng, gen))
        return filter_groups(kept, share, self.cfg.num_generations)

    @torch.no_grad()
    def sample_round(self, rng: random.Random, gen: torch.Generator) -> Rollout:
        cfg, tok = self.cfg, self.tok
        # every rank draws the step's P problems (same rng) and keeps its share: whole groups on one
        # rank
        problems = shard([self.problem_source(rng) for _ in range(cfg.prompts_per_step)])
        prompts = [tok.encode(self.prompt_fn(p)) for p in problems]
        params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p,
                                max_new_tokens=cfg.max_new_tokens,
                                stop_token_ids=(tok.answer_end_id,))
        # 1. sample: each prompt is prefilled once and decoded G times
        self.model.eval()
        out = generate(self.model, prompts, cfg.num_generations, params, pad_id=tok.pad_id,
                       eos_id=tok.eos_id, generator=gen)
        self.model.train()
        # 2. score: the reward of every completion, r (P, G), and its parts for the logs
        texts = out.completions(tok)
        G = cfg.num_generations
        totals, row_parts, bad = [], [], 0
        for row, text in enumerate(texts):
            total, p = self.reward_fn(text, problems[row // G], self.step)
            if not math.isfinite(total):
                total, bad = 0.0, bad + 1
            totals.append(total)
            row_parts.append(p)
        # "error/<name>" appears only on rows that raised
        keys = dict.fromkeys(k for p in row_parts for k in p)
        parts = {k: [p.get(k, 0.0) for p in row_parts] for k in keys}
        # recipe §2: a length penalty near the cap only, so finishing pays
        if cfg.overlong_buffer > 0:
            start = cfg.max_new_tokens - cfg.overlong_buffer
            penalty = (((out.lengths.float().cpu() - start) / cfg.overlong_buffer).clamp(0, 1)
                       * cfg.overlong_penalty)
            totals = [t - float(x) for t, x in zip(totals, penalty)]
            parts["overlong"] = (-penalty).tolist()
        prompt_ids, prompt_pad = left_pad(prompts, tok.pad_id, self.device)
        rows = out.prompt_index
        truncated = torch.tensor([r == "length" for r in out.finish_reason], device=self.device)
        mask = out.mask.clone()
        if cfg.mask_truncated_completions:
            mask &= ~truncated[:, None]
        return Rollout(problems, prompt_ids[rows], prompt_pad[rows], out.tokens, mask,
                       torch.tensor(totals, device=self.device).view(-1, G),
                       {k: torch.tensor(v).view(-1, G) for k, v in parts.items()}, texts, truncated,
                       out.lengths, bad, len(problems))

    def update(self, r: Rollout, whole: Rollout | None = None) -> dict:
        """One policy update on rollout r. Under torchrun r is this rank's share and `whole` the
        gathered batch of all ranks (gather_rollout), whose counts normalise the loss; default: r is
        the whole batch."""
        cfg, whole = self.cfg, whole or r
        # 3. advantages, one per completion: every token of o_i gets A_i
        # (B,)
        adv = group_advantages(r.rewards, cfg.scale_rewards, batch_rewards=whole.rewards).flatten()
        # 4. the loss: per-token weights that make the sum the chosen aggregation, then per
        # micro-batch the clipped surrogate (+ k3 KL to the reference, + entropy bonus) through
        # nanor1.loss
        weights = token_weights(r.mask, cfg.loss_type, cfg.max_new_tokens,
                                batch_rows=whole.mask.size(0),
                                batch_tokens=int(whole.mask.sum()))                    # (B, T)
        batches = self.micro_batches(r)
        stats = {"loss": 0.0, "clip_frac": 0.0, "kl": 0.0, "entropy": 0.0, "grad_norm": 0.0}
        t0 = time.time()
        ref_logp = [None] * len(batches)  # per micro-batch (N,): log pi_ref of its masked tokens
        if self.ref_model is not None:
            with torch.no_grad():
                for j, (idx, Tm) in enumerate(batches):
                    tokens, mask = r.tokens[idx, :Tm], r.mask[idx, :Tm]                # (b, Tm)
                    logits = completion_logits(self.ref_model, r.prompt_ids[idx], r.prompt_pad[idx],
                                               tokens, self.autocast, mask)           # (N, V)
                    ref_logp[j] = token_logprobs(logits, tokens[mask], cfg.temperature)
        ref_seconds = time.time() - t0
        n_tok = max(1, int(whole.mask.sum()))
        old_logp = []  # per micro-batch: log pi_old, fixed at the first inner iteration
        for it in range(cfg.num_iterations):
            self.optimizer.zero_grad(set_to_none=True)
            for j, (idx, Tm) in enumerate(batches):
                tokens, mask = r.tokens[idx, :Tm], r.mask[idx, :Tm]                    # (b, Tm)
                # logits only where a token gets a gradient: padding and masked rows cost no
                # lm_head, no loss
                logits = completion_logits(self.model, r.prompt_ids[idx], r.prompt_pad[idx], tokens,
                                           self.autocast, mask)                        # (N, V)
                targets = tokens[mask]                                                 # (N,)
                # pi_old is the policy that sampled: the current weights before any update
                if it == 0:
                    old_logp.append(token_logprobs(logits.detach(), targets, cfg.temperature))
                # (N,): A_i per token
                token_adv = adv[idx, None].expand_as(mask)[mask]
                out = grpo_token_loss(logits, targets, token_adv, old_logp[j], ref_logp[j], None,
                                      eps_low=cfg.epsilon, eps_high=cfg.epsilon_high, beta=cfg.beta,
                                      temperature=cfg.temperature, entropy_coef=cfg.entropy_coef)
                loss = (out.loss * weights[idx, :Tm][mask]).sum()
                loss.backward()
                if it == cfg.num_iterations - 1:
                    stats["loss"] += float(loss.detach())
                    stats["clip_frac"] += float(out.clipped.float().sum()) / n_tok
                    stats["kl"] += float(out.kl.sum()) / n_tok
                    stats["entropy"] += float(out.entropy.sum()) / n_tok
            # 5. update: the whole batch's gradient, clipped, one AdamW step (never one on NaN/inf)
            # every rank now holds the whole batch's gradient
            all_reduce_grads(self.model.parameters())
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            if not torch.isfinite(grad_norm):
                self.optimizer.zero_grad(set_to_none=True)
                stats["skipped"] = 1
                return stats  # never step on NaN/inf (the caller counts and may stop)
            self.optimizer.step()
            stats["grad_norm"] = float(grad_norm)
        # whole-batch values: sums of the ranks' parts
        for k in ("loss", "clip_frac", "kl", "entropy"):
            stats[k] = all_reduce(stats[k])
        stats["seconds_ref"] = ref_seconds
        stats["seconds_update"] = time.time() - t0 - ref_seconds
        return stats

    def micro_batches(self, r: Rollout) -> list[tuple[torch.Tensor, int]]:
        """(row indices, length) per micro-batch: rows sorted by completion length, each micro-batch
        cut to its longest completion and holding at most micro_batch_rows rows and
        micro_batch_tokens completion positions (rows x longest): short rows go together in few
        forwards, long rows in small groups, so one 400-token row does not make every row of its
        micro-batch pay 400 positions."""
        lengths = r.mask.sum(1)
        # empty rows: no loss
        order = [i for i in torch.argsort(lengths, stable=True).tolist() if lengths[i] > 0]
        chunks, current = [], []
        for i in order:  # ascending lengths: row i is the longest of the micro-batch it joins
            rows = len(current) + 1
            if current and (rows > self.cfg.micro_batch_rows
                            or rows * int(lengths[i]) > self.cfg.micro_batch_tokens):
                chunks.append(current)
                current = []
            current.append(i)
        if current:
            chunks.append(current)
        # sorted: last is longest
        return [(torch.tensor(c, device=self.device), int(lengths[c[-1]])) for c in chunks]


# -----------------------------------------------------------------------------
# the pieces of the algorithm, each testable alone, in the order of steps 1-5; then the step's
# metrics

def has_spread(rewards: torch.Tensor) -> torch.Tensor:
    """rewards (P, G) -> (P,) bool: the group's rewards are not all equal. Exact, unlike std > 0:
    the float std of eight rewards of 0.7 is 6e-8, not 0."""
    return rewards.amax(dim=1) > rewards.amin(dim=1)


def filter_groups(rounds: list[Rollout], P: int, G: int) -> Rollout:
    """Dynamic sampling: keep groups with non-zero reward std from several rounds, at most P of
    them. If fewer than P qualify, the step trains on those it has (logged as the number of kept
    groups)."""
    sel = []  # (round, group)
    for i, r in enumerate(rounds):
        sel += [(i, g) for g in range(r.rewards.size(0)) if has_spread(r.rewards)[g]]
    sel = sel[:P] or [(0, 0)]  # an all-equal step still needs one group (A = 0: no gradient)
    return concat_groups(rounds, sel, G)


def group_advantages(rewards: torch.Tensor, scale: str = "group", eps: float = 1e-4,
                     batch_rewards: torch.Tensor | None = None) -> torch.Tensor:
    """rewards (P, G) -> advantages (P, G). Non-finite rewards must be cleaned by the caller.
    batch_rewards: the whole batch's rewards (all ranks) for scale="batch" (default: rewards)."""
    centered = rewards - rewards.mean(dim=1, keepdim=True)
    # all-equal group: exactly 0, not rounding
    centered = torch.where(has_spread(rewards)[:, None], centered, 0.0)
    if scale == "group":
        return centered / (rewards.std(dim=1, unbiased=False, keepdim=True) + eps)
    if scale == "batch":
        return centered / ((rewards if batch_rewards is None else batch_rewards).std(unbiased=False)
                           + eps)
    return centered  # "none" (Dr.GRPO): no std scaling, which would up-weight near-uniform groups


def token_weights(mask: torch.Tensor, loss_type: str, max_len: int, batch_rows: int | None = None,
                  batch_tokens: int | None = None) -> torch.Tensor:
    """mask (B, T) -> per-token weights (B, T) so that loss = (per_token_loss * weights).sum()
    (recipe §2). batch_rows / batch_tokens: outputs and mask tokens of the whole batch when mask is
    one rank's share of it (default: this mask's), so that the ranks' weighted sums add up to the
    whole batch's loss."""
    mask = mask.float()
    B = mask.size(0) if batch_rows is None else batch_rows
    N = mask.sum().clamp(min=1) if batch_tokens is None else max(1, batch_tokens)
    if loss_type == "grpo":     # mean over each output's tokens, then over outputs
        return mask / (mask.sum(1, keepdim=True).clamp(min=1) * B)
    if loss_type == "dapo":     # every token in the batch counts the same
        return mask / N
    if loss_type == "dr_grpo":  # a constant normaliser: no length bias
        return mask / (B * max_len)
    raise ValueError(loss_type)


def completion_logits(model, prompt_ids, prompt_pad, completion, autocast, mask=None):
    """Logits of the policy at the positions that predict the completion tokens.

    prompt_ids (B, L) left-padded, completion (B, T) -> (B, T, V). The prompt's last position
    predicts token 0. With mask (B, T) bool: only the masked-in positions, (N, V) with N =
    mask.sum(), in row-major order. Rows with the same prompt (the G samples of a group) share one
    forward over it, as in the sampler: each distinct prompt fills a KV cache once (with gradients),
    the cache rows are replicated, and the completions run on top. The same logits as running every
    row's prompt + completion, with G times less prompt compute (the prompt is longer than most
    completions at this scale)."""
    prompts, prompt_of_row = torch.unique(prompt_ids, dim=0, return_inverse=True)     # (U, L), (B,)
    pad = prompt_pad.new_zeros(prompts.size(0)).scatter_(0, prompt_of_row, prompt_pad)  # (U,)
    B, T = completion.shape
    cache = KVCache.empty(model.cfg, prompts.size(0), prompts.size(1) + T - 1, pad,
                          prompt_ids.device, amp_dtype(prompt_ids.device) or torch.float32)
    with autocast:
        # (U, C): predicts token 0
        last = model(prompts, cache=cache, return_hidden=True)[:, -1]
        hidden = last.index_select(0, prompt_of_row)[:, None]                           # (B, 1, C)
        if T > 1:
            # (B rows), differentiable
            cache = cache.select(prompt_of_row)
            # (B, T-1, C)
            rest = model(completion[:, :-1], cache=cache, return_hidden=True)
            hidden = torch.cat([hidden, rest], dim=1)                                   # (B, T, C)
        if mask is not None:
            hidden = hidden[mask]                                                       # (N, C)
        return model.lm_head(hidden)


def rollout_stats(r: Rollout, scale: str = "group") -> dict:
    """Per-step metrics of the sampled batch (the policy's behaviour at temperature T). With an
    accuracy reward among several: side_only_frac, the share of groups whose rewards differ only in
    the other rewards (format, language: every answer right, or every one wrong), and
    side_adv_share, their share of the advantages' total size under `scale` (recipe §5: group
    scaling blows their small differences up to full-size advantages)."""
    G, lengths = r.rewards.size(1), r.lengths
    out = {"reward": float(r.rewards.mean()),
           "reward_std": float(r.rewards.std()) if r.rewards.numel() > 1 else 0.0,
           "zero_std_frac": float((~has_spread(r.rewards)).float().mean()),
           "len_mean": float(lengths.float().mean()), "len_max": int(lengths.max()),
           "trunc_rate": float(r.truncated.float().mean()),
           "aha_rate": sum(has_aha(t) for t in r.texts) / len(r.texts),
           "lang_mix_rate": sum(is_lang_mixed(t, r.problems[i // G])
                                for i, t in enumerate(r.texts)) / len(r.texts),
           "bad_rewards": r.n_bad_rewards, "groups": r.rewards.size(0),
           "groups_sampled": r.n_sampled_groups}
    for k, v in r.parts.items():
        out[f"r_{k}"] = float(v.mean())
    if "accuracy" in r.parts and len(r.parts) > 1:
        rewards = r.rewards.cpu()
        # (P,)
        side_only = has_spread(rewards) & ~has_spread(r.parts["accuracy"])
        # (P,)
        size = group_advantages(rewards, scale).abs().sum(dim=1)
        out["side_only_frac"] = float(side_only.float().mean())
        out["side_adv_share"] = float(size[side_only].sum() / size.sum()) if size.sum() > 0 else 0.0
    return out


# -----------------------------------------------------------------------------
# several processes: one Rollout of the whole step from every rank's share

def gather_rollout(r: Rollout) -> Rollout:
    """The whole step's rollout, all ranks' groups in rank order (on CPU); r itself in one
    process."""
    if world() == 1:
        return r
    cpu = Rollout(**{k: v.cpu() if torch.is_tensor(v) else v for k, v in vars(r).items()})
    parts = all_gather_object(cpu)
    return concat_groups(parts,
                         [(i, g) for i, x in enumerate(parts) for g in range(x.rewards.size(0))],
                         r.rewards.size(1))


def concat_groups(rounds: list[Rollout], sel: list[tuple[int, int]], G: int) -> Rollout:
    """One Rollout of the groups sel = [(round, group), ...], re-padded to common prompt/completion
    widths: prompts stay left-padded (their ends aligned), completions right-padded."""
    T = max(r.tokens.size(1) for r in rounds)      # the widest completion
    L = max(r.prompt_ids.size(1) for r in rounds)  # the widest prompt
    pad_id = get_tokenizer().pad_id

    def group_rows(g: int) -> list[int]:  # the G rows of group g in its round's (B, ...) tensors
        return list(range(g * G, (g + 1) * G))

    def stack_rows(field) -> torch.Tensor:  # field(round) -> (B, ...): the selected groups' rows
        return torch.cat([field(rounds[i])[group_rows(g)] for i, g in sel])

    def prompts(r):
        return torch.nn.functional.pad(r.prompt_ids, (L - r.prompt_ids.size(1), 0), value=pad_id)

    def prompt_pad(r):  # left padding grows by the width added
        return r.prompt_pad + (L - r.prompt_ids.size(1))

    def completions(r):
        return torch.nn.functional.pad(r.tokens, (0, T - r.tokens.size(1)), value=pad_id)

    def masks(r):
        return torch.nn.functional.pad(r.mask, (0, T - r.mask.size(1)), value=False)

    parts = {k: torch.stack([rounds[i].parts[k][g] if k in rounds[i].parts else torch.zeros(G)
                             for i, g in sel])
             for k in dict.fromkeys(k for r in rounds for k in r.parts)}
    return Rollout(
        problems=[rounds[i].problems[g] for i, g in sel],
        prompt_ids=stack_rows(prompts), prompt_pad=stack_rows(prompt_pad),
        tokens=stack_rows(completions), mask=stack_rows(masks),
        rewards=torch.stack([rounds[i].rewards[g] for i, g in sel]),
        parts=parts,
        texts=[rounds[i].texts[j] for i, g in sel for j in group_rows(g)],
        truncated=stack_rows(lambda r: r.truncated), lengths=stack_rows(lambda r: r.lengths),
        n_bad_rewards=sum(r.n_bad_rewards for r in rounds),
        n_sampled_groups=sum(r.n_sampled_groups for r in rounds))
