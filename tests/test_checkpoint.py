"""Checkpoints (nanor1/checkpoint.py): atomic writes, safe loads, errors a user can act on."""
import os
import random
import subprocess
import sys

import pytest
import torch

from nanor1.checkpoint import (CheckpointError, build_model, load_checkpoint, load_model, rng_state,
                               save_checkpoint, set_rng_state)
from nanor1.model import GPT, ModelConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ModelConfig.preset("tiny", vocab_size=64, max_seq_len=32)


def payload(seed=0, cfg=TINY) -> dict:
    torch.manual_seed(seed)
    model = GPT(cfg)
    return {"model": model.state_dict(), "model_config": cfg.to_dict(), "step": seed}


def write_corrupt(path, kind: str):
    if kind == "truncated":
        save_checkpoint(path, payload())
        data = open(path, "rb").read()
        open(path, "wb").write(data[:len(data) // 2])
    elif kind == "random_bytes":
        open(path, "wb").write(random.Random(0).randbytes(4096))
    elif kind == "empty":
        open(path, "wb").close()
    elif kind == "arbitrary_object":  # a pickle that would run code on load without weights_only
        torch.save({"model": Evil(), "model_config": TINY.to_dict()}, path)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_save_leaves_no_tmp_file(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(str(path), payload())
    assert os.listdir(tmp_path) == ["model.pt"]
    assert load_checkpoint(str(path))["step"] == 0


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "model.pt")
    save_checkpoint(path, payload(seed=1))
    before = open(path, "rb").read()
    real_save = torch.save

    def half_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        data = open(f, "rb").read()
        open(f, "wb").write(data[:len(data) // 2])
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, payload(seed=2))
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    model, ckpt = load_model(path)
    assert ckpt["step"] == 1
    for k, v in payload(seed=1)["model"].items():
        assert torch.equal(model.state_dict()[k], v), k
    assert os.listdir(tmp_path) == ["model.pt"]  # the half-written temp file is removed


@pytest.mark.parametrize("kind", ["truncated", "random_bytes", "empty", "arbitrary_object"])
def test_unreadable_file_gives_checkpoint_error(tmp_path, kind):
    path = str(tmp_path / "bad.pt")
    write_corrupt(path, kind)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    message = str(e.value)
    assert "cannot read checkpoint" in message and path in message
    assert "\n" not in message and len(message) < 500  # one line, not a torch stack trace
    assert e.value.__cause__ is None and e.value.__suppress_context__


class WritesAFile:
    """A pickle whose load would call open(marker, "w"): a global that weights_only refuses."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("kind", ["random_bytes", "disallowed_global"])
def test_the_error_says_corrupt_or_not_a_checkpoint_and_nothing_else(tmp_path, kind):
    path, marker = str(tmp_path / "bad.pt"), str(tmp_path / "marker")
    if kind == "random_bytes":
        write_corrupt(path, kind)
    else:
        torch.save({"model": WritesAFile(marker), "model_config": TINY.to_dict()}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(e.value) == f"cannot read checkpoint {path}: the file is corrupt or not a nanor1 checkpoint"
    assert not os.path.exists(marker)  # nothing in the file ran


def test_missing_file_gives_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(str(tmp_path / "nope.pt"))


def test_torch_file_that_is_not_a_checkpoint_gives_checkpoint_error(tmp_path):
    path = str(tmp_path / "t.pt")
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a nanor1 checkpoint"):
        load_checkpoint(path)


def test_reward_model_checkpoint_is_not_a_language_model(tmp_path):
    path = str(tmp_path / "reward_model.pt")
    save_checkpoint(path, {**payload(), "kind": "reward_model"})
    with pytest.raises(CheckpointError, match="reward model"):
        load_model(path)


def test_model_config_mismatch_names_the_differing_keys(tmp_path):
    path = str(tmp_path / "model.pt")
    save_checkpoint(path, payload())
    other = ModelConfig.preset("tiny", vocab_size=64, max_seq_len=32, n_embd=48, n_layer=3)
    with pytest.raises(CheckpointError) as e:
        build_model(load_checkpoint(path), path, expect=other)
    message = str(e.value)
    assert "n_embd" in message and "n_layer" in message
    assert "vocab_size" not in message and "n_head" not in message
    build_model(load_checkpoint(path), path, expect=TINY)  # the matching config loads


def test_unknown_model_config_key_gives_checkpoint_error():
    ckpt = payload()
    ckpt["model_config"]["n_experts"] = 8
    with pytest.raises(CheckpointError, match="model_config"):
        build_model(ckpt)


def test_state_dict_that_does_not_fit_gives_checkpoint_error():
    ckpt = payload()
    ckpt["model_config"] = {**TINY.to_dict(), "n_embd": 48}  # weights are for n_embd=32
    with pytest.raises(CheckpointError, match="do not fit"):
        build_model(ckpt)
    ckpt = payload()
    name = next(iter(ckpt["model"]))
    del ckpt["model"][name]
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):  # names the missing key
        build_model(ckpt)
    ckpt["model"] = [1, 2, 3]
    with pytest.raises(CheckpointError):
        build_model(ckpt)


def test_save_load_round_trips_weights(tmp_path):
    path = str(tmp_path / "model.pt")
    ckpt = payload(seed=3)
    save_checkpoint(path, ckpt)
    model, _ = load_model(path)
    for k, v in ckpt["model"].items():
        assert torch.equal(model.state_dict()[k], v), k


def test_rng_state_round_trip_through_a_file(tmp_path):
    random.seed(5)
    torch.manual_seed(5)
    path = str(tmp_path / "model.pt")
    save_checkpoint(path, {**payload(), "rng": rng_state()})
    first = ([random.random() for _ in range(3)], torch.rand(3), random.gauss(0, 1))
    random.seed(99)
    torch.manual_seed(99)
    set_rng_state(load_checkpoint(path)["rng"])
    again = ([random.random() for _ in range(3)], torch.rand(3), random.gauss(0, 1))
    assert first[0] == again[0] and torch.equal(first[1], again[1]) and first[2] == again[2]


def _run_cli(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_evaluate_cli_on_corrupt_checkpoint_exits_with_one_line(tmp_path):
    path = str(tmp_path / "bad.pt")
    write_corrupt(path, "truncated")
    r = _run_cli(["-m", "nanor1.evaluate", f"--ckpt={path}", f"--out={tmp_path / 'e.json'}"], tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e.json").exists()


@pytest.mark.slow
def test_pretrain_resume_on_corrupt_checkpoint_exits_with_one_line(tmp_path):
    write_corrupt(str(tmp_path / "model.pt"), "random_bytes")
    r = _run_cli(["-m", "nanor1.pretrain", "--preset=tiny", f"--out_dir={tmp_path}", "--resume"], tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error: ") and len(r.stderr.strip().splitlines()) == 1

