"""bench/gpu_check.py where there is no GPU: the plan, the skipped stages, a stage over its limit, the extrapolation.

    python -m pytest tests/test_gpu_check.py -q
"""
import importlib.util
import json
import os
import sys
import time

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("gpu_check", os.path.join(REPO, "bench", "gpu_check.py"))
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)


def test_dry_run_lists_every_stage_and_runs_nothing(tmp_path, capsys):
    assert gpu_check.main([f"--out={tmp_path / 'gc'}", "--dry_run"]) == {}
    out = capsys.readouterr().out
    assert all(stage.name in out for stage in gpu_check.stages(gpu_check.CheckConfig()))
    assert not (tmp_path / "gc").exists()


def test_an_unknown_stage_is_an_error():
    with pytest.raises(SystemExit, match="unknown stage"):
        gpu_check.main(["--only=loss,nope", "--dry_run"])


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the run without CUDA")
def test_without_cuda_the_gpu_stages_are_skipped_and_the_results_written(tmp_path):
    gpu_check.main([f"--out={tmp_path}"])
    saved = json.loads((tmp_path / "results.json").read_text())
    env = saved["stages"].pop("env")
    assert env["status"] == "ok" and env["result"]["cuda_available"] is False
    assert saved["stages"] and all(s["status"] == "skipped" for s in saved["stages"].values())
    assert saved["extrapolation"] is None


@pytest.mark.slow
def test_a_stage_over_its_limit_is_killed_with_its_children_and_reported(tmp_path):
    sleeper = "import subprocess, sys, time; print(subprocess.Popen([sys.executable, '-c', " \
              "'import time; time.sleep(60)']).pid, flush=True); time.sleep(60)"
    stage = gpu_check.Stage("sleepy", 2, [sys.executable, "-c", sleeper], needs_cuda=False)
    os.makedirs(tmp_path / "logs")
    t0 = time.time()
    entry = gpu_check.run_stage(stage, str(tmp_path), seconds_left=100, cuda=False)
    assert entry["status"] == "timeout" and time.time() - t0 < 10
    child = int((tmp_path / "logs" / "sleepy.log").read_text().split()[0])
    time.sleep(0.5)  # reaped by init once killed
    stat = f"/proc/{child}/stat"
    assert not os.path.exists(stat) or open(stat).read().split()[2] == "Z"


def test_extrapolation_multiplies_each_measured_time_by_the_presets_count():
    from nanor1.pretrain import PRESETS
    from nanor1.zero_presets import PRESETS as ZERO_PRESETS, eval_interval
    preset = gpu_check.CheckConfig().preset
    measured = {"gpu_pretrain": {"result": {"seconds_per_step": 0.06}}, "gpu_eval": {"result": {"seconds": 30.0}},
                "gpu_grpo": {"result": {"seconds": 6.0}}}
    x = gpu_check.extrapolate(preset, measured)
    p = ZERO_PRESETS[preset]
    steps, every = p["grpo"]["steps"], eval_interval(p["grpo"]["steps"])
    assert x["pretraining"]["count"] == PRESETS[p["pretrain"]]["steps"] and x["grpo"]["count"] == steps
    assert x["evaluation"]["count"] == 1 + steps // every + (steps % every > 0)  # the base, then every `every`
    assert x["grpo"]["minutes"] == round(steps * 6.0 / 60, 1)
    assert x["total_minutes"] == round(sum(x[k]["minutes"] for k in ("pretraining", "grpo", "evaluation")), 1)
    del measured["gpu_eval"]
    assert gpu_check.extrapolate(preset, measured) is None


@pytest.mark.slow
def test_an_optional_stage_that_fails_is_recorded_as_skipped(tmp_path):
    stage = gpu_check.Stage("peer", 10, [sys.executable, "-c", "raise SystemExit(3)"], needs_cuda=False,
                            optional=True)
    os.makedirs(tmp_path / "logs")
    entry = gpu_check.run_stage(stage, str(tmp_path), seconds_left=100, cuda=False)
    assert entry["status"] == "skipped" and entry["rc"] == 3
