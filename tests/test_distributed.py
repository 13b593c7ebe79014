"""Data parallelism (nanor1/distributed.py) on CPU: 2 processes under torchrun with gloo, against 1 process.

    python -m pytest tests/test_distributed.py -q -s      # -s prints the measured differences

Each test launches `python -m torch.distributed.run --standalone --nproc_per_node=2` (a free port is picked by
torchrun) on the real entry points or on tests/dist_worker.py, with tiny configs:
- pretraining: 2 ranks x 2 rows = 1 process x 4 rows, same weights after 3 steps;
- GRPO: 2 ranks, 3 steps per loss type, against 1 process given the same (gathered) rollouts;
- a rank killed with SIGKILL makes the run exit non-zero, taking the other rank with it;
- a rank stuck (alive) outside a collective makes the other fail after the process group's timeout;
- SFT (masked loss, different token counts per rank): 2 ranks x 2 rows = 1 process x 4 rows;
- train_r1.py (every stage, tiny) runs under 2 ranks;
- train_zero.py killed after a 2-rank checkpoint resumes under 2 ranks to the weights of an uninterrupted run.
"""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.distributed as dist

import dist_worker
from nanor1.checkpoint import load_checkpoint
from nanor1.grpo import GRPOTrainer
from nanor1.metrics import read_jsonl
from nanor1.optim import lr_at
from nanor1.pretrain import PretrainConfig, pretrain

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}  # tiny models: 1 thread is faster on 2 cores
pytestmark = [pytest.mark.slow,  # every test launches torchrun
              pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                 reason="torch.distributed with the gloo backend is not available in this torch build")]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
WORKER = os.path.join("tests", "dist_worker.py")


