"""Batched KV-cache sampler: P prompts x G samples each, the hot path of RL (recipe §8: 40-70% of a
step).

    from nanor1.sampler import generate, SamplingParams
    gen = generate(model, [tok.encode(p) for p in prompts], num_samples=8,
                   params=SamplingParams(temperature=1.0, max_new_tokens=256,
                   stop_token_ids=(tok.answer_end_id,)), pad_id=tok.pad_id, eos_id=tok.eos_id,
                   generator=torch.Generator().manual_seed(0))

How it works (nanochat's engine, made explicit):
1. The P prompts are LEFT-padded to a common length and prefilled ONCE, into a KVCache of P rows.
2. The cache rows and the last logits are replicated G times (row p*G + g samples from prompt p).
3. Decode one token per step for all rows at the same cache column; per-row RoPE positions and a
   padding mask make the left padding invisible. Rows that hit a stop token or stop string are
   finished; once a quarter of the rows in the cache are finished, the cache is compacted so
   finished rows stop costing compute.

Returned per row: completion tokens (the stop token included, since the policy must learn to emit
it), a completion mask, two kinds of log-probs of the sampled tokens, and a finish reason ("stop" or
"length"):
    logprobs           log pi(token) under the model itself: softmax(logits), temperature 1, no
                       truncation
    sampling_logprobs  log-prob under the distribution actually sampled: softmax(logits / T) after
                       top-k / top-p
"""
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from nanor1 import cpu_threads
from nanor1.distributed import amp_dtype, autocast_for
from nanor1.model import KVCache


@dataclass
class SamplingParams:
    temperature: float = 1.0       # 0 means greedy (argmax)
    top_k: int = 0                 # 0 disables
    top_p: float = 1.0             # 1.0 disables
    max_new_tokens: int = 256
    stop_token_ids: tuple = ()     # besides eos, e.g. the </answer> token
    stop_strings: tuple = ()       # multi-token stop strings (need `decode`); single-token ones:
                                   # use stop_token_ids


@dataclass
class Generation:
    prompt_index: torch.Tensor       # (B,) which prompt each row sampled from; B = P * G
    tokens: torch.Tensor             # (B, T) completion tokens, pad_id after the end
    mask: torch.Tensor               # (B, T) bool, True on completion tokens (stop token included)
    logprobs: torch.Tensor           # (B, T) fp32, see module docstring
    sampling_logprobs: torch.Tensor  # (B, T) fp32
    finish_reason: list = field(default_factory=list)  # "stop" | "length" per row

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(1)

    def completions(self, tokenizer) -> list[str]:
        return [tokenizer.decode(t[m].tolist(), skip_special=True)
                for t, m in zip(self.tokens, self.mask)]


