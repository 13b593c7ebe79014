"""Data parallelism: one process per device, PyTorch's own stack (torch.distributed, DDP, torchrun),
thin wrappers.

    python train_zero.py                                 # one process: every helper here is a no-op
    torchrun --standalone --nproc_per_node=N train_zero.py  # N processes on one machine (N GPUs, or
                                                              CPU/gloo)
    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --rdzv_backend=c10d \
        --rdzv_endpoint=host:29500 train_zero.py

Every entry point calls `init_distributed()` first and `cleanup()` last. Under torchrun (RANK,
WORLD_SIZE, LOCAL_RANK in the environment, WORLD_SIZE > 1) the first joins the process group: NCCL
with CUDA (device cuda:<LOCAL_RANK>), gloo on CPU. Launched with plain `python` (or torchrun with
one process) there is no process group, rank() == 0, world() == 1, and every helper here is a no-op.

What is sharded, and why the result equals one process with the same global batch:
- pretraining (and SFT): the batch of step s is a pure function of s; every rank builds it and keeps
  its contiguous slice `shard(batch)`. DDP averages the gradients of equal slices, which is the
  gradient of the mean over the batch.
- GRPO (nanor1/grpo.py): the P prompts of a step are drawn from the step's seed on every rank and
  sharded, whole groups of G samples per rank, so group advantages need no communication. The token
  weights use the counts of the whole batch (all ranks), so the summed per-rank gradients are the
  single-process gradient of the same rollouts. Sampling: rank r seeds its generator from (seed,
  step, r) (rank 0: one process's seed), so N ranks sample the same prompts as one process but not
  the same completions (one generator cannot be split over ranks). Hence the equivalence test
  (tests/test_distributed.py) gives one process the rollouts of a 2-rank run and compares the
  weights after a few steps; pretraining has no sampling and is compared end to end.
- evaluation (nanor1/evaluate.py): the held-out problems are split across ranks and the judged rows
  gathered.
Rank 0 alone writes: save_checkpoint, MetricsLog and plot_metrics do nothing on other ranks, whose
stdout is silenced (errors still reach stderr).

A training script adopts it in a few lines (nanor1/pretrain.py is the example):
    device = init_distributed(cfg.device)          # first line: joins the group under torchrun,
                                                     picks the device
    fwd = ddp(model)                        # train through fwd; save model.state_dict() (unwrapped)
    batch = shard(make_batch(step, ...))           # the step's global batch, this rank's rows
    loss = ...; loss.backward()                    # DDP averages the gradients over ranks
    with fwd.no_sync(): ...            # accumulating: every micro-batch but the last (losses scaled
                                                   # by the micro-batch's share of the rank's rows)
    logged = all_reduce(loss.detach(), "mean")     # metrics of the whole batch (the same on every
                                                     rank)
    save_checkpoint(...); MetricsLog(...).write()  # rank 0 alone writes: no `if` needed; other
                                                     writes: is_main()
    barrier()                             # before another rank reads a file rank 0 has just written
    cleanup()                                      # last line of main()
A loss that is a mean over a varying number of tokens per rank (SFT with masked prompts) is exact
only when each rank divides its token sum by the whole batch's count and DDP's averaging is undone:
    loss = token_loss_sum / all_reduce(float(n_tokens)) * world()

Failures: torchrun's agent stops every worker as soon as one exits non-zero or is killed, and exits
non-zero itself (ChildFailedError naming the rank). A collective that waits on a hung (not dead)
peer fails after `timeout_s` (NANOR1_DIST_TIMEOUT seconds, default 600), so no rank waits forever.
"""
import datetime
import os
import sys

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT_S = 600.0


