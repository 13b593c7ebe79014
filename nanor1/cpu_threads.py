"""How many torch threads a CPU run uses: as many as the cores other processes leave free, checked
as the run goes.

    from nanor1 import cpu_threads
    cpu_threads.configure("auto")   # scripts, at start: "auto" (follow the machine's load) or a
                                      number (fixed)
    cpu_threads.check()   # the sampler and the trainer call this often; it looks at most every 10 s

Why: torch splits each op over its threads and the op ends when the slowest thread ends. This
model's ops are small (a decode step is hundreds of them, each tens of microseconds), so when
another process keeps one core busy, the thread that shares that core is descheduled for
milliseconds at a time and the other threads wait for it at every op: two threads on two cores, one
of them busy, run several times slower than one thread (docs/results.md, "A busy laptop"). So "auto"
runs one thread per core that other processes leave free: it reads how much CPU time the rest of the
machine used since the last look (Linux: /proc/stat less this process's own time; elsewhere: the
1-minute load average less this process's threads) and sets the count to the cores minus the busy
ones. A change prints one note line; each step's `threads` is in the metrics log.

A seeded run is bit-reproducible for a given thread count. A switch changes the order of a few float
sums (a long reduction split over threads), so a run that switched agrees with a quiet run to 5-6
digits at first and may then part from it as RL amplifies the difference (docs/results.md, "A busy
laptop"); an explicit count (--threads=N, or OMP_NUM_THREADS in the environment) is never changed,
for runs that must match bit for bit. On CUDA nothing is done.
"""
import os
import time

import torch

CHECK_EVERY_S = 10.0  # between looks at the machine's load
BUSY_CORE = 0.3       # other processes using this much of a core take the core: a busy process that
                      # shares a core with one of our threads gets only about half of it, so half a
                      # core means "busy"

# torch's own choice at import: the physical cores, or OMP_NUM_THREADS
_DEFAULT = torch.get_num_threads()
_state = {"auto": False, "last_check": 0.0, "max": _DEFAULT, "proc": None}


def configure(threads: str | int = "auto", device: str = "cpu") -> int:
    """Set the thread count for this process: "auto" follows the load (see the module docstring), a
    number fixes it. Returns the count chosen."""
    text = str(threads).strip().lower()
    if text != "auto":
        try:
            n = int(text)
        except ValueError:
            raise SystemExit(
                f"error: --threads={threads!r}: expected auto or a number of threads") from None
        if n < 1:
            raise SystemExit(f"error: --threads={threads!r}: at least 1")
        torch.set_num_threads(n)
        _state["auto"] = False
        return n
    # on CUDA the threads only feed the GPU; an OMP_NUM_THREADS the user set is their choice
    _state["auto"] = (str(device).startswith("cpu") and "OMP_NUM_THREADS" not in os.environ
                      and _DEFAULT > 1)
    torch.set_num_threads(_DEFAULT)
    if _state["auto"]:
        other_load()              # a first reading; the load is measured over the next 0.3 s
        time.sleep(0.3)
        _choose()
    return torch.get_num_threads()


def check() -> None:
    """Look at the machine's load again if CHECK_EVERY_S seconds have passed (auto mode only)."""
    if _state["auto"] and time.perf_counter() - _state["last_check"] >= CHECK_EVERY_S:
        _choose()


def current() -> int:
    return torch.get_num_threads()


def threads_for(cores: int, other_load: float) -> int:
    """One thread per core that the other processes' load (in cores) leaves free, at least one."""
    return max(1, cores - int(other_load + 1 - BUSY_CORE))


def other_load() -> float:
    """Cores' worth of CPU time that other processes used lately."""
    times = _proc_times()
    # no /proc: the runnable tasks of the last minute, less this process's threads
    if times is None:
        return (max(0.0, os.getloadavg()[0] - torch.get_num_threads())
                if hasattr(os, "getloadavg") else 0.0)
    before, _state["proc"] = _state["proc"], times
    if before is None or times[2] <= before[2]:
        return 0.0
    busy, own, total = (a - b for a, b in zip(times, before))
    return max(0.0, (busy - own) / total * (os.cpu_count() or 1))


def _proc_times() -> tuple[int, int, int] | None:
    """(busy, this process's, all) CPU time in clock ticks since boot, summed over the cores (Linux
    /proc)."""
    try:
        with open("/proc/stat") as f:
            # user nice system idle iowait irq softirq steal
            ticks = [int(x) for x in f.readline().split()[1:9]]
        with open("/proc/self/stat") as f:
            # after the command name, which may hold spaces
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    own = int(fields[11]) + int(fields[12])  # utime + stime
    return sum(ticks) - ticks[3] - ticks[4], own, sum(ticks)


def _choose() -> None:
    now = torch.get_num_threads()
    load = other_load()
    chosen = threads_for(_state["max"], load)
    _state["last_check"] = time.perf_counter()
    if chosen != now:
        torch.set_num_threads(chosen)
        if chosen < _state["max"]:
            why = (f"other processes are using {load:.1f} of {_state['max']} cores, and threads "
                   "that share a core "
                   "with them would make every op wait")
        else:
            why = "the cores are free again"
        print(f"note: torch threads {now} -> {chosen}: {why}. --threads=N fixes the count.",
              flush=True)
