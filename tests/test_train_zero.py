"""train_zero.py (R1-Zero end to end) as a specification: smoke run, resume after a kill, bad flags.

    python -m pytest tests/test_train_zero.py -q

One tiny base model is pretrained per session (a few seconds) and shared: train_zero.py reuses
<dirname(out_dir)>/base_tiny when it is finished, so every run here lives under one temporary folder.
"""
import json
import os
import subprocess
import sys
import time

import pytest
import torch

import train_zero
from nanor1 import rl_loop
from nanor1.checkpoint import load_checkpoint
from nanor1.metrics import read_jsonl
from nanor1.pretrain import PretrainConfig, pretrain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}  # tiny models: 1 thread is faster on 2 cores
SUMMARY_KEYS = ("pass@1", "cons@k", "format_rate", "mean_len", "aha_rate", "acc_aha", "acc_no_aha", "lang_mix_rate")


@pytest.fixture(scope="session")
def root(tmp_path_factory):
    """A folder holding base_tiny/model.pt, a finished tiny pretraining run, as train_zero.py would make it."""
    root = tmp_path_factory.mktemp("zero")
    pretrain(PretrainConfig(preset="tiny", out_dir=str(root / "base_tiny")), quiet=True)
    return root


def run_script(*args, timeout=60):
    t0 = time.time()
    p = subprocess.run([sys.executable, os.path.join(REPO, "train_zero.py"), *args], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=timeout)
    return p, time.time() - t0


@pytest.mark.slow
def test_smoke_tiny_preset_end_to_end_writes_summary_and_plots(root):
    out = root / "zero"
    p, seconds = run_script("--preset=tiny", f"--out_dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "reusing the base model" in p.stdout  # the finished base beside out_dir is not pretrained again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preset"] == "tiny" and summary["seconds"] > 0
    for which in ("base", "final"):
        for k in SUMMARY_KEYS:
            assert k in summary[which], (which, k)
        assert 0.0 <= summary[which]["pass@1"] <= 1.0 and summary[which]["mean_len"] > 0
    steps = [c["step"] for c in summary["curve"]]
    assert steps[0] == 0 and steps[-1] == summary["grpo_config"]["steps"] == 2
    assert summary["final"]["step"] == 2
    assert [r["step"] for r in read_jsonl(str(out / "train.jsonl"))] == [1, 2]
    for png in ("curve.png", "train.png"):
        assert (out / png).stat().st_size > 1000
    assert "<table>" in (out / "report.html").read_text()  # structure: tests/test_report.py


@pytest.mark.slow
@pytest.mark.parametrize("flag,named", [("--no_such_key=1", "--no_such_key"), ("--lr=abc", "--lr='abc'"),
                                        ("--loss_type=foo", "--loss_type='foo'")])
def test_bad_flag_exits_nonzero_naming_it_before_any_training(tmp_path, flag, named):
    p, seconds = run_script("--preset=tiny", f"--out_dir={tmp_path / 'zero'}", flag, timeout=30)
    assert p.returncode != 0
    assert named in p.stderr, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "base_tiny").exists()  # failed before pretraining a base
    assert not (tmp_path / "zero" / "train.jsonl").exists()


@pytest.mark.parametrize("flag,named", [("--scale_rewards=std", "--scale_rewards='std'"),
                                        ("--reward_weights=accuracy=1,nope=1", "'nope'"),
                                        ("--preset=huge", "--preset='huge'"), ("--steps=2.5", "--steps='2.5'"),
                                        ("--families=chess", "--families='chess'"),
                                        ("--difficulties=1,4", "--difficulties='1,4'")])
def test_bad_value_stops_main_before_pretraining(tmp_path, capsys, flag, named):
    with pytest.raises(SystemExit) as e:
        train_zero.main(["--preset=tiny", f"--out_dir={tmp_path / 'zero'}", flag])
    assert e.value.code != 0
    assert named in str(e.value.code) + capsys.readouterr().err
    assert not (tmp_path / "base_tiny").exists()


