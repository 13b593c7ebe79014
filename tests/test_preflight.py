"""Start-up checks (nanor1/preflight.py): a setting that cannot run stops the run before any work, with one line
naming it; the longest-prompt bound behind the sequence budget is exact.

    python -m pytest tests/test_preflight.py -q
"""
import random

import pytest

import nanor1.grpo
import nanor1.preflight as preflight
import nanor1.pretrain as pretrain_mod
import train_r1
import train_zero
from nanor1 import evaluate
from nanor1.config import apply_preset
from nanor1.checkpoint import save_checkpoint
from nanor1.model import GPT, ModelConfig
from nanor1.pretrain import PretrainConfig, pretrain, preset_config
from nanor1.sft import SFTConfig, sft
from nanor1.tasks import DIFFICULTIES, FAMILIES, GENERAL_FAMILIES, LANGS, format_prompt, sample_problem
from nanor1.tokenizer import get_tokenizer

tok = get_tokenizer()


def tokens(problem) -> int:
    return len(tok.encode(format_prompt(problem)))


def stops(fn, *args, **kwargs) -> str:
    """The one-line message of the SystemExit that fn raises."""
    with pytest.raises(SystemExit) as e:
        fn(*args, **kwargs)
    message = str(e.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def tiny_checkpoint(path, **overrides) -> str:
    cfg = ModelConfig.preset("tiny", vocab_size=tok.vocab_size, **overrides)
    save_checkpoint(str(path), {"model": GPT(cfg).state_dict(), "model_config": cfg.to_dict()})
    return str(path)


# ----------------------------------------------------------------------------- the longest prompt

@pytest.mark.parametrize("family", FAMILIES)
def test_longest_prompt_is_the_longest_the_generator_makes(family):
    for difficulty in DIFFICULTIES:
        for lang in LANGS:
            rng = random.Random(f"{family}/{difficulty}/{lang}")
            sampled = max(tokens(sample_problem(rng, family, difficulty, lang, split=None)) for _ in range(200))
            bound, _ = preflight.longest_prompt((family,), (difficulty,), (lang,))
            assert sampled == bound, (family, difficulty, lang)  # never exceeded, and reached: no slack


def test_longest_translate_prompt_is_never_exceeded_by_a_sample():
    bound, _ = preflight.longest_prompt(GENERAL_FAMILIES, DIFFICULTIES)
    rng = random.Random(7)  # another seed than preflight's own sample
    sampled = max(tokens(sample_problem(rng, "translate", rng.choice(DIFFICULTIES), split=None)) for _ in range(1500))
    assert sampled <= bound


# ----------------------------------------------------------------------------- train_zero.py

def test_max_new_tokens_beyond_the_models_context_stops_train_zero_before_pretraining(tmp_path):
    message = stops(train_zero.main, ["--preset=tiny", f"--out_dir={tmp_path / 'zero'}", "--max_new_tokens=200"])
    assert "--max_new_tokens=200" in message and "max_seq_len=256" in message and "at most 151 fit" in message
    assert not (tmp_path / "base_tiny").exists() and not (tmp_path / "zero").exists()


def test_prompts_per_step_not_a_multiple_of_the_processes_stops_train_zero(tmp_path, monkeypatch):
    for module in (nanor1.grpo, preflight):
        monkeypatch.setattr(module, "world", lambda: 2)  # the tiny pretraining batch (4 rows) splits in two
    message = stops(train_zero.main, ["--preset=tiny", f"--out_dir={tmp_path / 'zero'}", "--prompts_per_step=3"])
    assert "--prompts_per_step=3" in message and "(2)" in message
    assert not (tmp_path / "base_tiny").exists()


@pytest.mark.parametrize("flag", ["--micro_batch_rows=0", "--num_generations=0", "--eval_k=0", "--temperature=0.0",
                                  "--eval_every=-1"])
def test_a_zero_size_stops_train_zero_naming_it(tmp_path, flag):
    message = stops(train_zero.main, ["--preset=tiny", f"--out_dir={tmp_path / 'zero'}", flag])
    assert message.startswith(f"error: {flag}: must be")
    assert not (tmp_path / "base_tiny").exists()


def test_the_base_checkpoint_decides_the_budget(tmp_path):
    base = tiny_checkpoint(tmp_path / "short.pt", max_seq_len=120)  # the longest prompt is 105 tokens
    message = stops(train_zero.main, ["--preset=tiny", f"--base={base}", f"--out_dir={tmp_path / 'zero'}"])
    assert "max_seq_len=120" in message and "at most 15 fit" in message


# ----------------------------------------------------------------------------- pretraining, SFT, evaluation

def test_pretraining_batch_not_a_multiple_of_the_processes_stops_before_any_data(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "world", lambda: 3)
    message = stops(pretrain, PretrainConfig(preset="tiny", batch_size=4, out_dir=str(tmp_path / "base")))
    assert "--batch_size=4" in message and "(3)" in message
    assert not (tmp_path / "base").exists()


def test_pretraining_rows_longer_than_the_model_stop_pretraining(tmp_path, monkeypatch):
    model = pretrain_mod.PRESETS["tiny"]["model"]  # a preset whose seq_len is not capped, on the tiny model
    monkeypatch.setitem(pretrain_mod.PRESETS, "probe", dict(model=model, steps=1, batch_size=2, lr=1e-3))
    too_long = ModelConfig.preset(model).max_seq_len + 1
    message = stops(pretrain, PretrainConfig(preset="probe", seq_len=too_long, out_dir=str(tmp_path / "base")))
    assert f"--seq_len={too_long}" in message
    assert not (tmp_path / "base").exists()


def test_an_sft_batch_of_zero_stops_sft(tmp_path):
    model = GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size))
    message = stops(sft, model, [{"prompt": "Q", "response": "A"}], SFTConfig(batch_size=0), str(tmp_path))
    assert message == "error: batch_size=0: must be > 0"


def test_evaluate_rejects_max_new_tokens_beyond_the_checkpoints_context(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "model.pt")
    message = stops(evaluate.main, [f"--ckpt={ckpt}", "--max_new_tokens=300", f"--out={tmp_path / 'eval.json'}"])
    assert "--max_new_tokens=300" in message and "held-out evaluation" in message
    assert not (tmp_path / "eval.json").exists()


# ----------------------------------------------------------------------------- train_r1.py

def test_a_broken_train_r1_preset_stops_before_the_bases(tmp_path, monkeypatch, capsys):
    p = train_r1.PRESETS["tiny"]
    monkeypatch.setitem(train_r1.PRESETS, "tiny", {**p, "grpo": {**p["grpo"], "max_new_tokens": 300}})
    message = stops(train_r1.main, ["--preset=tiny", f"--out_dir={tmp_path / 'r1'}"])
    assert message.startswith("error: train_r1 preset tiny: grpo.max_new_tokens=300: reasoning prompts")
    assert not (tmp_path / "base_tiny").exists() and not (tmp_path / "r1").exists()


def test_train_r1_warns_when_general_prompts_leave_less_than_max_new_tokens(capsys):
    rc = apply_preset(train_r1.R1Config(preset="tiny"), train_r1.PRESETS, explicit=set())
    run = train_r1.Run(rc, "tiny", "cpu")
    preflight.check_r1(run, preset_config)  # translation prompts (~350 tokens) exceed the tiny model's 256
    out = capsys.readouterr().out
    assert out.startswith("warning: train_r1 preset tiny: grpo.max_new_tokens=") and "general prompts" in out