def init_distributed(device: str = "auto", timeout_s: float | None = None) -> str:
    """Join the torchrun process group (once; later calls return the same device). Returns this
    process's device: "cuda:<local rank>" under torchrun with CUDA, else `device` ("auto": "cuda" if
    available, else "cpu")."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(device)  # NCCL and all_gather_object use the current device
    if not dist.is_initialized():
        timeout_s = timeout_s or float(os.environ.get("NANOR1_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))
        if dist.get_rank() != 0:
            sys.stdout = open(os.devnull, "w")  # one copy of every progress line: rank 0's
    return device


def amp_dtype(device) -> torch.dtype | None:
    """The dtype a device computes in under autocast: bf16 on CUDA; none (fp32) on a CPU, unless
    NANOR1_CPU_BF16=1, which runs the CUDA path's precision (bf16 autocast, bf16 KV cache) on a CPU,
    so tests can exercise the gpu presets' dtypes without a GPU (tests/test_presets.py). The
    variable changes nothing on CUDA."""
    if torch.device(device).type == "cuda" or os.environ.get("NANOR1_CPU_BF16") == "1":
        return torch.bfloat16
    return None


def autocast_for(device) -> torch.autocast:
    """The autocast context of every forward pass (pretraining, sampling, GRPO, SFT) on `device`."""
    dtype = amp_dtype(device)
    return torch.autocast(torch.device(device).type, dtype=dtype or torch.bfloat16,
                          enabled=dtype is not None)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """The one process that writes logs, plots and checkpoints."""
    return rank() == 0


def rank_seed(seed: int) -> int:
    """A seed of this rank's own, for sampling; rank 0 (and one process) keeps `seed`. Seeds stay
    below 2**40."""
    return seed + (rank() << 40)


def shard(items, even: bool = True):
    """This rank's contiguous slice of a list or tensor (rows); rank order concatenates back to
    `items`. even=True (training batches) demands equal slices: DDP averages per-rank gradients,
    which equals the gradient of the whole batch only when every rank holds as many rows."""
    n, w, r = len(items), world(), rank()
    if even and n % w:
        raise SystemExit(f"error: a batch of {n} does not split evenly over {w} processes; "
                         f"use a multiple of {w}")
    return items[r * n // w:(r + 1) * n // w]


def ddp(model: torch.nn.Module) -> torch.nn.Module:
    """DDP-wrap for training (it broadcasts rank 0's weights, then averages gradients in backward);
    unchanged when single-process. Keep the unwrapped model for state_dict/checkpoints."""
    if not is_distributed():
        return model
    device_ids = [torch.cuda.current_device()] if next(model.parameters()).is_cuda else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def broadcast_params(model: torch.nn.Module) -> None:
    """Make every rank hold rank 0's weights (what DDP does at wrap time, for models that are not
    DDP-wrapped)."""
    if is_distributed():
        for t in model.state_dict().values():
            dist.broadcast(t, src=0)


def all_reduce_grads(params) -> None:
    """Sum the gradients over ranks, in one flat buffer (GRPO: each rank's loss is already weighted
    by the counts of the whole batch, so the sum is the whole-batch gradient). A rank that ran no
    backward contributes zeros; when no rank did, the gradients stay None, as in one process (the
    optimizer then skips the step)."""
    if not is_distributed():
        return
    params = [p for p in params if p.requires_grad]
    had_grad = float(any(p.grad is not None for p in params))
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in params]
                     + [torch.tensor([had_grad], device=params[0].device)])
    dist.all_reduce(flat)
    if flat[-1] == 0:
        return
    offset = 0
    for p in params:
        p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
        offset += p.numel()


def all_reduce(x, op: str = "sum"):
    """Sum (or mean) of a number or tensor over ranks, for metrics; returns the same type it was
    given."""
    if not is_distributed():
        return x
    t = x.detach().clone() if torch.is_tensor(x) else torch.tensor(float(x), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    if op == "mean":
        t = t / world()
    return t.to(x.device) if torch.is_tensor(x) else t.item()


def all_gather_object(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...]; [obj] in one process. Pickled: for small data (rows,
    rollouts)."""
    if not is_distributed():
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait for every rank (e.g. before reading a file that rank 0 writes)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group at the end of a successful run (every entry point's last line). All
    ranks first meet at a barrier: a rank that tore down its group while another was still writing
    its checkpoint was seen to abort ("terminate called without an active exception") with gloo. Not
    an atexit hook: after an error a rank must exit at once, not wait at a barrier."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()
