"""The program that tests/test_distributed.py starts under torchrun (2 CPU processes, gloo), or with plain python.

    python -m torch.distributed.run --nproc_per_node=2 tests/dist_worker.py grpo OUT
    python -m torch.distributed.run --nproc_per_node=2 tests/dist_worker.py with_pid OUT -m nanor1.pretrain ...
    python -m torch.distributed.run --nproc_per_node=2 tests/dist_worker.py dies_before K train_zero.py ...

grpo OUT             a few GRPO steps per loss type on the tiny model; rank 0 saves the final weights and each
                     step's gathered rollouts to OUT/<loss_type>.pt (the test replays them in one process)
with_pid OUT ...     write this rank's pid to OUT/pid.<rank>, then run the given script (the rank-death test)
sft OUT              a few SFT steps on the tiny model (masked loss, uneven token counts per rank); rank 0 writes
                     OUT/model.pt (the test compares it with one process)
hangs                rank 1 stays alive but never joins the next collective (rank 0 must time out)
dies_before K ...    run train_zero.py, but every rank exits with status 3 before GRPO step K, after rank 0 has
                     written the checkpoints of the steps before (a killed run, for the resume test)
"""
import os
import runpy
import sys
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from nanor1.distributed import all_reduce, barrier, cleanup, init_distributed, is_main, rank  # noqa: E402
from nanor1.grpo import GRPOConfig, GRPOTrainer, train_step  # noqa: E402
from nanor1.model import GPT, ModelConfig  # noqa: E402
from nanor1.tokenizer import get_tokenizer  # noqa: E402

GRPO_STEPS = 3
LOSS_TYPES = ("grpo", "dapo", "dr_grpo")
LR = float(os.environ.get("DIST_TEST_LR", "1e-4"))


def grpo_config(loss_type: str) -> GRPOConfig:
    """Tiny, but every path that the ranks must agree on: several micro-batches per rank, KL to a reference
    (grpo), dynamic sampling (dapo), batch-level reward scaling (dr_grpo)."""
    extra = {"grpo": dict(beta=0.04), "dapo": dict(), "dr_grpo": dict(scale_rewards="batch")}[loss_type]
    return GRPOConfig(steps=GRPO_STEPS, prompts_per_step=4, num_generations=4, max_new_tokens=10,
                      micro_batch_rows=3, warmup_steps=0, lr=LR, loss_type=loss_type, seed=5, **extra)


def tiny_model() -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig.preset("tiny", vocab_size=get_tokenizer().vocab_size))


def parity_reward(text, problem, step):
    """Differs between random completions, so the groups have non-zero advantages (the tiny model is never right)."""
    r = float(sum(map(ord, text)) % 2)
    return r, {"parity": r}


def grpo(out: str) -> None:
    init_distributed("cpu")
    for loss_type in LOSS_TYPES:
        model = tiny_model()
        trainer = GRPOTrainer(model, grpo_config(loss_type), out_dir=os.path.join(out, loss_type),
                              reward_fn=parity_reward)
        rollouts, update = [], trainer.update

        def recording_update(r, whole=None):
            rollouts.append(whole)
            return update(r, whole)
        trainer.update = recording_update
        for _ in range(GRPO_STEPS):
            train_step(trainer)
        if is_main():
            torch.save({"model": model.state_dict(), "rollouts": rollouts}, os.path.join(out, f"{loss_type}.pt"))
    cleanup()


def run_script(args: list[str]) -> None:
    """Run `-m module args...` or `script.py args...` as __main__, as python itself would."""
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        runpy.run_path(os.path.join(REPO, args[0]), run_name="__main__")


def with_pid(out: str, args: list[str]) -> None:
    with open(os.path.join(out, f"pid.{os.environ.get('RANK', '0')}"), "w") as f:
        f.write(str(os.getpid()))
    run_script(args)


def hangs() -> None:
    init_distributed("cpu")
    all_reduce(1.0)  # both ranks are in
    if rank() == 1:
        time.sleep(600)  # stuck, not dead: only the process group's timeout can free rank 0
    all_reduce(1.0)


def dies_before(k: int, args: list[str]) -> None:
    import train_zero
    from nanor1 import rl_loop
    real = rl_loop.train_step  # the step run_rl (train_zero's loop) calls

    def dying(trainer):
        if trainer.step + 1 == k:
            barrier()  # rank 0 has finished writing the checkpoint of step k - 1: the others wait for it here
            os._exit(3)
        return real(trainer)
    rl_loop.train_step = dying
    sys.argv = args
    train_zero.main(args[1:])


def sft_examples(n: int = 12) -> list[dict]:
    """Short examples of different lengths: the ranks hold different response-token counts."""
    return [{"prompt": f"Q: {i}+{i * 7}", "response": f"<think> {' '.join(['step'] * (i % 5))} </think> "
             f"<answer> {i * 8} </answer>"} for i in range(n)]


def sft_config():
    from nanor1.sft import SFTConfig
    return SFTConfig(epochs=1, batch_size=4, lr=1e-3, warmup_steps=0, log_every=1)


def sft(out: str) -> None:
    from nanor1.sft import sft as run_sft
    init_distributed("cpu")
    run_sft(tiny_model(), sft_examples(), sft_config(), out, quiet=True)
    cleanup()


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "grpo":
        grpo(rest[0])
    elif mode == "sft":
        sft(rest[0])
    elif mode == "with_pid":
        with_pid(rest[0], rest[1:])
    elif mode == "hangs":
        hangs()
    elif mode == "dies_before":
        dies_before(int(rest[0]), rest[1:])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