def torchrun(*args, env=ENV, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*TORCHRUN, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def max_diff(a: dict, b: dict) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_pretraining_two_ranks_take_the_step_of_one_process(tmp_path):
    common = ["--preset=tiny", "--steps=3", "--log_every=1"]
    p = torchrun("-m", "nanor1.pretrain", *common, f"--out_dir={tmp_path / 'two'}")
    assert p.returncode == 0, p.stderr[-3000:]
    one = pretrain(PretrainConfig(preset="tiny", steps=3, log_every=1, out_dir=str(tmp_path / "one")), quiet=True)
    a, b = load_checkpoint(one), load_checkpoint(str(tmp_path / "two" / "model.pt"))
    diff, moved = max_diff(a["model"], b["model"]), max_diff(a["model"], _tiny_base_init())
    print(f"\npretrain, 3 steps, batch 4 = 2 ranks x 2 rows: max |param diff| {diff:.2e} (weights moved {moved:.2e})")
    assert diff < 1e-6 and moved > 1e-4
    rows_a, rows_b = (read_jsonl(str(tmp_path / run / "pretrain.jsonl")) for run in ("one", "two"))
    assert [r["step"] for r in rows_b] == [1, 2, 3]  # rank 0 alone logged, each step once
    for ra, rb in zip(rows_a, rows_b):  # the logged loss is the whole batch's, reduced over the ranks
        assert abs(ra["loss"] - rb["loss"]) < 1e-5


def test_sft_two_ranks_take_the_step_of_one_process(tmp_path):
    from nanor1.sft import sft
    p = torchrun(WORKER, "sft", str(tmp_path / "two"))
    assert p.returncode == 0, p.stderr[-3000:]
    model = dist_worker.tiny_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    sft(model, dist_worker.sft_examples(), dist_worker.sft_config(), str(tmp_path / "one"), quiet=True)
    two = load_checkpoint(str(tmp_path / "two" / "model.pt"))["model"]
    diff, moved = max_diff(model.state_dict(), two), max_diff(model.state_dict(), start)
    print(f"\nsft, 3 steps, batch 4 = 2 ranks x 2 rows (masked, uneven tokens): max |param diff| {diff:.2e} "
          f"(weights moved {moved:.2e})")
    assert diff < 1e-6 and moved > 1e-4
    rows_a, rows_b = (read_jsonl(str(tmp_path / run / "sft.jsonl")) for run in ("one", "two"))
    assert [r["step"] for r in rows_b] == [1, 2, 3]
    assert all(abs(a["loss"] - b["loss"]) < 1e-5 for a, b in zip(rows_a, rows_b))


def test_train_r1_runs_under_two_ranks(tmp_path):
    p = torchrun("train_r1.py", "--preset=tiny", f"--out_dir={tmp_path / 'r1'}", timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    summary = read_json(tmp_path / "r1" / "summary.json")
    assert "student R1-Zero RL" in summary["models"] and summary["stages"]["3"]["rejection"]["drawn"] == 8 * 4


def read_json(path):
    import json
    with open(path) as f:
        return json.load(f)


def _tiny_base_init() -> dict:
    """The weights pretraining starts from (its model is built right after torch.manual_seed(seed))."""
    from nanor1.model import GPT, ModelConfig
    from nanor1.tokenizer import get_tokenizer
    torch.manual_seed(PretrainConfig().seed)
    return GPT(ModelConfig.preset("tiny", vocab_size=get_tokenizer().vocab_size)).state_dict()


def test_grpo_two_ranks_equal_one_process_given_the_same_rollouts(tmp_path):
    p = torchrun(WORKER, "grpo", str(tmp_path))
    assert p.returncode == 0, p.stderr[-3000:]
    print()
    for loss_type in dist_worker.LOSS_TYPES:
        saved = torch.load(tmp_path / f"{loss_type}.pt", weights_only=False)  # our own file: rollouts are objects
        model = dist_worker.tiny_model()
        start = {k: v.clone() for k, v in model.state_dict().items()}
        trainer = GRPOTrainer(model, dist_worker.grpo_config(loss_type), out_dir=str(tmp_path / "one"))
        cfg = trainer.cfg
        for step, whole in enumerate(saved["rollouts"]):
            assert whole.rewards.shape == (cfg.prompts_per_step, cfg.num_generations)  # the whole global batch
            if not cfg.dynamic_sampling:  # the prompts one process draws at this step, in the same order
                rng = random.Random(cfg.seed * 1_000_003 + step)
                assert [q.question for q in whole.problems] == \
                    [trainer.default_problem(rng).question for _ in range(cfg.prompts_per_step)]
            for g in trainer.optimizer.param_groups:
                g["lr"] = lr_at(step, cfg)
            trainer.update(whole)
        diff, moved = max_diff(model.state_dict(), saved["model"]), max_diff(model.state_dict(), start)
        print(f"GRPO loss_type={loss_type}, {len(saved['rollouts'])} steps, P={cfg.prompts_per_step} x "
              f"G={cfg.num_generations} over 2 ranks: max |param diff| {diff:.2e} (weights moved {moved:.2e})")
        assert diff < 1e-6 and moved > 100 * diff


def _pids(out, n=2, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        files = [out / f"pid.{r}" for r in range(n)]
        if all(f.exists() and f.read_text() for f in files) and read_jsonl(str(out / "pretrain.jsonl")):
            return [int(f.read_text()) for f in files]  # both ranks are inside the training loop
        time.sleep(0.2)
    raise AssertionError("the 2-rank run did not start within 60 s")


def test_killing_one_rank_makes_the_run_exit_nonzero_promptly(tmp_path):
    cmd = [*TORCHRUN, WORKER, "with_pid", str(tmp_path), "-m", "nanor1.pretrain", "--preset=tiny",
           "--steps=1000000", "--log_every=1", f"--out_dir={tmp_path}"]
    launcher = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    try:
        pid0, pid1 = _pids(tmp_path)
        os.kill(pid1, signal.SIGKILL)
        t0 = time.time()
        _, err = launcher.communicate(timeout=60)
        seconds = time.time() - t0
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)  # the group of the launcher this test started, nothing else
    print(f"\nrank 1 killed (SIGKILL): torchrun exited with status {launcher.returncode} after {seconds:.1f} s")
    assert launcher.returncode != 0  # communicate(timeout=60) fails the test if it hangs instead
    assert "ChildFailedError" in err and "SIGKILL" in err, err[-2000:]  # names the dead rank and why
    with pytest.raises(ProcessLookupError):
        os.kill(pid0, 0)  # the surviving rank was stopped too, not left waiting


def test_a_stuck_rank_makes_the_other_time_out():
    t0 = time.time()
    p = torchrun(WORKER, "hangs", env={**ENV, "NANOR1_DIST_TIMEOUT": "3"}, timeout=90)
    seconds = time.time() - t0
    print(f"\nrank 1 stuck, timeout 3 s: torchrun exited with status {p.returncode} after {seconds:.1f} s "
          "(process start included)")
    assert p.returncode != 0 and "Timed out" in p.stderr, p.stderr[-2000:]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist_base")
    return pretrain(PretrainConfig(preset="tiny", out_dir=str(out)), quiet=True)


def test_two_rank_checkpoint_resumes_to_the_uninterrupted_weights(base, tmp_path):
    common = ["--preset=tiny", f"--base={base}", "--steps=3", "--eval_every=2", "--lr=3e-3",
              "--reward_weights=accuracy=1,language=1", "--eval_n_per_cell=1", "--eval_k=1"]
    a, b = tmp_path / "straight", tmp_path / "killed"
    p = torchrun("train_zero.py", *common, f"--out_dir={a}")
    assert p.returncode == 0, p.stderr[-3000:]
    p = torchrun(WORKER, "dies_before", "3", "train_zero.py", *common, f"--out_dir={b}")
    assert p.returncode != 0 and load_checkpoint(str(b / "model.pt"))["step"] == 2
    p = torchrun("train_zero.py", *common, f"--out_dir={b}", "--resume")
    assert p.returncode == 0, p.stderr[-3000:]
    sa, sb = load_checkpoint(str(a / "model.pt")), load_checkpoint(str(b / "model.pt"))
    diff, moved = max_diff(sa["model"], sb["model"]), max_diff(sa["model"], load_checkpoint(base)["model"])
    print(f"\ntrain_zero, 2 ranks, killed after step 2, resumed with 2 ranks: max |param diff| vs uninterrupted "
          f"{diff:.2e} (weights moved {moved:.2e})")
    assert sa["step"] == sb["step"] == 3 and diff < 1e-6 and moved > 1e-4
    rows_a, rows_b = read_jsonl(str(a / "train.jsonl")), read_jsonl(str(b / "train.jsonl"))
    assert [r["step"] for r in rows_b] == [1, 2, 3]
    assert [r["reward"] for r in rows_a] == [r["reward"] for r in rows_b]
    assert (a / "summary.json").exists() and (b / "summary.json").exists()
