"""Test-wide settings: one torch thread. The tests use tiny models, whose ops are too small to gain from a second
thread, and on a busy 2-core machine (CI beside other jobs) competing OpenMP threads made them ~20x slower."""
import os

import torch

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # for the subprocesses that the tests start