def left_pad(prompts: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """list of token lists -> idx (P, L) left-padded, pad (P,) number of padding columns per row."""
    L = max(len(p) for p in prompts)
    idx = torch.full((len(prompts), L), pad_id, dtype=torch.long)
    for i, p in enumerate(prompts):
        idx[i, L - len(p):] = torch.tensor(p, dtype=torch.long)
    pad = torch.tensor([L - len(p) for p in prompts], dtype=torch.long)
    return idx.to(device), pad.to(device)


def sample_next(logits: torch.Tensor, params: SamplingParams, generator=None):
    """logits (B, V) -> (token (B,), logprob under the model (B,), logprob under the sampling
    distribution (B,)).

    The candidates are every token, or the top_k, or (top_p) the smallest most-likely prefix whose
    mass reaches top_p; one is drawn per row by inverse_cdf."""
    logits = logits.float()
    model_logp = F.log_softmax(logits, dim=-1)                                        # (B, V)
    if params.temperature <= 0:
        token = logits.argmax(-1)
        return (token, model_logp.gather(1, token[:, None])[:, 0],
                torch.zeros_like(token, dtype=torch.float))
    # ids: the candidates' token ids (None: all V, in order)
    z, ids = logits / params.temperature, None
    if params.top_k and params.top_k < z.size(-1):
        # (B, k), most likely first
        z, ids = torch.topk(z, params.top_k, dim=-1)
    if params.top_p < 1.0 and ids is None:
        z, ids = torch.sort(z, dim=-1, descending=True)                                # (B, V)
    # (B, n) over the candidates
    logp = F.log_softmax(z, dim=-1)
    probs = logp.exp()
    if params.top_p < 1.0:  # a candidate is dropped if the mass before it already reaches top_p
        probs = probs.masked_fill((probs.cumsum(-1) - probs) >= params.top_p, 0.0)
    pick = inverse_cdf(probs, generator)                                # (B,) index into candidates
    sample_logp = logp.gather(1, pick[:, None])[:, 0]
    if params.top_p < 1.0:
        sample_logp = sample_logp - probs.sum(-1).log()  # renormalised over the kept prefix
    token = pick if ids is None else ids.gather(1, pick[:, None])[:, 0]
    return token, model_logp.gather(1, token[:, None])[:, 0], sample_logp


def inverse_cdf(weights: torch.Tensor, generator=None) -> torch.Tensor:
    """weights (B, n) >= 0 -> (B,) one index per row, drawn with probability proportional to its
    weight: a uniform number per row, located in the row's cumulative sum. B random numbers per
    step, where torch.multinomial draws B x n exponentials (at 128 rows x ~700 tokens, as costly as
    the model's own decode step)."""
    cdf = weights.cumsum(-1)                                                          # (B, n)
    u = torch.rand(weights.size(0), 1, generator=generator, device=weights.device) * cdf[:, -1:]
    # first cdf > u
    return torch.searchsorted(cdf, u, right=True).clamp_(max=weights.size(-1) - 1)[:, 0]


@torch.no_grad()
def generate(model, prompts: list[list[int]], num_samples: int = 1,
             params: SamplingParams = SamplingParams(), *, pad_id: int, eos_id: int,
             generator: torch.Generator | None = None, decode=None,
             compact_fraction: float = 0.25, on_finished=None) -> Generation:
    """Sample `num_samples` completions for each prompt. See the module docstring.
    on_finished(n): called with the number of rows that just finished (a progress bar's update)."""
    if params.stop_strings and decode is None:
        raise ValueError("stop_strings need a decode function (e.g. tokenizer.decode)")
    device = next(model.parameters()).device
    P, G, T = len(prompts), num_samples, params.max_new_tokens
    B = P * G
    cache_dtype = amp_dtype(device) or torch.float32
    autocast = autocast_for(device)
    idx, pad = left_pad(prompts, pad_id, device)
    L = idx.size(1)
    if L + T > model.cfg.max_seq_len:
        # never write past the RoPE table; such rows finish with "length"
        T = model.cfg.max_seq_len - L
        if T <= 0:
            raise ValueError(f"prompt of {L} tokens leaves no room under "
                             f"max_seq_len={model.cfg.max_seq_len}")

    # 1-2. prefill each prompt once, then replicate its cache rows and last logits G times
    cache = KVCache.empty(model.cfg, P, L + T, pad, device, cache_dtype)
    with autocast:
        logits = model(idx, cache=cache)[:, -1].float()                               # (P, V)
    rows = torch.arange(P, device=device).repeat_interleave(G)                        # (B,)
    cache = cache.select(rows)
    logits = logits.index_select(0, rows)

    out_tokens = torch.full((B, T), pad_id, dtype=torch.long, device=device)
    out_logp = torch.zeros(B, T, device=device)
    out_slogp = torch.zeros(B, T, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    finish = ["length"] * B
    stop_ids = torch.tensor([eos_id, *params.stop_token_ids], device=device)
    in_cache = torch.arange(B, device=device)   # global row id of each cache row
    live = torch.ones(B, dtype=torch.bool, device=device)  # per cache row: still generating

    # 3. decode
    for t in range(T):
        # a busy machine: fewer threads (nanor1/cpu_threads.py; at most every few seconds)
        cpu_threads.check()
        token, logp, slogp = sample_next(logits[live], params, generator)           # (b_live,) each
        rows_live = in_cache[live]
        out_tokens[rows_live, t] = token
        out_logp[rows_live, t] = logp
        out_slogp[rows_live, t] = slogp
        lengths[rows_live] = t + 1
        stopped = torch.isin(token, stop_ids)
        if params.stop_strings:
            for j, r in enumerate(rows_live.tolist()):
                tail = decode(out_tokens[r, max(0, t - 15):t + 1].tolist())
                if any(s in tail for s in params.stop_strings):
                    stopped[j] = True
        if stopped.any():
            for r in rows_live[stopped].tolist():
                finish[r] = "stop"
            live[live.nonzero()[:, 0][stopped]] = False
            if on_finished is not None:
                on_finished(int(stopped.sum()))
        if not live.any() or t == T - 1:
            if on_finished is not None and live.any():
                on_finished(int(live.sum()))  # cut at the length limit
            break
        if (~live).sum() >= compact_fraction * live.numel():  # drop finished rows from the cache
            keep = live.nonzero()[:, 0]
            cache, in_cache, live = cache.select(keep), in_cache[keep], live[keep]
        # finished rows still in the cache are fed their last token; their outputs are ignored
        with autocast:
            logits = model(out_tokens[in_cache, t][:, None], cache=cache)[:, -1].float()  # (b, V)

    mask = torch.arange(T, device=device)[None, :] < lengths[:, None]
    return Generation(rows, out_tokens, mask, out_logp, out_slogp, finish)
