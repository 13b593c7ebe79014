"""The shared optimizer and learning-rate schedule (nanor1/optim.py) as a specification.

    python -m pytest tests/test_optim.py -q
"""
from types import SimpleNamespace

import pytest

from nanor1.model import GPT, ModelConfig
import torch

from nanor1.optim import Muon, lr_at, make_optimizer, newton_schulz, set_lr

CFG = SimpleNamespace(lr=1.0, warmup_steps=4, steps=24, min_lr_frac=0.1)


def test_lr_warms_up_linearly_to_the_peak():
    assert [lr_at(s, CFG) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, CFG) == 1.0  # the first step after warmup is the peak


def test_lr_decays_by_a_cosine_to_the_floor_and_stays_there():
    assert lr_at(14, CFG) == pytest.approx(0.55)  # half way: the middle of peak and floor
    assert lr_at(24, CFG) == pytest.approx(0.1) and lr_at(1000, CFG) == pytest.approx(0.1)
    lrs = [lr_at(s, CFG) for s in range(4, 30)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_warmup_stable_decay_holds_the_peak_then_decays_in_the_last_part():
    wsd = SimpleNamespace(**vars(CFG), decay_frac=0.25)  # 20 post-warmup steps: the last 5 decay
    assert [lr_at(s, wsd) for s in range(4, 19)] == [1.0] * 15
    assert lr_at(19, wsd) == 1.0 and lr_at(20, wsd) < 1.0 and lr_at(24, wsd) == pytest.approx(0.1)
    full = SimpleNamespace(**vars(CFG), decay_frac=1.0)  # decay_frac 1: the plain cosine schedule
    assert [lr_at(s, full) for s in range(30)] == [lr_at(s, CFG) for s in range(30)]


def test_weight_decay_applies_to_matrices_only():
    model = GPT(ModelConfig.preset("tiny", vocab_size=64))
    decay, no_decay = make_optimizer(model, lr=1e-3, weight_decay=0.1).param_groups
    assert decay["weight_decay"] == 0.1 and all(p.dim() == 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and no_decay["params"] and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


# ----------------------------------------------------------------------------- Muon


@pytest.mark.parametrize("shape", [(32, 32), (24, 64), (64, 16)])
def test_newton_schulz_approximates_the_orthogonal_polar_factor(shape):
    """NS(G) ~ U V^T of G's SVD: the same singular vectors, every singular value pushed near 1."""
    G = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    O = newton_schulz(G)
    assert O.shape == G.shape
    sv = torch.linalg.svdvals(O)
    assert sv.min() > 0.5 and sv.max() < 1.3  # the quintic's coefficients trade exactness for speed (0.7-1.2)
    polar = U @ Vh
    cosine = (O * polar).sum() / (O.norm() * polar.norm())
    assert cosine > 0.97


def test_muon_step_follows_the_written_update_rule():
    """One Muon step from zero momentum: W - lr * sqrt(max(1, out/in)) * NS(G + mu G) (the docstring's rule)."""
    torch.manual_seed(0)
    W = torch.nn.Parameter(torch.randn(48, 16))
    W0 = W.detach().clone()
    W.grad = torch.randn(48, 16)
    opt = Muon([{"params": [W], "kind": "muon"}], lr=0.02, momentum=0.9)
    opt.step()
    expect = W0 - 0.02 * (48 / 16) ** 0.5 * newton_schulz(W.grad * 1.9)
    assert torch.allclose(W.detach(), expect, atol=1e-6)


def test_muon_adamw_groups_match_torch_adamw():
    """The hand-written AdamW of the non-matrix groups against torch.optim.AdamW, a few steps."""
    torch.manual_seed(0)
    a, b = torch.nn.Parameter(torch.randn(10, 3)), torch.nn.Parameter(torch.randn(7))
    a2, b2 = (torch.nn.Parameter(p.detach().clone()) for p in (a, b))
    mine = Muon([{"params": [a], "weight_decay": 0.1}, {"params": [b]}], lr=1e-2)
    ref = torch.optim.AdamW([{"params": [a2], "weight_decay": 0.1}, {"params": [b2], "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    for step in range(5):
        g = torch.Generator().manual_seed(step)
        ga, gb = torch.randn(10, 3, generator=g), torch.randn(7, generator=g)
        a.grad, a2.grad, b.grad, b2.grad = ga, ga.clone(), gb, gb.clone()
        mine.step()
        ref.step()
    assert torch.allclose(a, a2, atol=1e-6) and torch.allclose(b, b2, atol=1e-6)


def test_muon_optimizer_groups_and_schedule():
    """Muon takes the blocks' matrices; the tied embedding and the gains stay with AdamW; set_lr scales Muon's peak."""
    model = GPT(ModelConfig.preset("tiny", vocab_size=64))
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.1, muon_lr=0.02)
    muon, emb, gains = opt.param_groups
    assert muon["kind"] == "muon" and all(p.dim() == 2 for p in muon["params"])
    assert [p is model.wte.weight for p in emb["params"]] == [True] and emb["weight_decay"] == 0.1
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    set_lr(opt, 5e-4)
    assert muon["lr"] == pytest.approx(0.01) and emb["lr"] == gains["lr"] == 5e-4


def test_muon_trains_a_tiny_model():
    """A few Muon steps lower the loss of a tiny GPT on a fixed batch, and the state survives a state_dict round trip."""
    torch.manual_seed(0)
    model = GPT(ModelConfig.preset("tiny", vocab_size=64))
    x = torch.randint(0, 64, (4, 33))
    opt = make_optimizer(model, lr=3e-3, weight_decay=0.1, muon_lr=0.02)

    def loss():
        return torch.nn.functional.cross_entropy(model(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
    first = loss().item()
    for _ in range(20):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < first - 0.5
    again = make_optimizer(model, lr=3e-3, weight_decay=0.1, muon_lr=0.02)
    again.load_state_dict(opt.state_dict())
    assert torch.equal(again.state[model.blocks[0].mlp.down.weight]["momentum"],
                       opt.state[model.blocks[0].mlp.down.weight]["momentum"])
