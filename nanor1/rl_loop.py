"""The RL loop every entry point runs: GRPO steps, held-out evaluations, checkpoints, resume, plots.

    from nanor1.rl_loop import run_rl
    run = run_rl(trainer, evaluate=held_out, eval_every=8, resume=True, plots=draw)
    run["curve"], run["best"], run["base"], run["last"]   # evaluations; model.pt, best.pt on disk

train_zero.py, train_r1.py and experiments/common.py call it around their trainer (a GRPOTrainer, or
baselines/ppo.py's PPOTrainer); the step itself is nanor1.grpo.train_step. The loop, in order:
  0. resume: with resume=True and the trainer's model.pt on disk, the trainer's whole state comes
     back from it (model, optimizer, reference, RNG, step; the data is a function of the step), and
     the loop's (curve, best, the base's and the last evaluation); else evaluate(0) scores the start
  1. one train_step, then its fixed-width line (nanor1.metrics.format_step) above a tqdm bar
  2. every eval_every steps and at the last: evaluate(step), a point on the curve; the point with
     the best held-out pass@1 so far is saved as best.pt (against late drift, recipe §9)
  3. the training checkpoint model.pt, written atomically (nanor1.checkpoint) after each
     evaluation, every save_every steps and at the last step: a killed run resumes from it and
     continues the same run
  4. plots(run) after each evaluation and at the end
"""
import os
import sys

from tqdm import tqdm

from nanor1.checkpoint import CheckpointError, load_training_checkpoint, save_training_checkpoint
from nanor1.distributed import barrier, is_main
from nanor1.grpo import train_step
from nanor1.metrics import format_step, step_header


def log(line: str) -> None:
    """Print a line above the progress bar (a plain print where there is none), flushed: the loop's
    lines and its callers' (an evaluation's) go through here."""
    tqdm.write(line)
    sys.stdout.flush()


def run_rl(trainer, evaluate=None, eval_every: int = 0, point=None, save_every: int = 0,
           checkpoints: bool = True, resume: bool = False, on_step=None, plots=None,
           intro: str = "") -> dict:
    """Train `trainer` from its step (or its checkpoint's) to trainer.cfg.steps. Returns the run's
    evaluations: {"curve": [point(result)] from step 0, "best": the point with the best pass@1 after
    a step, "base": evaluate(0)'s result, "last": the last evaluation's after a step (or None)}.

    evaluate(step) -> result   the held-out evaluation, a dict with "pass@1" (None: no evaluation);
                   at step 0 (unless resumed), every eval_every steps (0: none) and at the last step
    point(result)  the curve's entry of a result (default: the result itself)
    save_every     steps between training checkpoints (there are also ones after each evaluation
                   and at the last step; 0: only those)
    checkpoints    False: write neither model.pt nor best.pt, and resume nothing
    on_step(trainer, row)   after each step, before its line (may add to the row)
    plots(run)     redraws the caller's plots (and files) from the run so far
    intro          printed once, above the step lines' header
    """
    steps, point = trainer.cfg.steps, point or (lambda result: result)
    run = {"curve": [], "best": None, "base": None, "last": None}
    path, drawn_at = trainer.ckpt_path, None

    # 0. resume the run, or evaluate the model it starts from
    if checkpoints and resume and os.path.exists(path):
        try:
            ckpt = load_training_checkpoint(path, trainer)
        except CheckpointError as e:
            raise SystemExit(f"error: {e}")
        # a run resumed after its last step needs no new evaluation: "last" is the final one
        run.update(base=ckpt.get("base_eval"), curve=ckpt.get("curve", []), best=ckpt.get("best"),
                   last=ckpt.get("last_eval"))
        print(f"resumed {path} at step {trainer.step}")
    elif evaluate is not None:
        run["base"] = evaluate(0)
        run["curve"].append(point(run["base"]))
        if plots is not None:
            plots(run)
            drawn_at = trainer.step
    if intro:
        print(intro)

    print(step_header(trainer.weights))
    bar = tqdm(total=steps, initial=trainer.step, unit="step", dynamic_ncols=True,
               disable=not sys.stderr.isatty() or not is_main())  # on a terminal, rank 0's only
    while trainer.step < steps:
        # 1. one GRPO step and its line
        row = train_step(trainer)
        if on_step is not None:
            on_step(trainer, row)
        bar.update(1)
        log(format_step(row, trainer.weights))
        at_end = trainer.step == steps
        # 2. the held-out evaluation, and the best checkpoint by its pass@1
        evaluated = evaluate is not None and (at_end or (eval_every > 0
                                                         and trainer.step % eval_every == 0))
        if evaluated:
            run["last"] = evaluate(trainer.step)
            p, best = point(run["last"]), run["best"]
            run["curve"].append(p)
            if p.get("pass@1") is not None and (best is None or p["pass@1"] > best["pass@1"]):
                run["best"] = p
                if checkpoints:
                    save_training_checkpoint(os.path.join(trainer.out_dir, "best.pt"), trainer,
                                             {"eval": p})
        # 3. the training checkpoint, with what the loop needs to resume
        if checkpoints and (evaluated or at_end or (save_every > 0
                                                    and trainer.step % save_every == 0)):
            state = {} if evaluate is None else {"base_eval": run["base"], "curve": run["curve"],
                                                 "best": run["best"], "last_eval": run["last"]}
            save_training_checkpoint(path, trainer, state)
        # 4. the plots
        if evaluated and plots is not None:
            plots(run)
            drawn_at = trainer.step
    bar.close()
    barrier()  # other ranks may read model.pt next (an evaluation, the next stage): it is written
    if plots is not None and drawn_at != trainer.step:
        plots(run)
    return run
