"""experiments/ (one script per claim of the R1 report) as a specification: each one's tiny preset runs end to end
and writes its JSON result and PNG plot.

    python -m pytest tests/test_experiments.py -q

One tiny base model is pretrained per session and shared: the scripts reuse <dirname(out_dir)>/base_tiny.
"""
import json
import os
import subprocess
import sys

import pytest

from nanor1.pretrain import PretrainConfig, pretrain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}
pytestmark = pytest.mark.slow  # every test runs a script in a subprocess


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    pretrain(PretrainConfig(preset="tiny", out_dir=str(root / "base_tiny")), quiet=True)
    return root


def run(script, *args):
    p = subprocess.run([sys.executable, os.path.join(REPO, "experiments", script), "--preset=tiny", *args], cwd=REPO,
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "reusing" in p.stdout  # the shared tiny base, not a new pretraining
    return p.stdout


def test_aha_length_runs_r1_zero_when_missing_and_reports_both_curves(root):
    run("aha_length.py", f"--run_dir={root / 'zero'}")
    res = json.loads((root / "zero" / "aha_length.json").read_text())
    assert [c["step"] for c in res["curve"]] == [0, 2]  # evaluations >= 5 steps apart: the base and the end
    assert {"pass@1", "aha_rate", "mean_len"} <= set(res["heldout"]["last"])
    assert res["samples"]["early"]["step"] == 0 and res["samples"]["late"]["step"] == 2
    assert (root / "zero" / "aha_length.png").stat().st_size > 1000


def test_ppo_vs_grpo_measures_memory_and_time_of_both_arms(root):
    out = root / "exp_ppo"
    run("ppo_vs_grpo.py", f"--out_dir={out}")
    res = json.loads((out / "ppo_vs_grpo.json").read_text())
    g, p = res["summary"]["grpo"], res["summary"]["ppo"]
    assert p["state_mb"] > 1.5 * g["state_mb"]  # the critic, its gradients and AdamW moments
    assert p["activations_mb_peak"] > g["activations_mb_peak"] > 0
    assert g["seconds"] > 0 and p["seconds"] > 0
    assert (out / "ppo_vs_grpo.png").stat().st_size > 1000


@pytest.mark.parametrize("script, name, arms, keys", [
    ("process_reward.py", "process_reward", ("outcome", "process", "learned_prm"),
     ("pass@1", "learned_score", "process_score", "steps_per_response", "step_accuracy", "prm_agreement")),
    ("tags.py", "tags", ("tags", "plain"), ("pass@1", "unparseable", "confident_wrong", "unsupported", "tag_leak")),
])
def test_reward_and_template_comparisons_report_their_metrics_per_arm_before_and_after(root, script, name, arms,
                                                                                       keys):
    out = root / f"exp_{name}"
    run(script, f"--out_dir={out}")
    res = json.loads((out / f"{name}.json").read_text())
    assert tuple(res["summary"]) == arms
    for arm in res["summary"].values():
        assert all(0.0 <= arm["base"][k] for k in keys) and all(arm["final"][k]["n"] == 1 for k in keys)
    assert (out / f"{name}.png").stat().st_size > 1000


def test_process_reward_trains_a_prm_and_reports_its_held_out_step_accuracy_and_high_scoring_wrong_answers(root):
    out = root / "exp_process_reward"
    if not (out / "process_reward.json").exists():
        run("process_reward.py", f"--out_dir={out}")
    res = json.loads((out / "process_reward.json").read_text())
    held = res["prm"]["heldout"]
    assert held["n_steps"] > 0 and 0.0 <= held["accuracy"] <= 1.0
    assert res["arms"]["learned_prm"] == "accuracy=0,format=0.25,process=0,learned_prm=1"
    for examples in res["high_score_wrong_final"].values():
        assert all({"response", "learned_score"} <= set(e) for e in examples)


def test_a_rerun_reuses_the_cached_arms(root):
    out = root / "exp_process_reward"
    assert "cached" in run("process_reward.py", f"--out_dir={out}")


def test_aha_source_runs_r1_zero_from_a_base_with_and_without_retries(root):
    run("aha_source.py", f"--out_dir={root}")
    res = json.loads((root / "aha_source.json").read_text())
    assert set(res["arms"]) == {"retry", "no_retry"}
    for arm in res["arms"].values():
        assert [c["step"] for c in arm["curve"]][0] == 0 and "aha_rate" in arm["final"]
    assert res["arms"]["no_retry"]["base_checkpoint"].endswith(os.path.join("base_no_retry", "model.pt"))
    assert (root / "aha_source.png").stat().st_size > 1000


def test_reward_model_lesson_runs_stage_4_paid_by_the_checker_and_by_the_reward_model(root):
    r1 = root / "r1"
    p = subprocess.run([sys.executable, os.path.join(REPO, "train_r1.py"), "--preset=tiny", f"--out_dir={r1}",
                        "--stages=1,2,3"], cwd=root, capture_output=True, text=True, env=ENV, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    p = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "reward_model_lesson.py"), "--preset=tiny",
                        f"--r1_dir={r1}", f"--out_dir={root / 'rm_lesson'}", "--steps=2"], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    out = p.stdout
    res = json.load(open(root / "rm_lesson" / "reward_model_lesson.json"))
    for arm in ("verifier", "reward_model"):
        a = res["arms"][arm]
        assert a["steps"] == [1, 2] and len(a["rm_score"]) == 2 and len(a["checker_accuracy"]) == 2
        assert all(0.0 <= v <= 1.0 for v in a["rm_score"] + a["checker_accuracy"])
    assert res["arms"]["reward_model"]["rm_heldout_pair_accuracy"]["accuracy"] >= 0.0
    assert os.path.exists(root / "rm_lesson" / "reward_model_lesson.png") and "held-out translation" in out
    assert not (root / "rm_lesson" / "base_tiny").exists()  # the r1 run's base, not a new one
