"""Benchmark: KV-cache sampler vs naive full recompute, same model, prompts and seed, in one run.

    python bench/sample.py                    # the l4d128 model, 64 rows x 256 new tokens (target: kv_speedup >= 5)
    python bench/sample.py --preset=l12d768 --rows=256 --new_tokens=512  # on a GPU
    python bench/sample.py --quick            # tiny sizes, a few seconds

The naive baseline re-runs the whole (left-padded) sequence every step and keeps the last logits: what a sampler
without a cache does. Both sample with the same seeded generator; every row runs to the full length (no stop
token), so both do the same amount of useful work. Last line of output: a JSON object.
"""
import json
import os
import random
import sys
import time
from dataclasses import dataclass

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from nanor1.config import parse_overrides  # noqa: E402
from nanor1.distributed import autocast_for  # noqa: E402
from nanor1.model import GPT, ModelConfig  # noqa: E402
from nanor1.sampler import SamplingParams, generate, left_pad, sample_next  # noqa: E402
from nanor1.tasks import format_prompt, sample_problem  # noqa: E402
from nanor1.tokenizer import get_tokenizer  # noqa: E402


@dataclass
class BenchConfig:
    preset: str = "l4d128"       # model preset (nanor1/model.py)
    rows: int = 64               # total sampled rows = prompts x samples_per_prompt
    samples_per_prompt: int = 8
    new_tokens: int = 256
    naive: bool = True           # also time the no-cache baseline
    quick: bool = False          # tiny sizes for a smoke run
    seed: int = 0


@torch.no_grad()
def naive_generate(model, prompts, G, params, pad_id, generator):
    """No cache: the full sequence is recomputed for every new token."""
    device = next(model.parameters()).device
    idx, pad = left_pad(prompts, pad_id, device)
    rows = torch.arange(len(prompts), device=device).repeat_interleave(G)
    seq, pad = idx.index_select(0, rows), pad.index_select(0, rows)
    for _ in range(params.max_new_tokens):
        with autocast_for(device):  # the precision the cached sampler runs at: a like-for-like comparison
            logits = model(seq, pad=pad)[:, -1].float()
        token = sample_next(logits, params, generator)[0]
        seq = torch.cat([seq, token[:, None]], 1)
    return seq[:, idx.size(1):]


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def main(argv):
    cfg = parse_overrides(BenchConfig(), argv)
    if cfg.quick:
        cfg.preset, cfg.rows, cfg.samples_per_prompt, cfg.new_tokens = "tiny", 8, 4, 32
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = get_tokenizer()
    torch.manual_seed(cfg.seed)
    model = GPT(ModelConfig.preset(cfg.preset, vocab_size=tok.vocab_size)).to(device).eval()
    rng = random.Random(cfg.seed)
    n_prompts = max(1, cfg.rows // cfg.samples_per_prompt)
    prompts = [tok.encode(format_prompt(sample_problem(rng))) for _ in range(n_prompts)]
    max_len = max(len(p) for p in prompts)
    if max_len + cfg.new_tokens > model.cfg.max_seq_len:
        raise SystemExit(f"error: {max_len} prompt + {cfg.new_tokens} new tokens exceed the {cfg.preset} preset's "
                         f"max_seq_len={model.cfg.max_seq_len}; lower --new_tokens")
    params = SamplingParams(temperature=1.0, max_new_tokens=cfg.new_tokens)
    n_tokens = n_prompts * cfg.samples_per_prompt * cfg.new_tokens
    print(f"model {cfg.preset}: {model.num_params() / 1e6:.2f}M params on {device}; {n_prompts} prompts x "
          f"{cfg.samples_per_prompt} samples x {cfg.new_tokens} new tokens; prompt length up to {max_len}")

    run_kv = lambda: generate(model, prompts, cfg.samples_per_prompt, params, pad_id=tok.pad_id, eos_id=-1,
                              generator=torch.Generator(device).manual_seed(cfg.seed))
    run_kv()  # warm-up (allocator, kernels)
    gen, kv_s = timed(run_kv)
    result = {"preset": cfg.preset, "device": device, "rows": int(gen.tokens.size(0)), "new_tokens": cfg.new_tokens,
              "kv_seconds": round(kv_s, 3), "tokens_per_s": round(n_tokens / kv_s, 1)}
    print(f"kv-cache sampler : {kv_s:8.2f} s  {n_tokens / kv_s:10.0f} tokens/s")
    if cfg.naive:
        naive, naive_s = timed(lambda: naive_generate(model, prompts, cfg.samples_per_prompt, params, tok.pad_id,
                                                      torch.Generator(device).manual_seed(cfg.seed)))
        same = (naive == gen.tokens).float().mean().item()
        print(f"naive recompute  : {naive_s:8.2f} s  {n_tokens / naive_s:10.0f} tokens/s")
        print(f"kv_speedup {naive_s / kv_s:.1f}x; identical sampled tokens: {same:.1%} "
              "(float differences between the two paths can flip a rare sample, then the row diverges)")
        result.update(naive_seconds=round(naive_s, 3), naive_tokens_per_s=round(n_tokens / naive_s, 1),
                      kv_speedup=round(naive_s / kv_s, 2), same_token_fraction=round(same, 4))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