def _train_zero(argv, kill_before_step=None, monkeypatch=None):
    """train_zero.main in-process; kill_before_step simulates a kill (after the last checkpoint) at that step."""
    if kill_before_step is not None:
        real = rl_loop.train_step  # the step run_rl (train_zero's loop) calls

        def dying(trainer):
            if trainer.step + 1 == kill_before_step:
                raise KeyboardInterrupt
            return real(trainer)
        monkeypatch.setattr(rl_loop, "train_step", dying)
        with pytest.raises(KeyboardInterrupt):
            train_zero.main(argv)
        monkeypatch.setattr(rl_loop, "train_step", real)
    else:
        train_zero.main(argv)


@pytest.mark.slow
def test_resume_after_a_kill_gives_bit_identical_weights_end_to_end(root, tmp_path, monkeypatch):
    # the language reward (a fraction) gives the tiny base different rewards within a group: real updates
    common = ["--preset=tiny", f"--base={root / 'base_tiny' / 'model.pt'}", "--steps=3", "--eval_every=2",
              "--reward_weights=accuracy=1,language=1", "--lr=3e-3", "--eval_n_per_cell=1", "--eval_k=1"]
    a, b = tmp_path / "straight", tmp_path / "killed"
    _train_zero(common + [f"--out_dir={a}"])
    _train_zero(common + [f"--out_dir={b}"], kill_before_step=3, monkeypatch=monkeypatch)
    assert load_checkpoint(str(b / "model.pt"))["step"] == 2  # the kill came after the step-2 checkpoint
    _train_zero(common + [f"--out_dir={b}", "--resume"])

    sa, sb = load_checkpoint(str(a / "model.pt")), load_checkpoint(str(b / "model.pt"))
    assert sa["step"] == sb["step"] == 3
    base = load_checkpoint(str(root / "base_tiny" / "model.pt"))["model"]
    assert not torch.equal(sa["model"]["wte.weight"], base["wte.weight"])  # training did move the weights
    for k in sa["model"]:
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    rows_a, rows_b = read_jsonl(str(a / "train.jsonl")), read_jsonl(str(b / "train.jsonl"))
    assert [r["step"] for r in rows_b] == [1, 2, 3]  # no step logged twice
    assert [r["reward"] for r in rows_a] == [r["reward"] for r in rows_b]
    summary_b = json.loads((b / "summary.json").read_text())
    assert [c["step"] for c in summary_b["curve"]] == [0, 2, 3]


@pytest.mark.slow
def test_zero_steps_evaluates_the_base_and_writes_a_summary(root, tmp_path):
    out = tmp_path / "zero"
    train_zero.main(["--preset=tiny", f"--base={root / 'base_tiny' / 'model.pt'}", f"--out_dir={out}", "--steps=0",
                     "--eval_k=1"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final"]["pass@1"] == summary["base"]["pass@1"]


def test_default_preset_starts_from_the_shipped_base(tmp_path, capsys):
    train_zero.main([f"--out_dir={tmp_path / 'zero'}", "--steps=0", "--eval_n_per_cell=1", "--eval_k=1",
                     "--max_new_tokens=16"])
    summary = json.loads((tmp_path / "zero" / "summary.json").read_text())
    assert summary["preset"] == "cpu" and summary["base_checkpoint"].endswith(os.path.join("nanor1", "base.pt"))
    assert "the shipped base" in capsys.readouterr().out
    assert not (tmp_path / "base_cpu").exists()  # nothing pretrained


def test_a_stale_shipped_base_stops_the_run_before_any_training(tmp_path, monkeypatch):
    import nanor1.base as base_mod
    monkeypatch.setattr(base_mod, "tokenizer_sha256", lambda path=None: "0" * 64)  # as if the ranks had changed
    with pytest.raises(SystemExit, match="stale: the tokenizer ranks .*python -m nanor1.base --rebuild"):
        train_zero.main([f"--out_dir={tmp_path / 'zero'}", "--steps=1"])
    assert not (tmp_path / "zero" / "train.jsonl").exists()
