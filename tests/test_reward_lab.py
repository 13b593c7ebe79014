"""experiments/reward_lab.py and its three reward files (experiments/rewards/): the tiny lab runs
end to end (four arms, their curves, the figure, the responses, a cached rerun), and each reward
pays what its docstring says and stays total (never raises, never hangs) on hostile text.

    python -m pytest tests/test_reward_lab.py -q
"""
import json
import os
import random
import subprocess
import sys
import time

import pytest

from nanor1 import reward_modules
from nanor1.pretrain import PretrainConfig, pretrain
from nanor1.rewards import REWARDS
from nanor1.tasks import Problem, sample_problem, verify

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}
ARMS = ("default", "self_correction", "length_bonus", "partial_credit")


# ----------------------------------------------------------------------------- the lab, tiny preset

def run_lab(out_dir):
    p = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "reward_lab.py"),
                        "--preset=tiny", f"--out_dir={out_dir}"], cwd=REPO, env=ENV,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The tiny lab in <root>/exp_reward_lab, from a tiny base pretrained in <root>/base_tiny
    (where the lab's scratch base is looked for: beside its out_dir)."""
    root = tmp_path_factory.mktemp("lab")
    pretrain(PretrainConfig(preset="tiny", out_dir=str(root / "base_tiny")), quiet=True)
    out = root / "exp_reward_lab"
    stdout = run_lab(out)
    return out, stdout, json.loads((out / "result.json").read_text())


@pytest.mark.slow
def test_the_tiny_lab_reports_four_arms_with_their_curves_a_figure_and_responses(lab):
    out, stdout, res = lab
    assert "reusing" in stdout  # the shared tiny base, not a new pretraining
    assert tuple(res["arms"]) == ARMS
    for arm, a in res["arms"].items():
        assert [c["step"] for c in a["curve"]] == [0, 2]  # the base, then the last step
        first, last = a["curve"]
        assert first["term"] is None and last["term"] is not None  # no training batch before step 1
        for key in ("pass@1", "mean_len", "aha_rate", "truncation_rate"):
            assert last[key] is not None and last[key] >= 0
        assert len(a["samples_final"]) == 2
        assert a["verdict"].startswith(f"{arm}: pass@1") and a["verdict"] in stdout
    for arm in ARMS[1:]:
        paired = res["arms"][arm]["paired_vs_default"]
        assert paired["n_problems"] == 9  # one held-out problem per (family, difficulty) cell
        assert -1.0 <= paired["diff"] <= 1.0
    # every arm starts from the same base, evaluated on the same problems with the same seed
    starts = [{k: a["curve"][0][k] for k in ("pass@1", "mean_len", "aha_rate", "truncation_rate")}
              for a in res["arms"].values()]
    assert starts[0]["mean_len"] > 0 and all(s == starts[0] for s in starts)
    assert (out / "reward_lab.png").stat().st_size > 1000
    responses = (out / "responses.md").read_text()
    assert all(f"## {arm} (" in responses for arm in ARMS)


@pytest.mark.slow
def test_each_arm_loads_the_three_reward_files_and_logs_every_term(lab):
    out, _, res = lab
    for arm in ARMS:
        cached = json.loads((out / f"{arm}_s0" / "result.json").read_text())
        grpo = cached["key"]["grpo"]
        assert sorted(os.path.basename(f) for f in grpo["rewards"].split(",")) == [
            "length_bonus.py", "partial_credit.py", "self_correction.py"]
        weights = dict(part.split("=") for part in grpo["reward_weights"].split(","))
        assert {k: float(v) for k, v in weights.items() if float(v)} == (
            {"accuracy": 1.0, "format": 0.25} if arm == "default" else
            {"accuracy": 1.0, "format": 0.25, arm: 0.5})
        for row in cached["train"]:  # weight 0 or not, every term is scored and logged
            assert {"r_self_correction", "r_length_bonus", "r_partial_credit"} <= set(row)


@pytest.mark.slow
def test_a_rerun_reuses_the_cached_arms(lab):
    out, _, _ = lab
    assert run_lab(out).count("cached") == len(ARMS)


# ----------------------------------------------------------------------------- the three rewards

@pytest.fixture(scope="module")
def rewards():
    """The three reward functions, loaded as --rewards loads them; the registry restored after."""
    registered, loaded = dict(REWARDS), dict(reward_modules._LOADED)
    files = ",".join(os.path.join(REPO, "experiments", "rewards", f"{name}.py")
                     for name in ARMS[1:])
    fns = {name: getattr(m["module"], name)
           for m, name in zip(reward_modules.load(files), ARMS[1:])}
    yield fns
    REWARDS.clear()
    REWARDS.update(registered)
    reward_modules._LOADED.clear()
    reward_modules._LOADED.update(loaded)


COUNTDOWN = Problem("countdown", 1, "en", "Using the numbers 6 2 4 3, reach the target 29",
                    "((6+2)*4)-3", (6, 2, 4, 3, 29))
MISS = ("numbers 6 2 4 3, target 29: try ((6+2)*4)+3: 6+2=8, 8*4=32, 32+3=35. 35 vs 29: no.")
RETRY = ("Wait, numbers 6 2 4 3, target 29: try ((6+2)*4)-3: 6+2=8, 8*4=32, 32-3=29. "
         "29 vs 29: yes.")


def response(think: str, answer: str) -> str:
    return f"<think> {think} </think> <answer> {answer} </answer>"


def test_the_hand_made_countdown_problem_is_one_the_verifier_accepts():
    assert verify(COUNTDOWN, "((6+2)*4)-3") and not verify(COUNTDOWN, "((6+2)*4)+3")


def test_self_correction_pays_a_retry_not_a_plain_answer_and_is_capped(rewards):
    pay = rewards["self_correction"]
    assert pay(response(MISS, "((6+2)*4)+3"), COUNTDOWN) == 0.0
    assert pay(response("6+2=8, 8*4=32, 32-3=29.", "((6+2)*4)-3"), COUNTDOWN) == 0.0
    one = pay(response(f"{MISS} {RETRY}", "((6+2)*4)-3"), COUNTDOWN)
    assert 0.0 < one < 1.0
    assert pay(response(f"{MISS} {RETRY} {RETRY} {RETRY} {RETRY}", "x"), COUNTDOWN) == 1.0
    zh = ("数字 6 2 4 3，目标 29：试 ((6+2)*4)+3。35 对 29：不对。"
          "等等，数字 6 2 4 3，目标 29：试 ((6+2)*4)-3。")
    assert pay(response(zh, "((6+2)*4)-3"), COUNTDOWN) == one  # a Chinese retry counts the same
    # the chain of thought only: a "Wait" in the answer is not a self-correction
    assert pay(response(MISS, "Wait, ((6+2)*4)-3"), COUNTDOWN) == 0.0


def test_length_bonus_grows_with_the_thinking_and_is_capped(rewards):
    pay = rewards["length_bonus"]
    values = [pay(response("x" * n, "1"), COUNTDOWN) for n in (0, 40, 200, 399, 400, 5000)]
    assert values[0] == 0.0 and values[0] < values[1] < values[2] < values[3] < 1.0
    assert values[4] == values[5] == 1.0
    assert pay(response("   ", "1"), COUNTDOWN) == 0.0  # whitespace is not thinking


def test_partial_credit_scores_how_close_a_countdown_answer_comes(rewards):
    pay = rewards["partial_credit"]
    assert pay(response(MISS, "((6+2)*4)-3"), COUNTDOWN) == 1.0
    assert pay(response(MISS, "((6+2)*4)"), COUNTDOWN) == pytest.approx(1 - 3 / 29)  # 32
    assert pay(response(MISS, "((6+2)*4)+3"), COUNTDOWN) == pytest.approx(1 - 6 / 29)  # 35
    assert pay(response(MISS, "6*2*4*3"), COUNTDOWN) == 0.0  # 144: floored at 0, never negative
    problem = sample_problem(random.Random(0), "countdown", 2)
    assert pay(response("", problem.answer), problem) == 1.0


@pytest.mark.parametrize("answer", ["((6+2)*4)-5", "(6*6)-4", "((6+2)*4", "-3+32", "29",
                                    "6 2 4 3", "", "x+1"])
def test_partial_credit_is_zero_for_a_malformed_or_forbidden_number_answer(rewards, answer):
    # 5 is not given, 6 is given once, an unclosed parenthesis, unary minus (the verifier's rule),
    # a number the problem does not give, no expression, nothing, not arithmetic
    assert rewards["partial_credit"](response(MISS, answer), COUNTDOWN) == 0.0


def test_partial_credit_is_zero_off_countdown_and_without_an_answer(rewards):
    rng = random.Random(0)
    for family in ("arithmetic", "linear"):
        problem = sample_problem(rng, family, 1)
        assert rewards["partial_credit"](response("", problem.answer), problem) == 0.0
    assert rewards["partial_credit"]("<think> no answer tag", COUNTDOWN) == 0.0
    assert rewards["partial_credit"](None, COUNTDOWN) == 0.0


@pytest.mark.parametrize("answer", [
    "9**9**9**9", "9" * 10_000, "+".join(["6"] * 5000), "(" * 10_000 + "6" + ")" * 10_000,
    "999999999999*999999999999*999999999999", "1/0", "6/(2-2)", "\x00" * 1000 + "6",
])
def test_every_reward_returns_at_once_on_adversarial_answers(rewards, answer):
    completion = response(answer, answer)
    for name, fn in rewards.items():
        t0 = time.perf_counter()
        value = fn(completion, COUNTDOWN)
        assert isinstance(value, float) and 0.0 <= value <= 1.0, name
        assert time.perf_counter() - t0 < 1.0, name
    assert rewards["partial_credit"](completion, COUNTDOWN) == 0.0


def test_your_reward_is_a_fifth_arm_and_a_typo_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(REPO, "experiments"))
    import reward_lab
    mine = tmp_path / "mine.py"
    mine.write_text("from nanor1.rewards import register_reward\n\n"
                    "@register_reward('test_lab_mine')\n"
                    "def mine(completion, problem):\n    return float('Wait' in completion)\n")
    cfg = reward_lab.parse(["--preset=tiny", f"--out_dir={tmp_path / 'lab'}", f"--rewards={mine}",
                            "--reward_weights=accuracy=1,format=0.25,test_lab_mine=0.5"])
    try:
        assert reward_lab.ARMS["yours"] == "accuracy=1,format=0.25,test_lab_mine=0.5"
        assert reward_lab.TERM["yours"] == "test_lab_mine"
        assert str(mine) in reward_lab.lab_config(cfg, "yours", 0).rewards
        assert str(mine) not in reward_lab.lab_config(cfg, "default", 0).rewards  # the four arms' caches hold
        with pytest.raises(SystemExit, match="unknown reward"):
            reward_lab.parse(["--preset=tiny", f"--out_dir={tmp_path / 'lab'}", f"--rewards={mine}",
                              "--reward_weights=accuracy=1,test_lab_typo=0.5"])
    finally:
        reward_lab.ARMS.pop("yours", None)
        reward_lab.TERM.pop("yours", None)
        REWARDS.pop("test_lab_mine", None)
