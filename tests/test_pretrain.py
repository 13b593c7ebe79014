"""Pretraining (nanor1/pretrain.py): data as a pure function of the step, exact resume, NaN guard, logs/plots."""
import os

import pytest
import torch
import torch.nn.functional as F

import nanor1.pretrain as pretrain_mod
from nanor1.checkpoint import load_checkpoint
from nanor1.config import parse_with_preset
from nanor1.corpus import CorpusMix
from nanor1.metrics import read_jsonl
from nanor1.pretrain import PretrainConfig, make_batch, pretrain, resolve
from nanor1.tokenizer import get_tokenizer


class Killed(Exception):
    """Stands in for a kill -9 in the middle of a run."""


def tiny(out_dir, **kw) -> PretrainConfig:
    return PretrainConfig(preset="tiny", out_dir=str(out_dir), log_every=1, **kw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny preset as it is (30 steps), logging every step."""
    out = tmp_path_factory.mktemp("base")
    path = pretrain(tiny(out), quiet=True)
    return out, path


def test_make_batch_is_a_pure_function_of_the_step():
    tok, mix = get_tokenizer(), CorpusMix()
    cfg = resolve(PretrainConfig(preset="tiny", batch_size=3))
    a = make_batch(7, cfg, tok, mix)
    assert a.shape == (3, cfg.seq_len + 1) and a.dtype == torch.long
    assert torch.equal(a, make_batch(7, cfg, tok, mix))
    assert not torch.equal(a, make_batch(8, cfg, tok, mix))
    assert (a[:, 0] == tok.bos_id).all()
    ends = (a[:, :-1] == tok.eos_id).nonzero()
    assert len(ends) > 0 and (a[ends[:, 0], ends[:, 1] + 1] == tok.bos_id).all()  # packed: <eos> then <bos>


def test_make_batch_depends_on_the_seed():
    tok, mix = get_tokenizer(), CorpusMix()
    cfg = resolve(PretrainConfig(preset="tiny", batch_size=2, seq_len=32))
    other = resolve(PretrainConfig(preset="tiny", batch_size=2, seq_len=32, seed=cfg.seed + 1))
    assert not torch.equal(make_batch(0, cfg, tok, mix), make_batch(0, other, tok, mix))


def _optimizer_steps(ckpt) -> list[float]:
    return [float(s["step"]) for s in ckpt["optimizer"]["state"].values()]


def test_resume_after_a_kill_is_bit_identical(tmp_path, monkeypatch):
    full = load_checkpoint(pretrain(tiny(tmp_path / "full", steps=6, ckpt_every=3), quiet=True))

    real_make_batch = pretrain_mod.make_batch

    def dies_at_step_4(step, *args):  # the killed run logs steps 1-4 and checkpoints after step 3
        if step == 4:
            raise Killed
        return real_make_batch(step, *args)

    monkeypatch.setattr(pretrain_mod, "make_batch", dies_at_step_4)
    with pytest.raises(Killed):
        pretrain(tiny(tmp_path / "killed", steps=6, ckpt_every=3), quiet=True)
    monkeypatch.undo()
    assert load_checkpoint(str(tmp_path / "killed" / "model.pt"))["step"] == 3

    resumed = load_checkpoint(pretrain(tiny(tmp_path / "killed", steps=6, ckpt_every=3, resume=True), quiet=True))
    assert resumed["step"] == full["step"] == 6
    for name, p in full["model"].items():
        assert torch.equal(p, resumed["model"][name]), name
    assert _optimizer_steps(resumed) == _optimizer_steps(full) == [6.0] * len(_optimizer_steps(full))
    for a, b in zip(full["optimizer"]["state"].values(), resumed["optimizer"]["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_resumed_log_has_each_step_once(tmp_path, monkeypatch):
    real_make_batch = pretrain_mod.make_batch

    def dies_at_step_3(step, *args):  # logged steps 1-3, checkpoint after step 2: step 3 is redone
        if step == 3:
            raise Killed
        return real_make_batch(step, *args)

    monkeypatch.setattr(pretrain_mod, "make_batch", dies_at_step_3)
    with pytest.raises(Killed):
        pretrain(tiny(tmp_path, steps=4, ckpt_every=2), quiet=True)
    monkeypatch.undo()
    pretrain(tiny(tmp_path, steps=4, ckpt_every=2, resume=True), quiet=True)
    assert [r["step"] for r in read_jsonl(str(tmp_path / "pretrain.jsonl"))] == [1, 2, 3, 4]


def test_loss_goes_down(trained):
    out, _ = trained
    losses = [r["loss"] for r in read_jsonl(os.path.join(out, "pretrain.jsonl"))]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses


def test_writes_jsonl_log_and_png_plot(trained):
    out, path = trained
    rows = read_jsonl(os.path.join(out, "pretrain.jsonl"))
    assert [r["step"] for r in rows] == list(range(1, 31))
    assert {"step", "loss", "lr", "grad_norm", "tokens_per_s", "seconds"} <= set(rows[0])
    with open(os.path.join(out, "pretrain.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    ckpt = load_checkpoint(path)
    assert ckpt["kind"] == "base" and ckpt["step"] == 30 and ckpt["config"]["preset"] == "tiny"


def test_non_finite_loss_skips_steps_then_stops(tmp_path, monkeypatch, capsys):
    real_cross_entropy = F.cross_entropy
    monkeypatch.setattr(F, "cross_entropy", lambda *a, **kw: real_cross_entropy(*a, **kw) * float("nan"))
    with pytest.raises(SystemExit) as e:
        pretrain(tiny(tmp_path, steps=20, ckpt_every=2), quiet=True)
    assert "non-finite" in str(e.value.code)
    assert capsys.readouterr().out.count("step skipped") == 5
    assert not os.path.exists(tmp_path / "model.pt")  # skipped steps neither train nor checkpoint
    assert read_jsonl(str(tmp_path / "pretrain.jsonl")) == []


def test_ensure_base_reuses_a_finished_base_and_refuses_a_stale_one(trained, monkeypatch, capsys):
    out, path = trained
    assert pretrain_mod.ensure_base("tiny", str(out), "cpu") == path
    assert "reusing" in capsys.readouterr().out
    # the preset's definition changed since that base was made: a clear error, not a silently different base
    monkeypatch.setitem(pretrain_mod.PRESETS, "tiny", {**pretrain_mod.PRESETS["tiny"], "steps": 60})
    with pytest.raises(SystemExit, match="30 steps of 4 rows, corpus .* but preset 'tiny' is now .* 60 steps"):
        pretrain_mod.ensure_base("tiny", str(out), "cpu")
    # ... and so does a change of its corpus (the base's knobs are recorded in the checkpoint)
    changed = {**pretrain_mod.PRESETS["tiny"], "first_try_hit": 0.3}
    monkeypatch.setitem(pretrain_mod.PRESETS, "tiny", changed)
    with pytest.raises(SystemExit, match="first_try_hit=0.0 .* is now .* first_try_hit=0.3"):
        pretrain_mod.ensure_base("tiny", str(out), "cpu")


def test_corpus_knobs_come_from_the_defaults_then_the_preset_then_the_flags():
    plain = pretrain_mod.corpus_mix(resolve(PretrainConfig(preset="student")))
    assert pretrain_mod.corpus_knobs(plain) == {"retry_after_miss": 0.15, "first_try_hit": 0.0, "check_drills": 0.0,
                                                "slip_rate": 0.2}
    shipped = pretrain_mod.corpus_mix(resolve(PretrainConfig(preset="cpu")))
    assert pretrain_mod.corpus_knobs(shipped) == {"retry_after_miss": 0.25, "first_try_hit": 0.3, "check_drills": 0.5,
                                                  "slip_rate": 0.05}
    assert shipped.habits.slip_rate == 0.05 and plain.habits.slip_rate == 0.2
    flagged, _ = parse_with_preset(PretrainConfig(), ["--preset=cpu", "--first_try_hit=0.0", "--warmup_steps=10"],
                                   pretrain_mod.PRESETS)
    assert pretrain_mod.corpus_knobs(pretrain_mod.corpus_mix(flagged))["first_try_hit"] == 0.0
    assert flagged.warmup_steps == 10 and resolve(PretrainConfig(preset="cpu")).warmup_steps == 50
    assert resolve(PretrainConfig(preset="student")).warmup_steps == 30


@pytest.mark.parametrize("bf16, has_instructions, want", [(1, True, True), (1, False, False), (2, False, True),
                                                          (0, True, False)])
def test_bf16_autocast_on_a_cpu_only_where_it_is_fast_unless_forced(bf16, has_instructions, want, monkeypatch,
                                                                    capsys):
    monkeypatch.delenv("NANOR1_CPU_BF16", raising=False)
    monkeypatch.setattr(pretrain_mod, "cpu_has_bf16", lambda: has_instructions)
    cfg = resolve(PretrainConfig(preset="cpu", bf16=bf16), explicit={"bf16"})  # as --bf16 sets it
    assert pretrain_mod.bf16_autocast(cfg, "cpu") is want
    assert ("runs in fp32" in capsys.readouterr().out) is (bf16 == 1 and not has_instructions)


def test_a_bad_bf16_value_is_refused():
    with pytest.raises(SystemExit, match="--bf16=3"):
        resolve(PretrainConfig(preset="cpu", bf16=3))


@pytest.mark.parametrize("has_instructions", [True, False])
def test_pretraining_records_the_precision_it_ran_in(has_instructions, tmp_path, monkeypatch):
    monkeypatch.delenv("NANOR1_CPU_BF16", raising=False)
    monkeypatch.setattr(pretrain_mod, "cpu_has_bf16", lambda: has_instructions)
    path = pretrain(tiny(tmp_path, steps=1, bf16=1), quiet=True)
    assert load_checkpoint(path)["precision"] == ("bf16" if has_instructions else "fp32")
