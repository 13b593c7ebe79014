"""How many torch threads a CPU run uses: chosen by measurement, and chosen again while the run goes on.

    from nanor1 import cpu_threads
    cpu_threads.configure("auto")   # scripts, at start: "auto" (measure) or a number (fixed, e.g. --threads=2)
    cpu_threads.check()             # the sampler and the trainer call this often; it measures at most every 10 s

Why: torch splits each op over its threads and the op ends when the slowest thread ends. This model's ops are
small (a decode step is hundreds of them, each tens of microseconds), so when another process keeps one core
busy, the thread that shares that core is descheduled for milliseconds at a time and every other thread waits for
it at every op: two threads then run many times slower than one (docs/results.md, "A busy laptop"). So "auto"
times a small matmul at each candidate thread count (all cores, one fewer, one) and keeps the fastest; `check`
repeats that every CHECK_EVERY_S seconds, so a run that starts quiet and becomes busy (or the reverse) follows.
A change prints one note line, and the step's `threads` is in the metrics log.

The thread count does not change this model's numbers on a CPU (tests/test_cpu_threads.py: a GRPO step with one
and with two threads gives bit-identical weights), so switching mid-run keeps a seeded run's curve.
An explicit count (--threads=N, or OMP_NUM_THREADS in the environment) is never changed; on CUDA nothing is done.
"""
import os
import time

import torch

CHECK_EVERY_S = 10.0   # between measurements: each costs ~5 ms on a quiet machine, ~0.1 s on a busy one
SWITCH_RATIO = 0.7     # move to another count only if it is this much faster (measurements are noisy)
_REPS = 20             # matmuls per measurement

_DEFAULT = torch.get_num_threads()  # torch's own choice at import: the physical cores, or OMP_NUM_THREADS
_state = {"auto": False, "last_check": 0.0, "max": _DEFAULT}


def configure(threads: str | int = "auto", device: str = "cpu") -> int:
    """Set the thread count for this process: "auto" measures (see the module docstring), a number fixes it.
    Returns the count chosen."""
    text = str(threads).strip().lower()
    if text != "auto":
        try:
            n = int(text)
        except ValueError:
            raise SystemExit(f"error: --threads={threads!r}: expected auto or a number of threads") from None
        if n < 1:
            raise SystemExit(f"error: --threads={threads!r}: at least 1")
        torch.set_num_threads(n)
        _state["auto"] = False
        return n
    # on CUDA the threads only feed the GPU; an OMP_NUM_THREADS the user set is their choice
    _state["auto"] = str(device).startswith("cpu") and "OMP_NUM_THREADS" not in os.environ
    torch.set_num_threads(_DEFAULT)
    if _state["auto"]:
        _choose()
    return torch.get_num_threads()


def check() -> None:
    """Measure again if CHECK_EVERY_S seconds have passed since the last measurement (auto mode only)."""
    if _state["auto"] and time.perf_counter() - _state["last_check"] >= CHECK_EVERY_S:
        _choose()


def current() -> int:
    return torch.get_num_threads()


def candidates(n_max: int) -> list[int]:
    """Thread counts worth measuring on n_max cores: all, all but the one another process may hold, one."""
    return sorted({n_max, max(1, n_max - 1), 1}, reverse=True)


def pick(times: dict[int, float], now: int) -> int:
    """The count to run with, given seconds per measurement for each candidate: the fastest, but the current
    count is kept unless the fastest beats it by SWITCH_RATIO (noise must not flip the count back and forth)."""
    best = min(times, key=lambda n: (times[n], -n))
    if now in times and times[best] > SWITCH_RATIO * times[now]:
        return now
    return best


def _seconds_at(threads: int) -> float:
    torch.set_num_threads(threads)
    x, w = torch.ones(256, 128), torch.full((128, 384), 0.01)  # the size of one layer of a decode step
    t0 = time.perf_counter()
    for _ in range(_REPS):
        torch.mm(x, w)
    return time.perf_counter() - t0


def _choose() -> None:
    now = torch.get_num_threads()
    if _state["max"] <= 1:
        _state["auto"] = False  # one core: nothing to choose
        return
    times = {n: _seconds_at(n) for n in candidates(_state["max"])}
    chosen = pick(times, now)
    torch.set_num_threads(chosen)
    _state["last_check"] = time.perf_counter()
    if chosen != now:
        if chosen < _state["max"]:
            why = (f"another process is using the CPU: {now} threads would wait on each other at every op "
                   f"({1e3 * times[now]:.0f} ms vs {1e3 * times[chosen]:.0f} ms for the same work)")
        else:
            why = "the cores are free again"
        print(f"note: torch threads {now} -> {chosen}: {why}. --threads=N fixes the count.", flush=True)
