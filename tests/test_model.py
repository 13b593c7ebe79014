"""Model: presets, padding conventions, and the KV cache reproducing a full forward."""
import pytest
import torch
import torch.nn.functional as F

from nanor1.model import GPT, KVCache, ModelConfig
from nanor1.sampler import left_pad


def tiny_model(seed=0, **kw):
    torch.manual_seed(seed)
    return GPT(ModelConfig.preset("tiny", vocab_size=97, **kw)).eval()


def test_presets_have_the_documented_sizes():
    assert GPT(ModelConfig.preset("tiny")).num_params() < 200_000
    assert 1_000_000 <= GPT(ModelConfig.preset("cpu")).num_params() <= 3_000_000
    with pytest.raises(ValueError, match="unknown model preset"):
        ModelConfig.preset("huge")


def test_tied_embeddings_share_storage():
    m = tiny_model()
    assert m.lm_head.weight.data_ptr() == m.wte.weight.data_ptr()
    untied = tiny_model(tie_embeddings=False)
    assert untied.num_params() > m.num_params()


def test_left_padding_is_invisible():
    m = tiny_model()
    seq = torch.randint(0, 97, (1, 12))
    full = m(seq)
    padded = torch.cat([torch.zeros(1, 5, dtype=torch.long), seq], 1)
    out = m(padded, pad=torch.tensor([5]))
    assert (out[:, 5:] - full).abs().max() < 1e-5
    assert torch.isfinite(out).all()  # padded columns too (they would leak NaN through the next layer)


@torch.no_grad()
def test_cached_decode_matches_full_forward_with_ragged_prompts():
    m = tiny_model()
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(0, 97, (n,), generator=g).tolist() for n in (3, 9, 6)]
    steps = 40
    conts = torch.randint(0, 97, (3, steps), generator=g)
    idx, pad = left_pad(prompts, 0, "cpu")
    cache = KVCache.empty(m.cfg, 3, idx.size(1) + steps, pad, "cpu", torch.float32)
    logits = [m(idx, cache=cache)[:, -1]]
    for t in range(steps - 1):
        logits.append(m(conts[:, t:t + 1], cache=cache)[:, -1])
    cached = torch.stack(logits, 1)                                     # (B, steps, V)
    for b, p in enumerate(prompts):  # each row on its own, unpadded, no cache
        seq = torch.tensor(p + conts[b, :steps - 1].tolist())[None]
        ref = m(seq)[0, len(p) - 1:]
        assert (cached[b] - ref).abs().max() < 1e-4


@torch.no_grad()
def test_replicated_cache_rows_equal_independent_prefill():
    m = tiny_model()
    prompt = torch.randint(0, 97, (1, 7))
    cache = KVCache.empty(m.cfg, 1, 20, torch.zeros(1, dtype=torch.long), "cpu", torch.float32)
    m(prompt, cache=cache)
    rep = cache.select(torch.zeros(4, dtype=torch.long))
    nxt = torch.randint(0, 97, (4, 1))
    out_rep = m(nxt, cache=rep)[:, -1]
    for i in range(4):
        c = KVCache.empty(m.cfg, 1, 20, torch.zeros(1, dtype=torch.long), "cpu", torch.float32)
        m(prompt, cache=c)
        assert (m(nxt[i:i + 1], cache=c)[0, -1] - out_rep[i]).abs().max() < 1e-5


def test_too_long_sequence_is_a_clear_error():
    m = tiny_model()
    with pytest.raises(ValueError, match="max_seq_len"):
        m(torch.zeros(1, m.cfg.max_seq_len + 1, dtype=torch.long))


def test_training_step_reduces_loss():
    m = tiny_model().train()
    x = torch.randint(0, 97, (4, 32))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(m(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5
