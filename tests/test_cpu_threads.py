"""nanor1/cpu_threads.py: the thread count is measured, kept against noise, switched on a busy machine, fixed
when asked, and switching it does not change a GRPO step's numbers."""
import pytest
import torch

from nanor1 import cpu_threads
from nanor1.grpo import GRPOConfig, GRPOTrainer, train_step
from nanor1.model import GPT, ModelConfig
from nanor1.rewards import REWARDS, register_reward
from nanor1.tokenizer import get_tokenizer


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    cpu_threads._state["auto"] = False
    torch.set_num_threads(before)


def test_candidates_are_all_cores_one_fewer_and_one():
    assert cpu_threads.candidates(8) == [8, 7, 1]
    assert cpu_threads.candidates(2) == [2, 1]
    assert cpu_threads.candidates(1) == [1]


def test_pick_takes_the_fastest_but_keeps_the_current_count_against_noise():
    assert cpu_threads.pick({2: 0.010, 1: 0.100}, now=2) == 2
    assert cpu_threads.pick({2: 0.200, 1: 0.012}, now=2) == 1        # busy: one thread is much faster
    assert cpu_threads.pick({2: 0.011, 1: 0.012}, now=1) == 1        # 2 is not enough faster to switch back
    assert cpu_threads.pick({2: 0.006, 1: 0.012}, now=1) == 2        # the cores are free again


def test_a_number_fixes_the_count_and_bad_values_are_refused():
    assert cpu_threads.configure("1") == 1 and torch.get_num_threads() == 1
    assert not cpu_threads._state["auto"]
    for bad in ("0", "two", "-3"):
        with pytest.raises(SystemExit, match="--threads"):
            cpu_threads.configure(bad)


def test_auto_respects_omp_num_threads_and_cuda(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cpu_threads.configure("auto")
    assert not cpu_threads._state["auto"]
    monkeypatch.delenv("OMP_NUM_THREADS")
    cpu_threads.configure("auto", device="cuda")
    assert not cpu_threads._state["auto"]


def test_a_busy_core_switches_to_fewer_threads_with_a_note_and_checks_are_rate_limited(monkeypatch, capsys):
    busy = {"on": False}
    calls = []

    def seconds_at(n):  # two threads wait on a descheduled one while another process is busy
        calls.append(n)
        torch.set_num_threads(n)
        return 0.2 if busy["on"] and n > 1 else 0.01 / n ** 0.5
    monkeypatch.setattr(cpu_threads, "_seconds_at", seconds_at)
    monkeypatch.setitem(cpu_threads._state, "max", 2)
    assert cpu_threads.configure("auto") == 2
    busy["on"] = True
    n_calls = len(calls)
    cpu_threads.check()  # measured moments ago: nothing to do
    assert len(calls) == n_calls and torch.get_num_threads() == 2
    monkeypatch.setattr(cpu_threads, "CHECK_EVERY_S", 0.0)
    cpu_threads.check()
    assert torch.get_num_threads() == 1
    assert "torch threads 2 -> 1" in capsys.readouterr().out
    busy["on"] = False
    cpu_threads.check()
    assert torch.get_num_threads() == 2 and "free again" in capsys.readouterr().out


def test_a_grpo_step_gives_bit_identical_weights_with_one_and_two_threads(tmp_path):
    tok = get_tokenizer()
    register_reward("test_length_parity")(lambda completion, problem: float(len(completion) % 2))  # a spread
    weights = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            torch.manual_seed(0)
            model = GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size))
            start = [p.detach().clone() for p in model.parameters()]
            cfg = GRPOConfig(prompts_per_step=4, num_generations=4, max_new_tokens=16, warmup_steps=0, beta=0.05,
                             reward_weights="test_length_parity=1")
            trainer = GRPOTrainer(model, cfg, out_dir=str(tmp_path / f"t{n}"), tok=tok)
            train_step(trainer)
            train_step(trainer)
            weights.append([p.detach().clone() for p in model.parameters()])
    finally:
        REWARDS.pop("test_length_parity", None)
    assert not all(torch.equal(a, b) for a, b in zip(start, weights[0]))  # the steps did move the weights
    assert all(torch.equal(a, b) for a, b in zip(*weights))
