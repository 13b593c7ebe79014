"""nanor1/cpu_threads.py: the thread count follows the cores other processes leave free and is fixed when asked."""
import os
import time

import pytest
import torch

from nanor1 import cpu_threads


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    cpu_threads._state["auto"] = False
    torch.set_num_threads(before)


def test_one_thread_per_core_the_other_processes_leave_free():
    assert cpu_threads.threads_for(2, 0.0) == 2
    assert cpu_threads.threads_for(2, 0.1) == 2          # background noise
    assert cpu_threads.threads_for(2, 0.5) == 1          # a busy process sharing a core with one of our threads
    assert cpu_threads.threads_for(2, 1.0) == 1
    assert cpu_threads.threads_for(2, 3.0) == 1          # never fewer than one
    assert cpu_threads.threads_for(8, 2.0) == 6


def test_other_load_subtracts_this_process_and_reads_proc_stat():
    if cpu_threads._proc_times() is None:
        pytest.skip("no /proc on this system")
    cpu_threads.other_load()
    time.sleep(0.5)
    idle = cpu_threads.other_load()  # what other processes use now (0 on a quiet machine)
    x = torch.randn(512, 512)
    for _ in range(200):  # this process's own work is not "other load"
        x = torch.tanh(x @ x) * 0.5
    busy = cpu_threads.other_load()
    assert 0.0 <= busy <= (os.cpu_count() or 1)
    assert busy < idle + 1.0  # two threads of our own work would add ~2 if they were counted


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


def test_a_busy_core_switches_to_fewer_threads_with_a_note_and_looks_are_rate_limited(monkeypatch, capsys):
    load = {"other": 0.0, "looks": 0}

    def other_load():
        load["looks"] += 1
        return load["other"]
    monkeypatch.setattr(cpu_threads, "other_load", other_load)
    monkeypatch.setattr(cpu_threads, "_DEFAULT", 2)
    monkeypatch.setitem(cpu_threads._state, "max", 2)
    monkeypatch.setattr(cpu_threads.time, "sleep", lambda s: None)
    assert cpu_threads.configure("auto") == 2
    load["other"] = 1.0
    looks = load["looks"]
    cpu_threads.check()  # looked moments ago: nothing to do
    assert load["looks"] == looks and torch.get_num_threads() == 2
    monkeypatch.setattr(cpu_threads, "CHECK_EVERY_S", 0.0)
    cpu_threads.check()
    assert torch.get_num_threads() == 1
    assert "torch threads 2 -> 1" in capsys.readouterr().out
    load["other"] = 0.05
    cpu_threads.check()
    assert torch.get_num_threads() == 2 and "free again" in capsys.readouterr().out
