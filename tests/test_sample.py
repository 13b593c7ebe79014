"""The sampling CLI (nanor1/sample.py): judged responses from every kind of checkpoint, clear errors otherwise."""
import io
import os
import subprocess
import sys

import pytest
import torch

from nanor1.checkpoint import save_checkpoint
from nanor1.model import GPT, ModelConfig
from nanor1.sample import main, response_block
from nanor1.tasks import Problem
from nanor1.tokenizer import get_tokenizer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBLEM = Problem("countdown", 1, "en", "Using the numbers 1 8 1, reach the target 9", "(1*8)+1", (1, 8, 1, 9))
RETRY = ("<think> try (1*8)-1: 1*8=8, 8-1=7. 7 vs 9: no. Wait, try (1*8)+1: 1*8=8, 8+1=9. 9 vs 9: yes. </think> "
         "<answer> (1*8)+1 </answer>")
FAST = ["--n=2", "--max_new_tokens=6"]


def tiny_checkpoint(path, **extra) -> str:
    torch.manual_seed(0)
    model = GPT(ModelConfig.preset("tiny", vocab_size=get_tokenizer().vocab_size))
    save_checkpoint(str(path), {"model": model.state_dict(), "model_config": model.cfg.to_dict(), **extra})
    return str(path)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("sample") / "model.pt", kind="base")


def run(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    main(argv)
    return capsys.readouterr().out


def test_response_shows_verdict_length_and_self_correction():
    block = response_block(0, 1, RETRY, 57, False, PROBLEM, color=False)
    assert block.splitlines()[0] == "--- sample 1/1: right | 57 tokens | 1 self-correction"
    assert "**Wait, try (1*8)+1: 1*8=8, 8+1=9.** 9 vs 9: yes." in block


def test_on_a_terminal_the_self_correction_is_coloured():
    block = response_block(0, 1, RETRY, 57, False, PROBLEM, color=True)
    assert "\x1b[1m\x1b[33mWait, try (1*8)+1" in block and "**" not in block


def test_wrong_and_malformed_responses_are_named():
    cut = "<think> try (1-8)-1: 1-8=-7 </think> <answer> (1-8)-1"
    assert "wrong, malformed | 20 tokens (cut at max_new_tokens)" in response_block(1, 2, cut, 20, True, PROBLEM, False)
    assert ": malformed |" in response_block(0, 1, cut, 20, True, None, False)   # a free question: form only


def test_heldout_problem_is_drawn_by_family_difficulty_and_language(ckpt, capsys):
    out = run([f"--ckpt={ckpt}", "--family=linear", "--difficulty=2", "--lang=zh", *FAST], capsys)
    assert "held-out linear, difficulty 2, zh:" in out
    assert out.count("--- sample ") == 2 and "/2 right, " in out


@pytest.mark.parametrize("extra", [dict(kind="sft"),  # and a GRPO training checkpoint (train_zero's model.pt)
                                   dict(optimizer={}, step=3, grpo_config={}, ref_model={})])
def test_every_kind_of_policy_checkpoint_samples(tmp_path, capsys, extra):
    out = run([f"--ckpt={tiny_checkpoint(tmp_path / 'c.pt', **extra)}", "--question=what is 2+3", *FAST], capsys)
    assert "question: what is 2+3" in out and out.count("--- sample ") == 2 and "right" not in out


def test_same_seed_same_samples(ckpt, capsys):
    assert run([f"--ckpt={ckpt}", "--seed=5", *FAST], capsys) == run([f"--ckpt={ckpt}", "--seed=5", *FAST], capsys)


def test_interactive_mode_answers_each_line_until_quit(ckpt, capsys, monkeypatch):
    out = run([f"--ckpt={ckpt}", "--interactive", "--n=1", "--max_new_tokens=4"], capsys,
              stdin="what is 2+3\n\nq\nnever asked\n", monkeypatch=monkeypatch)
    assert out.count("question> ") == 3  # a question, an empty line (a held-out problem), then q
    assert out.count("--- sample 1/1") == 2 and "held-out countdown, difficulty 1, en" in out


def test_interactive_mode_ends_at_end_of_input(ckpt, capsys, monkeypatch):
    out = run([f"--ckpt={ckpt}", "--interactive", "--n=1", "--max_new_tokens=4"], capsys, stdin="",
              monkeypatch=monkeypatch)
    assert out.count("question> ") == 1


@pytest.mark.parametrize("content", ["reward_model", "corrupt"])
def test_wrong_kind_or_corrupt_checkpoint_is_one_line(tmp_path, content):
    path = tmp_path / "x.pt"
    if content == "reward_model":
        tiny_checkpoint(path, kind="reward_model")
    else:
        path.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as e:
        main([f"--ckpt={path}"])
    assert str(e.value.code).startswith(f"error: {path}" if content == "reward_model" else "error: cannot read")
    assert "\n" not in str(e.value.code)


def test_bad_family_exits_2_before_loading(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--ckpt=/does/not/exist.pt", "--family=sudoku"])
    assert e.value.code == 2 and "--family='sudoku'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_exit_status_and_stderr_for_a_reward_model(tmp_path):
    path = tiny_checkpoint(tmp_path / "rm.pt", kind="reward_model")
    p = subprocess.run([sys.executable, "-m", "nanor1.sample", f"--ckpt={path}"], cwd=REPO, capture_output=True,
                       text=True, timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 1 and p.stderr.strip().count("\n") == 0 and "reward model" in p.stderr
