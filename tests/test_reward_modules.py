"""--rewards (nanor1/reward_modules.py): reward modules loaded by path or dotted name, TRL-form
rewards run unchanged, clear errors before training, and every reward term visible (step line,
summary.json, report.html).

    python -m pytest tests/test_reward_modules.py -q

Each test writes its reward modules under tmp_path; the registry and the loader's cache are
restored after it.
"""
import hashlib
import json
import os
import random
import sys

import pytest

import train_zero
from nanor1 import reward_modules
from nanor1.grpo import GRPOConfig
from nanor1.metrics import STEP_HEADER, format_step, read_jsonl, step_header
from nanor1.pretrain import PretrainConfig, pretrain
from nanor1.report import write_report
from nanor1.rewards import REWARDS, combined_reward
from nanor1.tasks import format_prompt, sample_problem

PROBLEM = sample_problem(random.Random(3), "linear", 1)
RIGHT = f"<think> {PROBLEM.question} </think> <answer> {PROBLEM.answer} </answer>"
WRONG = "<think> no idea </think> <answer> 123456 </answer>"


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test starts from the built-in rewards and an empty loader cache, and leaves them so."""
    rewards, loaded, modules = dict(REWARDS), dict(reward_modules._LOADED), set(sys.modules)
    yield
    REWARDS.clear()
    REWARDS.update(rewards)
    reward_modules._LOADED.clear()
    reward_modules._LOADED.update(loaded)
    for name in set(sys.modules) - modules:
        if name.startswith(("nanor1_rewards_", "user_rewards_pkg")):
            del sys.modules[name]


def write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def resolved(rewards: str, weights: str) -> GRPOConfig:
    return GRPOConfig(rewards=rewards, reward_weights=weights).resolved()


SHOUT = '''
from nanor1.rewards import register_reward

@register_reward("shout")
def shout(completion, problem):
    return 1.0 if "!" in completion else 0.0
'''


# ----------------------------------------------------------------------------- loading

def test_a_file_path_is_loaded_and_its_registered_reward_can_be_weighted(tmp_path):
    path = write(tmp_path / "my_rewards.py", SHOUT)
    cfg = resolved(path, "accuracy=1,shout=0.5")
    total, parts = combined_reward(RIGHT + "!", PROBLEM, {"accuracy": 1.0, "shout": 0.5})
    assert parts == {"accuracy": 1.0, "shout": 1.0} and total == 1.5
    assert combined_reward(RIGHT, PROBLEM, {"shout": 1.0})[1] == {"shout": 0.0}
    assert cfg.rewards == path


def test_a_dotted_module_is_imported_from_the_current_directory(tmp_path, monkeypatch):
    write(tmp_path / "user_rewards_pkg" / "__init__.py", "")
    write(tmp_path / "user_rewards_pkg" / "terms.py", SHOUT.replace('"shout"', '"shout_dotted"'))
    monkeypatch.chdir(tmp_path)
    resolved("user_rewards_pkg.terms", "accuracy=1,shout_dotted=1")
    assert REWARDS["shout_dotted"]("!", PROBLEM) == 1.0
    assert os.getcwd() not in sys.path  # the current directory was on sys.path for the import only


def test_loading_is_idempotent_the_same_file_twice_is_imported_once(tmp_path, monkeypatch):
    log = tmp_path / "imports.log"
    path = write(tmp_path / "counted.py", f"open({str(log)!r}, 'a').write('imported\\n')\n" + SHOUT)
    monkeypatch.chdir(tmp_path)
    first = resolved(f"{path},./counted.py", "accuracy=1,shout=1")  # one file, two spellings
    first.resolved(), resolved("counted.py", "shout=1")  # resolved() again, and a new config
    assert log.read_text() == "imported\n"
    assert len(reward_modules.load(path)) == 1 and reward_modules.load(path)[0]["entry"] == path


def test_provenance_records_the_path_and_the_sha256_of_the_source(tmp_path):
    path = write(tmp_path / "my_rewards.py", SHOUT)
    resolved(path, "shout=1")
    [record] = reward_modules.provenance(path)
    assert record["entry"] == path
    assert record["sha256"] == hashlib.sha256((tmp_path / "my_rewards.py").read_bytes()).hexdigest()


# ------------------------------------------------------------- errors: one line, before training

@pytest.mark.parametrize("source,weights,named", [
    (None, "accuracy=1", ["no such file", "missing.py"]),
    ("import math\n\nx = undefined_name\n", "accuracy=1",
     ["broken.py failed to import", "NameError", "line 3"]),
    ("def f(:\n", "accuracy=1", ["broken.py failed to import", "SyntaxError"]),
    (SHOUT, "accuracy=1,shuot=1", ["unknown reward 'shuot'", "shout", "accuracy", "broken.py"]),
    ("def three(completion, problem, extra):\n    return 0.0\n", "three=1",
     ["broken.py", "function three", "(completion, problem, extra)"]),
    ("from nanor1.rewards import register_reward\n\n@register_reward('lonely')\n"
     "def lonely(completion):\n    return 0.0\n", "lonely=1",
     ["broken.py", "function lonely", "reward(completion, problem)"]),
    ("def needs_solution(completions, solution, **kwargs):\n    return [0.0]\n", "needs_solution=1",
     ["broken.py", "function needs_solution", "needs solution"]),
])
def test_each_error_is_one_line_naming_the_file_and_function(tmp_path, source, weights, named):
    path = str(tmp_path / "missing.py") if source is None else write(tmp_path / "broken.py", source)
    with pytest.raises(SystemExit) as e:
        resolved(path, weights)
    message = str(e.value.code)
    assert message.startswith("error: ") and "\n" not in message
    for part in named:
        assert part in message, (part, message)


def test_a_module_that_is_not_found_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="no_such_rewards failed to import: ModuleNotFoundError"):
        resolved("no_such_rewards", "accuracy=1")


def test_train_zero_stops_on_a_bad_reward_module_before_pretraining(tmp_path):
    with pytest.raises(SystemExit) as e:
        train_zero.main(["--preset=tiny", f"--out_dir={tmp_path / 'zero'}",
                         f"--rewards={tmp_path / 'nope.py'}"])
    assert "nope.py" in str(e.value.code)
    assert not (tmp_path / "base_tiny").exists()  # stopped before pretraining a base
    assert not (tmp_path / "zero" / "train.jsonl").exists()


# ----------------------------------------------------------------------------- TRL's form

TRL_REWARDS = '''
SEEN = []

def reward_len(completions, **kwargs):
    return [-abs(20 - len(completion)) for completion in completions]

def answer_in_completion(prompts, completions, answer, **kwargs):
    return [1.0 if a in c else 0.0 for c, a in zip(completions, answer)]

def spy(prompts, completions, **kwargs):
    SEEN.append({"prompts": prompts, "completions": completions, **kwargs})
    return [None]

def conversational(prompts, completions, **kwargs):
    return [float("<answer>" in completion[0]["content"]) for completion in completions]

def boom(prompts, completions, **kwargs):
    if "boom" in completions[0]:
        raise ValueError("boom")
    return [0.5]
'''


def test_trl_form_rewards_run_through_combined_reward_with_the_right_values(tmp_path):
    path = write(tmp_path / "trl_rewards.py", TRL_REWARDS)
    weights = {"accuracy": 1.0, "reward_len": 0.1, "answer_in_completion": 1.0,
               "conversational": 2.0}
    resolved(path, ",".join(f"{k}={v}" for k, v in weights.items()))
    total, parts = combined_reward(RIGHT, PROBLEM, weights)
    assert parts == {"accuracy": 1.0, "reward_len": -abs(20 - len(RIGHT)),
                     "answer_in_completion": 1.0, "conversational": 1.0}
    assert total == pytest.approx(1.0 - 0.1 * abs(20 - len(RIGHT)) + 1.0 + 2.0)
    neither = {"answer_in_completion": 1.0, "conversational": 1.0}
    assert combined_reward("no tags", PROBLEM, neither)[1] == {"answer_in_completion": 0.0,
                                                               "conversational": 0.0}
    assert REWARDS["conversational"].conversational and not REWARDS["reward_len"].conversational


def test_trl_form_gets_the_prompt_and_the_problem_fields_as_columns_and_none_counts_zero(tmp_path):
    path = write(tmp_path / "trl_rewards.py", TRL_REWARDS)
    resolved(path, "spy=1")
    assert combined_reward(RIGHT, PROBLEM, {"spy": 1.0}) == (0.0, {"spy": 0.0})
    seen = reward_modules.load(path)[0]["module"].SEEN[-1]
    assert seen["prompts"] == [format_prompt(PROBLEM)] and seen["completions"] == [RIGHT]
    assert {k: seen[k] for k in ("family", "difficulty", "lang", "question", "answer", "data")} == {
        "family": ["linear"], "difficulty": [1], "lang": [PROBLEM.lang],
        "question": [PROBLEM.question], "answer": [PROBLEM.answer], "data": [PROBLEM.data]}


def test_a_wrapped_trl_reward_that_raises_counts_zero_and_is_logged(tmp_path):
    resolved(write(tmp_path / "trl_rewards.py", TRL_REWARDS), "boom=1")
    assert combined_reward(RIGHT, PROBLEM, {"boom": 1.0}) == (0.5, {"boom": 0.5})
    assert combined_reward("boom", PROBLEM, {"boom": 1.0}) == (0.0, {"boom": 0.0,
                                                                     "error/boom": 1.0})


# ------------------------------------------------------------------ where a term shows up

ROW = {"step": 12, "reward": 0.873, "r_accuracy": 0.625, "r_format": 0.992, "zero_std_frac": 0.25,
       "clip_frac": 0.0, "kl": 0.0001, "entropy": 0.05, "grad_norm": 0.4, "len_mean": 63.2,
       "len_max": 400, "trunc_rate": 0.008, "aha_rate": 0.031, "lang_mix_rate": 0.062,
       "seconds_gen": 2.2, "seconds_update": 3.4, "tokens_per_s": 3675.2, "r_brevity": 0.4567}


def test_step_line_is_unchanged_for_accuracy_and_format():
    header = step_header({"accuracy": 1.0, "format": 0.25})
    assert header == STEP_HEADER == (" step reward   acc   fmt  0std  clip     kl   ent gnorm   len"
                                     "  max trunc   aha   mix gen_s upd_s  tok/s")
    assert format_step(ROW, {"accuracy": 1.0, "format": 0.25}) == (
        "   12  0.873  62.5  99.2  25.0   0.0 0.0001  0.05  0.40    63  400   0.8   3.1   6.2   2.2"
        "   3.4   3675")


def test_step_line_has_a_column_per_extra_term_aligned_with_its_header():
    terms = {"accuracy": 1.0, "format": 0.25, "brevity": 0.1, "length_penalty": 1.0}
    header, line = step_header(terms), format_step(ROW, terms)
    assert header.split()[-2:] == ["r:brevity", "r:length_penalty"]
    assert line.split()[-2:] == ["0.457", "-"]  # the second term has no value in this row
    assert len(header) == len(line)  # right-aligned under its label:
    assert header.index("r:brevity") + len("r:brevity") == line.index("0.457") + len("0.457")


def test_report_shows_the_reward_weights_terms_and_modules(tmp_path):
    summary = {"preset": "tiny", "curve": [], "base": {}, "final": {},
               "rewards": {"weights": {"accuracy": 1.0, "format": 0.25, "brevity": 0.1},
                           "modules": [{"entry": "my_rewards.py", "file": "/x/my_rewards.py",
                                        "sha256": "ab12"}],
                           "terms": {"brevity": {"first": 0.25, "last": 0.5, "mean": 0.375}}}}
    page = open(write_report(str(tmp_path), summary)).read()
    assert "1 x accuracy + 0.25 x format + 0.1 x brevity" in page
    assert "<th>brevity</th><td class=\"num\">0.1</td><td class=\"num\">0.250</td>" in page
    assert "my_rewards.py" in page and "ab12" in page


# ----------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "base_tiny"
    pretrain(PretrainConfig(preset="tiny", out_dir=str(out)), quiet=True)
    return out / "model.pt"


@pytest.mark.slow
def test_train_zero_with_a_reward_file_logs_the_term_and_records_its_sha256(tiny_base, tmp_path,
                                                                            capsys):
    path = write(tmp_path / "my_rewards.py", SHOUT + "\n\n" + TRL_REWARDS)
    out = tmp_path / "zero"
    train_zero.main(["--preset=tiny", f"--base={tiny_base}", f"--out_dir={out}",
                     f"--rewards={path}", "--eval_k=1",
                     "--reward_weights=accuracy=1,format=0.25,shout=0.1,reward_len=0.01"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rewards"]["modules"] == [{"entry": path, "file": path, "sha256": hashlib.sha256(
        (tmp_path / "my_rewards.py").read_bytes()).hexdigest()}]
    assert summary["rewards"]["weights"] == {"accuracy": 1.0, "format": 0.25, "shout": 0.1,
                                             "reward_len": 0.01}
    rows = read_jsonl(str(out / "train.jsonl"))
    assert [r["step"] for r in rows] == [1, 2]
    assert all("r_shout" in r and r["r_reward_len"] < 0 for r in rows)
    assert summary["rewards"]["terms"]["reward_len"]["last"] == rows[-1]["r_reward_len"]
    assert "r:shout r:reward_len" in " ".join(capsys.readouterr().out.split())
    assert "reward_len" in (out / "report.html").read_text()
