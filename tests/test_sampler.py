"""Sampler: truncation support, log-probs, stopping, finish reasons, seeding."""
import pytest
import torch
import torch.nn.functional as F

from nanor1.model import GPT, ModelConfig
from nanor1.sampler import SamplingParams, generate, inverse_cdf, sample_next

V = 97


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return GPT(ModelConfig.preset("tiny", vocab_size=V)).eval()


def run(model, prompts, G=3, seed=0, **params):
    return generate(model, prompts, G, SamplingParams(**params), pad_id=0, eos_id=1,
                    generator=torch.Generator().manual_seed(seed))


def test_top_k_keeps_exactly_the_k_most_likely():
    logits = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]])).repeat(2000, 1)
    tok, _, slogp = sample_next(logits, SamplingParams(top_k=2), torch.Generator().manual_seed(0))
    assert set(tok.tolist()) == {0, 1}
    assert torch.allclose(slogp[tok == 0], torch.log(torch.tensor(0.4 / 0.7)))


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]])).repeat(4000, 1)
    gen = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, SamplingParams(top_p=0.7), gen)[0].tolist()) == {0, 1}   # 0.5 < 0.7 <= 0.75
    assert set(sample_next(logits, SamplingParams(top_p=0.75), gen)[0].tolist()) == {0, 1}
    assert set(sample_next(logits, SamplingParams(top_p=0.76), gen)[0].tolist()) == {0, 1, 2}
    assert set(sample_next(logits, SamplingParams(top_p=0.5), gen)[0].tolist()) == {0}


def test_temperature_zero_is_argmax_and_tiny_temperature_agrees():
    logits = torch.randn(64, V)
    greedy = sample_next(logits, SamplingParams(temperature=0))[0]
    cold = sample_next(logits, SamplingParams(temperature=1e-4), torch.Generator().manual_seed(0))[0]
    assert torch.equal(greedy, logits.argmax(-1)) and torch.equal(cold, greedy)


def test_inverse_cdf_draws_each_index_with_its_weights_share_and_never_a_zero_weight():
    weights = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20000, 1) * 7.0  # unnormalised
    picks = inverse_cdf(weights, torch.Generator().manual_seed(0))
    freq = torch.bincount(picks, minlength=6).float() / len(picks)
    assert freq[[0, 2, 5]].sum() == 0
    assert torch.allclose(freq, torch.tensor([0.0, 0.5, 0.0, 0.3, 0.2, 0.0]), atol=0.015)  # ~4 sd at n=20000


def test_sampling_at_temperature_one_follows_the_softmax():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1]])).repeat(20000, 1)
    tok, logp, slogp = sample_next(logits, SamplingParams(), torch.Generator().manual_seed(1))
    freq = torch.bincount(tok, minlength=3).float() / len(tok)
    assert torch.allclose(freq, torch.tensor([0.6, 0.3, 0.1]), atol=0.015)
    assert torch.allclose(slogp, logp) and torch.allclose(logp[tok == 1], torch.log(torch.tensor(0.3)))


@torch.no_grad()
def test_returned_logprobs_equal_a_full_forward():
    m = tiny_model()
    prompts = [[5, 6, 7], [8, 9, 10, 11, 12, 13]]
    gen = run(m, prompts, G=2, temperature=0.7, max_new_tokens=12)
    for b in range(4):
        p = prompts[gen.prompt_index[b]]
        comp = gen.tokens[b, gen.mask[b]].tolist()
        logits = m(torch.tensor(p + comp)[None])[0, len(p) - 1:-1]            # (T, V)
        ref = F.log_softmax(logits, -1).gather(1, torch.tensor(comp)[:, None])[:, 0]
        ref_t = F.log_softmax(logits / 0.7, -1).gather(1, torch.tensor(comp)[:, None])[:, 0]
        assert (gen.logprobs[b, :len(comp)] - ref).abs().max() < 1e-4
        assert (gen.sampling_logprobs[b, :len(comp)] - ref_t).abs().max() < 1e-4


@torch.no_grad()
def test_finish_reasons_with_a_forced_stop_token():
    m = tiny_model()
    m.lm_head.weight.data[:] = 0
    m.lm_head.weight.data[9] = 0  # logits are all 0: uniform sampling, so some rows stop on 9, others run out
    gen = run(m, [[3], [4, 5]], G=20, max_new_tokens=30, stop_token_ids=tuple(range(2, 12)), temperature=1.0)
    lens = gen.lengths.tolist()
    for b, r in enumerate(gen.finish_reason):
        last = gen.tokens[b, lens[b] - 1].item()
        if r == "stop":
            assert last in range(1, 12)
        else:
            assert lens[b] == 30 and not any(t in range(1, 12) for t in gen.tokens[b].tolist())
    assert "stop" in gen.finish_reason


@torch.no_grad()
def test_stop_strings_through_decode():
    m = tiny_model()
    decode = lambda ids: "".join(chr(65 + i % 26) for i in ids)   # a toy detokenizer: token i -> one letter
    with pytest.raises(ValueError, match="decode"):
        run(m, [[3, 4]], G=2, max_new_tokens=8, stop_strings=("AB",))
    gen = generate(m, [[3, 4]], 16, SamplingParams(max_new_tokens=60, stop_strings=("AB", "QQ")), pad_id=0,
                   eos_id=1, generator=torch.Generator().manual_seed(0), decode=decode)
    for b in range(16):
        text = decode(gen.tokens[b, gen.mask[b]].tolist())
        hit = [i for i in range(len(text) - 1) if text[i:i + 2] in ("AB", "QQ")]
        if gen.finish_reason[b] == "stop" and not text.endswith(chr(65 + 1)):   # not stopped by eos (token 1)
            assert hit == [len(text) - 2]        # stopped right after the first occurrence
        elif gen.finish_reason[b] == "length":
            assert not hit and len(text) == 60


@torch.no_grad()
def test_same_seed_same_samples_and_compaction_does_not_change_them():
    m = tiny_model()
    prompts = [[3], [4, 5, 6]]
    p = SamplingParams(max_new_tokens=30, stop_token_ids=tuple(range(2, 8)))
    a = generate(m, prompts, 6, p, pad_id=0, eos_id=1, generator=torch.Generator().manual_seed(3))
    b = generate(m, prompts, 6, p, pad_id=0, eos_id=1, generator=torch.Generator().manual_seed(3),
                 compact_fraction=2.0)  # never compacts
    assert torch.equal(a.tokens, b.tokens) and a.finish_reason == b.finish_reason
    assert (a.logprobs - b.logprobs).abs().max() < 1e-5
    c = generate(m, prompts, 6, p, pad_id=0, eos_id=1, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a.tokens, c.tokens)
