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
    sizes = {name: GPT(ModelConfig.preset(name)).num_params() for name in ("tiny", "l3d96", "l4d128")}
    assert sizes["tiny"] < 50_000 and 350_000 < sizes["l3d96"] < 400_000 and 850_000 < sizes["l4d128"] < 900_000
    with pytest.raises(ValueError, match="unknown model preset"):
        ModelConfig.preset("huge")


def test_the_default_vocabulary_is_the_tokenizers():
    from nanor1.tokenizer import get_tokenizer
    assert ModelConfig().vocab_size == get_tokenizer().vocab_size


def test_checkpoints_of_bases_made_before_the_presets_were_named_by_shape_load_as_them():
    # the model_config of a cpu base and a cpu_long base as they were written (checkpoints store dims, not names)
    old_cpu = dict(vocab_size=696, n_layer=3, n_head=2, n_kv_head=1, n_embd=96, mlp_hidden=256, max_seq_len=512,
                   rope_theta=10000.0, tie_embeddings=True)
    old_cpu_long = {**old_cpu, "n_layer": 4, "n_head": 4, "n_kv_head": 2, "n_embd": 128, "mlp_hidden": 384}
    assert ModelConfig(**old_cpu) == ModelConfig.preset("l3d96", vocab_size=696)
    assert ModelConfig(**old_cpu_long) == ModelConfig.preset("l4d128", vocab_size=696)


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
