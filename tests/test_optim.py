"""The shared optimizer and learning-rate schedule (nanor1/optim.py) as a specification.

    python -m pytest tests/test_optim.py -q
"""
from types import SimpleNamespace

import pytest

from nanor1.model import GPT, ModelConfig
from nanor1.optim import lr_at, make_optimizer

CFG = SimpleNamespace(lr=1.0, warmup_steps=4, steps=24, min_lr_frac=0.1)


def test_lr_warms_up_linearly_to_the_peak():
    assert [lr_at(s, CFG) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, CFG) == 1.0  # the first step after warmup is the peak


def test_lr_decays_by_a_cosine_to_the_floor_and_stays_there():
    assert lr_at(14, CFG) == pytest.approx(0.55)  # half way: the middle of peak and floor
    assert lr_at(24, CFG) == pytest.approx(0.1) and lr_at(1000, CFG) == pytest.approx(0.1)
    lrs = [lr_at(s, CFG) for s in range(4, 30)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_weight_decay_applies_to_matrices_only():
    model = GPT(ModelConfig.preset("tiny", vocab_size=64))
    decay, no_decay = make_optimizer(model, lr=1e-3, weight_decay=0.1).param_groups
    assert decay["weight_decay"] == 0.1 and all(p.dim() == 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and no_decay["params"] and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
