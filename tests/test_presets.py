"""Every preset runs: the presets of nanor1/pretrain.py, train_zero.py and train_r1.py, each through its script's
own code path, on a CPU, in seconds.

    python -m pytest tests/test_presets.py -q          # train_r1's whole-recipe runs are marked slow

Shrunk, and nothing else: the model's width and depth (1 layer x 32; its max_seq_len is the preset's), the step
counts (1 pretraining step, 1-2 GRPO steps, a few SFT and reward-model examples), GRPO's prompts per step (2; G,
loss type, masking, reward weights, KL, max_new_tokens and micro-batch rows are the preset's) and the evaluation
sizes (1 problem per cell). Pretraining runs the preset's batch and seq_len.
A random model writes a stop token about once in 1000 tokens, so the sampler is made to end a row after
max_new_tokens / 8 tokens on average (the tiny presets' 24 tokens are still reached); one test per script and preset
decodes the full max_new_tokens after the longest prompt its runs can draw.
Presets meant for a GPU (their name says gpu) run in bf16 autocast with a bf16 KV cache, the CUDA path's
precision (NANOR1_CPU_BF16=1, nanor1/distributed.py); the others in fp32, as on a CPU.
"""
import json
import math
import os

import pytest
import torch

import nanor1.loss
import nanor1.pretrain as pretrain_mod
import nanor1.r1_report
from nanor1.config import apply_preset
import nanor1.sampler as sampler
import nanor1.sft
import train_r1
import train_zero
from nanor1 import preflight
from nanor1.checkpoint import load_checkpoint
from nanor1.metrics import read_jsonl
from nanor1.model import GPT, ModelConfig
from nanor1.sampler import SamplingParams, generate
from nanor1.tasks import DIFFICULTIES, FAMILIES, format_prompt
from nanor1.tokenizer import get_tokenizer
from nanor1.zero_presets import PRESETS as ZERO_PRESETS

SHRINK = dict(n_layer=1, n_head=2, n_kv_head=1, n_embd=32, mlp_hidden=64)
tok = get_tokenizer()


def on_gpu(name: str) -> bool:
    return "gpu" in name


