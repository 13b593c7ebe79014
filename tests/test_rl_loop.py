"""The RL loop (nanor1/rl_loop.py) as a specification, on the tiny model: when it evaluates, which
checkpoint it keeps as best, what it saves, and that a killed run resumes where it left off.

    python -m pytest tests/test_rl_loop.py -q

The evaluation here is a fake: it records the steps it ran at, and returns a pass@1 the test chose.
"""
import torch

from nanor1 import rl_loop
from nanor1.checkpoint import load_checkpoint
from nanor1.grpo import GRPOConfig, GRPOTrainer
from nanor1.metrics import read_jsonl
from nanor1.model import GPT, ModelConfig
from nanor1.rl_loop import run_rl
from nanor1.tokenizer import get_tokenizer

TOK = get_tokenizer()


def parity(text, problem, step):
    """A reward that differs between random completions, so that the steps do move the weights."""
    return float(sum(map(ord, text)) % 2), {}


def make_trainer(out, steps=4, resume=False) -> GRPOTrainer:
    torch.manual_seed(0)
    model = GPT(ModelConfig.preset("tiny", vocab_size=TOK.vocab_size))
    cfg = GRPOConfig(steps=steps, prompts_per_step=2, num_generations=4, max_new_tokens=8,
                     micro_batch_rows=4, warmup_steps=0, lr=3e-3)
    return GRPOTrainer(model, cfg, out_dir=str(out), tok=TOK, log_name="train", resume=resume,
                       reward_fn=parity)


def fake_eval(pass_at_1: dict, calls: list):
    """evaluate(step) for run_rl: records the step, returns pass_at_1[step]."""
    def evaluate(step):
        calls.append(step)
        return {"step": step, "pass@1": pass_at_1.get(step, 0.0)}
    return evaluate


def test_evaluates_at_step_0_every_eval_every_steps_and_at_the_last(tmp_path):
    calls = []
    run = run_rl(make_trainer(tmp_path, steps=5), evaluate=fake_eval({}, calls), eval_every=2)
    assert calls == [0, 2, 4, 5]
    assert [p["step"] for p in run["curve"]] == calls
    assert run["base"]["step"] == 0 and run["last"]["step"] == 5
    assert [r["step"] for r in read_jsonl(str(tmp_path / "train.jsonl"))] == [1, 2, 3, 4, 5]


def test_best_pt_holds_the_step_with_the_best_held_out_pass_at_1(tmp_path):
    pass_at_1 = {0: 0.9, 1: 0.2, 2: 0.5, 3: 0.4, 4: 0.5}
    run = run_rl(make_trainer(tmp_path), evaluate=fake_eval(pass_at_1, []), eval_every=1)
    best = load_checkpoint(str(tmp_path / "best.pt"))
    # the base's 0.9 is no candidate (no step was trained), and the tie at step 4 keeps step 2
    assert best["step"] == 2 and best["eval"]["pass@1"] == 0.5
    assert run["best"]["step"] == 2
    state = load_checkpoint(str(tmp_path / "model.pt"))
    assert state["step"] == 4 and state["best"]["step"] == 2
    assert [p["step"] for p in state["curve"]] == [0, 1, 2, 3, 4]


def test_without_evaluation_it_checkpoints_every_save_every_and_at_the_last_step(tmp_path,
                                                                                monkeypatch):
    saved = []
    monkeypatch.setattr(rl_loop, "save_training_checkpoint",
                        lambda path, trainer, extra: saved.append((trainer.step, extra)))
    run = run_rl(make_trainer(tmp_path, steps=5), save_every=2)
    assert saved == [(2, {}), (4, {}), (5, {})] and run["curve"] == [] and run["best"] is None


def test_checkpoints_false_writes_no_checkpoint(tmp_path):
    run_rl(make_trainer(tmp_path, steps=2), evaluate=fake_eval({2: 1.0}, []), checkpoints=False)
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "best.pt").exists()


def test_plots_redraw_after_each_evaluation_and_once_at_the_end(tmp_path):
    drawn = []
    run_rl(make_trainer(tmp_path, steps=3), evaluate=fake_eval({}, []), eval_every=2,
           plots=lambda run: drawn.append(run["curve"][-1]["step"]))
    assert drawn == [0, 2, 3]  # the last step's evaluation drew the end's picture already
    drawn.clear()
    run_rl(make_trainer(tmp_path / "plain", steps=3),
           plots=lambda run: drawn.append(len(run["curve"])))
    assert drawn == [0]


def test_a_killed_run_resumes_at_its_checkpoint_and_ends_as_the_uninterrupted_one(tmp_path,
                                                                                  monkeypatch):
    straight = make_trainer(tmp_path / "a")
    run_rl(straight, evaluate=fake_eval({}, []), eval_every=2)

    real, calls = rl_loop.train_step, []

    def dying(trainer):  # killed before step 4, after the checkpoint of step 2
        if trainer.step == 3:
            raise KeyboardInterrupt
        return real(trainer)
    monkeypatch.setattr(rl_loop, "train_step", dying)
    try:
        run_rl(make_trainer(tmp_path / "b"), evaluate=fake_eval({}, calls), eval_every=2)
    except KeyboardInterrupt:
        pass
    monkeypatch.setattr(rl_loop, "train_step", real)
    assert load_checkpoint(str(tmp_path / "b" / "model.pt"))["step"] == 2
    assert calls == [0, 2]

    resumed = make_trainer(tmp_path / "b", resume=True)
    run = run_rl(resumed, evaluate=fake_eval({}, calls), eval_every=2, resume=True)
    assert calls == [0, 2, 4]  # no new base evaluation: the curve came back from the checkpoint
    assert [p["step"] for p in run["curve"]] == [0, 2, 4] and resumed.step == 4
    rows_a = read_jsonl(str(tmp_path / "a" / "train.jsonl"))
    rows_b = read_jsonl(str(tmp_path / "b" / "train.jsonl"))
    assert [r["step"] for r in rows_b] == [1, 2, 3, 4]  # step 3 (logged before the kill) once
    assert [r["reward"] for r in rows_a] == [r["reward"] for r in rows_b]
    assert any(r["grad_norm"] > 0 for r in rows_a)  # the steps did move the weights
    for name, p in straight.model.state_dict().items():
        assert torch.equal(p, resumed.model.state_dict()[name]), name
