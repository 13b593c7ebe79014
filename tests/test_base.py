"""The shipped bases (nanor1/base.pt, and train_r1's student nanor1/student_base.pt): current with the code, refused
when stale, and really trained.

    python -m pytest tests/test_base.py -q

A change to the tokenizer, the model config, the `cpu` (or `student`) pretraining preset or the corpus generator
makes a committed base stale; the first test then fails, so CI says so instead of pairing new code with an old base.
Rebuild it with `python -m nanor1.base --rebuild --ship` (`--preset=student` for the student).
"""
import pytest
import torch

from nanor1 import base as base_mod
from nanor1.checkpoint import load_checkpoint, save_checkpoint
from nanor1.evaluate import evaluate
from nanor1.model import GPT, ModelConfig
from nanor1.tokenizer import get_tokenizer

TOK = get_tokenizer()


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(base_mod.SHIPPED_PATH)


@pytest.mark.parametrize("preset", sorted(base_mod.SHIPPED))
def test_shipped_base_matches_the_code_that_made_it(preset):
    prov = load_checkpoint(base_mod.SHIPPED[preset])["provenance"]
    assert prov["preset"] == preset and prov["rebuild"] == base_mod.rebuild_command(preset)
    assert base_mod.stale_reasons(prov, preset) == []


@pytest.mark.parametrize("preset", sorted(base_mod.SHIPPED))
def test_shipped_base_holds_weights_and_provenance_only(preset):
    shipped = load_checkpoint(base_mod.SHIPPED[preset])
    assert set(shipped) == {"model", "model_config", "kind", "provenance"}  # no optimizer state, no RNG
    assert all(t.dtype == torch.float32 for t in shipped["model"].values())
    prov = shipped["provenance"]
    for key in ("command", "rebuild", "pretrain_config", "corpus", "model_config", "tokenizer_sha256",
                "corpus_fingerprint", "torch", "threads", "seconds_pretrain"):
        assert key in prov, key


@pytest.mark.parametrize("key,value,named", [
    ("tokenizer_sha256", "0" * 64, "tokenizer"),
    ("corpus_fingerprint", "0" * 64, "corpus changed"),
    ("corpus", {"retry_after_miss": 0.15, "first_try_hit": 0.3, "check_drills": 0.5}, "retry_after_miss"),
    ("pretrain_config", None, "pretraining preset changed"),
])
def test_a_stale_base_stops_with_the_rebuild_command(shipped, tmp_path, key, value, named):
    prov = dict(shipped["provenance"])
    prov[key] = value if value is not None else {**prov["pretrain_config"], "steps": 1}
    path = str(tmp_path / "base.pt")
    save_checkpoint(path, {**shipped, "provenance": prov})
    with pytest.raises(SystemExit) as e:
        base_mod.load_shipped(path=path)
    msg = str(e.value.code)
    assert "stale" in msg and named in msg and base_mod.REBUILD in msg


def test_a_missing_or_corrupt_base_says_how_to_rebuild(tmp_path):
    bad = tmp_path / "base.pt"
    bad.write_bytes(b"not a checkpoint")
    for path in (str(bad), str(tmp_path / "missing.pt")):
        with pytest.raises(SystemExit, match="rebuild it with"):
            base_mod.load_shipped(path=path)


def test_shipped_base_solves_held_out_problems_a_random_model_cannot(shipped):
    # 18 held-out difficulty-1 problems x 2 samples at T=0.6: the base solves about half of them (docs/results.md)
    torch.manual_seed(0)
    model, _ = base_mod.load_shipped()
    random_model = GPT(ModelConfig(**shipped["model_config"]))
    kw = dict(n_per_cell=6, k=2, difficulties=(1,), max_new_tokens=300, seed=4321)
    trained, untrained = evaluate(model, TOK, **kw)["pass@1"], evaluate(random_model, TOK, **kw)["pass@1"]
    assert untrained == 0.0
    assert trained >= 0.25, trained


def test_a_preset_without_a_shipped_base_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no shipped base for the 'tiny' preset"):
        base_mod.resolve_base("shipped", "tiny", str(tmp_path))