@pytest.fixture
def logits_dtypes(monkeypatch):
    """Every preset's model shrunk, every pretraining one step, rows ending early, no plots; returns the dtypes of
    the logits the model produced (pretraining, sampling, evaluation)."""
    preset = ModelConfig.preset
    monkeypatch.setattr(ModelConfig, "preset", staticmethod(lambda name, **kw: preset(name, **{**SHRINK, **kw})))
    for name, p in list(pretrain_mod.PRESETS.items()):
        monkeypatch.setitem(pretrain_mod.PRESETS, name, {**p, "steps": 1})
    monkeypatch.setattr(pretrain_mod, "can_compile", lambda device: False)  # compiling costs ~20 s of a 1-step run
    for module in (pretrain_mod, nanor1.sft, train_zero, train_r1):  # plots are tested elsewhere; here they cost
        monkeypatch.setattr(module, "plot_metrics", lambda *args, **kwargs: None)  # half the time
    monkeypatch.setattr(nanor1.r1_report, "plot_report", lambda *args, **kwargs: None)

    real_next = sampler.sample_next

    def stop_early(logits, params, generator=None):  # p(</answer>) = 8 / max_new_tokens at each token
        q, t = min(0.5, 8 / params.max_new_tokens), params.temperature or 1.0
        logits = logits.float().clone()
        logits[:, tok.answer_end_id] = t * (torch.logsumexp(logits / t, -1) + math.log(q / (1 - q)))
        return real_next(logits, params, generator)
    monkeypatch.setattr(sampler, "sample_next", stop_early)

    dtypes, forward = set(), GPT.forward

    def recording(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if not kwargs.get("return_hidden"):
            dtypes.add(out.dtype)
        return out
    monkeypatch.setattr(GPT, "forward", recording)
    return dtypes


def precision(monkeypatch, name: str) -> torch.dtype:
    if on_gpu(name):
        monkeypatch.setenv("NANOR1_CPU_BF16", "1")
    return torch.bfloat16 if on_gpu(name) else torch.float32


def pretraining_dtypes(pretrain_preset: str, dtype: torch.dtype) -> set:
    """The logits' dtypes of a run that pretrains its base with `pretrain_preset` and then runs in `dtype`: a
    preset with bf16 autocast (the cpu preset) pretrains in bf16 on a CPU with bf16 instructions too."""
    return {dtype, torch.bfloat16} if cpu_bf16(pretrain_preset) else {dtype}


def cpu_bf16(pretrain_preset: str) -> bool:
    """The preset asks for bf16 autocast and this CPU has the instructions for it (nanor1.pretrain.bf16_autocast)."""
    return bool(pretrain_mod.PRESETS[pretrain_preset].get("bf16")) and pretrain_mod.cpu_has_bf16()


def zero_model(name: str) -> str:
    return pretrain_mod.PRESETS[ZERO_PRESETS[name]["pretrain"]]["model"]


def test_some_preset_runs_in_bf16():
    assert any(on_gpu(n) for n in (*pretrain_mod.PRESETS, *ZERO_PRESETS, *train_r1.PRESETS))


# ----------------------------------------------------------------------------- nanor1/pretrain.py

@pytest.mark.parametrize("name", list(pretrain_mod.PRESETS))
def test_pretraining_preset_takes_a_step(name, tmp_path, monkeypatch, logits_dtypes):
    dtype = precision(monkeypatch, name)
    if cpu_bf16(name):  # bf16 autocast on a CPU with bf16 instructions too (the cpu preset)
        dtype = torch.bfloat16
    path = pretrain_mod.pretrain(pretrain_mod.PretrainConfig(preset=name, out_dir=str(tmp_path)), quiet=True)
    ckpt, p = load_checkpoint(path), pretrain_mod.PRESETS[name]
    assert ckpt["step"] == 1 and ckpt["config"]["batch_size"] == p["batch_size"]
    assert ckpt["model_config"]["max_seq_len"] >= ckpt["config"]["seq_len"]
    [row] = read_jsonl(str(tmp_path / "pretrain.jsonl"))
    assert abs(row["loss"] - math.log(tok.vocab_size)) < 1.0  # a random model: about uniform over the vocabulary
    assert logits_dtypes == {dtype}


# ----------------------------------------------------------------------------- train_zero.py

def zero_step(name: str, out, *flags) -> dict:
    """train_zero.py with preset `name`: pretraining, evaluation, one GRPO step, evaluation; checks the run kept
    the preset's GRPO settings and returns the step's metrics. A preset that starts from the shipped base pretrains
    its base here instead (--base=scratch): the shipped base is a full-size checkpoint, checked at load against the
    presets that this file shrinks."""
    if ZERO_PRESETS[name].get("base") == "shipped":
        flags = ("--base=scratch", *flags)
    train_zero.main([f"--preset={name}", f"--out_dir={out}", "--steps=1", "--prompts_per_step=2",
                     "--eval_n_per_cell=1", "--eval_k=2", *flags])
    summary = json.loads((out / "summary.json").read_text())
    want = {k: v for k, v in ZERO_PRESETS[name]["grpo"].items() if k not in ("steps", "prompts_per_step")}
    assert {k: summary["grpo_config"][k] for k in want} == want
    assert summary["final"]["step"] == 1 and summary["base"]["pass@1"] is not None
    [row] = read_jsonl(str(out / "train.jsonl"))
    assert row["groups"] == 2 and row["len_max"] <= summary["grpo_config"]["max_new_tokens"]
    assert all(math.isfinite(row[k]) for k in ("reward", "kl", "entropy", "grad_norm"))
    return row


@pytest.mark.parametrize("name", list(ZERO_PRESETS))
def test_zero_preset_pretrains_evaluates_and_takes_a_grpo_step(name, tmp_path, monkeypatch, logits_dtypes):
    dtype = precision(monkeypatch, name)
    zero_step(name, tmp_path / "zero")
    assert logits_dtypes == pretraining_dtypes(ZERO_PRESETS[name]["pretrain"], dtype)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", [n for n in ZERO_PRESETS if on_gpu(n)])
def test_gpu_zero_preset_on_cuda_runs_in_bf16_with_the_fused_loss(name, tmp_path, logits_dtypes):
    zero_step(name, tmp_path / "zero", "--device=cuda")
    assert logits_dtypes == {torch.bfloat16}
    assert nanor1.loss.fused_available(), nanor1.loss.fused_status()


def budgets():
    """(script, preset, model preset, max_new_tokens) of every run that samples reasoning prompts."""
    for name, p in ZERO_PRESETS.items():
        yield "train_zero", name, zero_model(name), p["grpo"]["max_new_tokens"]
    for name, p in train_r1.PRESETS.items():
        yield "train_r1", name, pretrain_mod.PRESETS[p["pretrain"]]["model"], p["grpo"]["max_new_tokens"]


@pytest.mark.parametrize("script,name,model,max_new_tokens", list(budgets()))
def test_longest_prompt_gets_every_new_token(script, name, model, max_new_tokens, monkeypatch):
    precision(monkeypatch, name)
    torch.manual_seed(0)
    policy = GPT(ModelConfig.preset(model, vocab_size=tok.vocab_size, **SHRINK))
    _, problem = preflight.longest_prompt(FAMILIES, DIFFICULTIES)
    out = generate(policy, [tok.encode(format_prompt(problem))], 1, SamplingParams(max_new_tokens=max_new_tokens),
                   pad_id=tok.pad_id, eos_id=-1, generator=torch.Generator().manual_seed(0))  # no stop token
    assert int(out.lengths[0]) == max_new_tokens  # not cut short: the prompt and every new token fit the context


# ----------------------------------------------------------------------------- train_r1.py

@pytest.mark.slow
@pytest.mark.parametrize("name", list(train_r1.PRESETS))
def test_r1_preset_runs_every_stage(name, tmp_path, monkeypatch, logits_dtypes):
    dtype = precision(monkeypatch, name)
    p = train_r1.PRESETS[name]
    monkeypatch.setitem(train_r1.PRESETS, name, {**p, "grpo": {**p["grpo"], "prompts_per_step": 2}})
    out = tmp_path / "r1"
    rc = apply_preset(train_r1.R1Config(preset=name), train_r1.PRESETS, explicit=set())  # the preset's values
    base = ["--base=scratch"] if rc.base == "shipped" else []  # the shipped base is full-size (see zero_step)
    base += ["--student_base=scratch"] if rc.student_base == "shipped" else []  # the shipped student too
    train_r1.main([f"--preset={name}", f"--out_dir={out}", *base, "--cold_start_n=8", "--rl_steps=1", "--rs_prompts=2",
                   "--rs_k=2", "--general_n=4", "--rm_pairs=16", "--all_rl_steps=2", "--eval_n=1", "--eval_k=1",
                   *(["--rm_policy_prompts=2"] if rc.rm_policy_prompts else [])])
    summary = json.loads((out / "summary.json").read_text())
    assert {"R1-Zero", "stage 1 cold start", "stage 2 reasoning RL", "stage 3 rejection SFT", "stage 4 all-scenario RL",
            "student distilled", "student R1-Zero RL"} <= set(summary["models"])
    for stage in train_r1.STAGE_DIRS.values():
        assert os.path.exists(out / stage / "stage.json"), stage
    assert summary["stages"]["2"]["grpo_config"]["max_new_tokens"] == p["grpo"]["max_new_tokens"]
    assert summary["stages"]["4"]["grpo_config"]["overlong_buffer"] == rc.overlong_buffer
    assert logits_dtypes == pretraining_dtypes(p["pretrain"], dtype) | pretraining_dtypes(p["student"], dtype)
