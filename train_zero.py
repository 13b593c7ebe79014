"""R1-Zero, end to end: pure RL (GRPO + rule rewards, no SFT) from a base model, evaluated on held-out problems.

    python train_zero.py                      # from the shipped base (nanor1/base.pt): ~7 minutes on 2 cores
    python train_zero.py --base=scratch       # pretrain that base first (nanor1/pretrain.py, 7-21 min), then that RL
    python train_zero.py --base=out/base/model.pt --steps=40   # another base; override any GRPO knob
    python train_zero.py --resume             # continue a killed run (same model, optimizer, RNG, data, step)
    python train_zero.py --rewards=my_rewards.py --reward_weights=accuracy=1,format=0.25,mine=0.1 --out_dir=out/mine
                                              # a reward of your own (nanor1/reward_modules.py; README)
    torchrun --standalone --nproc_per_node=N train_zero.py --preset=gpu   # N GPUs; see nanor1/distributed.py

Sections: config -> stage 0 (the base model: shipped, pretrained from scratch, or a file) -> evaluate the base ->
GRPO loop with periodic held-out evaluation -> final evaluation, before/after table, out/zero/summary.json, plots
(accuracy, reward, length, aha rate, KL) and report.html.
The reward is accuracy + 0.25 x strict format (recipe §3); nothing rewards length or "Wait": if responses grow
and self-correction appears, RL found that they pay (recipe §7, §10).
Against late drift (recipe §9): the lr decays (cosine), and the checkpoint with the best held-out pass@1 is kept
as best.pt beside the final model.pt.
"""
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

from tqdm import tqdm

from nanor1 import cpu_threads, preflight, reward_modules
from nanor1.base import resolve_base
from nanor1.checkpoint import CheckpointError, load_model, load_training_checkpoint, save_training_checkpoint
from nanor1.config import parse_overrides_multi
from nanor1.distributed import cleanup, init_distributed, is_main, world
from nanor1.evaluate import evaluate, format_table
from nanor1.grpo import GRPOConfig, GRPOTrainer, train_step
from nanor1.metrics import (extra_terms, format_step, plot_metrics, read_jsonl, reward_terms_summary, step_header,
                            write_atomic)
from nanor1.pretrain import preset_config
from nanor1.report import write_report
from nanor1.tokenizer import get_tokenizer
from nanor1.zero_presets import PRESETS, eval_interval

# -----------------------------------------------------------------------------
# config


@dataclass
class ZeroConfig:
    preset: str = "cpu"             # cpu (the default, CPU or CUDA) | tiny (tests) | gpu (a larger run, from scratch)
    base: str = ""                  # shipped | scratch | <checkpoint path>; "": the preset's (cpu: shipped)
    out_dir: str = "out/zero"
    eval_every: int = 0             # steps between held-out evaluations (0: ~8 in the run, >= 5 steps apart)
    eval_n_per_cell: int = 0        # held-out problems per (family, difficulty) (0: preset)
    eval_k: int = 4                 # samples per problem (pass@1 averages them, cons@k votes)
    eval_temperature: float = 0.6   # recipe §6
    resume: bool = False
    device: str = "auto"
    threads: str = "auto"           # torch CPU threads: auto (measured, re-checked on a busy machine) | a number


METRIC_KEYS = ("pass@1", "cons@k", "pass@k", "format_rate", "lang_mix_rate", "mean_len", "aha_rate", "acc_aha",
               "acc_no_aha", "acc_retry_after_miss", "acc_stop_after_miss", "truncation_rate", "verdict_acc",
               "verdict_acc_on_hits", "verdict_acc_on_misses")


def main(argv):
    zcfg, gcfg = parse_overrides_multi([ZeroConfig(), GRPOConfig()], argv)
    device = init_distributed(zcfg.device)  # under torchrun: join the group (rank 0 alone writes and prints)
    cpu_threads.configure(zcfg.threads, device if world() == 1 else "distributed")
    explicit = {a[2:].partition("=")[0].replace("-", "_") for a in argv if a.startswith("--")}
    preset = zcfg.preset
    if preset not in PRESETS:
        raise SystemExit(f"error: --preset={preset!r}: choose one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    for k, v in p["grpo"].items():  # the preset's GRPO values, unless given on the command line
        if k not in explicit:
            setattr(gcfg, k, v)
    preflight.check_zero(p, gcfg, zcfg, preset_config)  # every setting now, not after pretraining
    n_eval = zcfg.eval_n_per_cell or p["eval_n"]
    eval_every = zcfg.eval_every or eval_interval(gcfg.steps)
    os.makedirs(zcfg.out_dir, exist_ok=True)
    tok = get_tokenizer()
    t_start = time.time()
    threads = f" ({cpu_threads.current()} threads)" if device == "cpu" else ""
    print(f"train_zero: preset {preset} on {device}{threads} x {world()} processes; GRPO {gcfg.steps} steps x "
          f"{gcfg.prompts_per_step} prompts x {gcfg.num_generations} samples; held-out eval every {eval_every} steps")

    # -------------------------------------------------------------------------
    # stage 0: the base model
    # shipped: nanor1/base.pt, checked against the code that made it; scratch: pretrain (or reuse a finished)
    # out/base_<pretraining preset>; else a checkpoint path (nanor1/base.py)
    base_path = resolve_base(zcfg.base or p["base"], p["pretrain"],
                             os.path.dirname(zcfg.out_dir.rstrip("/")) or ".", device)
    try:
        model, _ = load_model(base_path, device)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}")
    t_pretrain = time.time() - t_start

    eval_seconds = []  # each held-out evaluation's time (summary.json; bench/zero.py splits the run's time)

    def run_eval():
        t0 = time.time()
        res = evaluate(model, tok, n_per_cell=n_eval, k=zcfg.eval_k, temperature=zcfg.eval_temperature,
                       max_new_tokens=gcfg.max_new_tokens, seed=1234, return_samples=3)
        eval_seconds.append(time.time() - t0)
        return res

    # -------------------------------------------------------------------------
    # the base, evaluated with the R1-Zero template on held-out problems
    trainer = GRPOTrainer(model, gcfg, zcfg.out_dir, tok, log_name="train", resume=zcfg.resume)
    state_path = os.path.join(zcfg.out_dir, "model.pt")
    curve, best, final = [], None, None
    if zcfg.resume and os.path.exists(state_path):
        try:
            ckpt = load_training_checkpoint(state_path, trainer)
        except CheckpointError as e:
            raise SystemExit(f"error: {e}")
        base_eval, curve, best = ckpt["base_eval"], ckpt["curve"], ckpt.get("best")
        final = ckpt.get("last_eval")  # a run resumed after its last step needs no new evaluation
        print(f"resumed {state_path} at step {trainer.step}")
    else:
        base_eval = run_eval()
        base_eval["step"] = 0
        curve = [_point(base_eval)]
        print(format_table(base_eval))
        _write_curve(zcfg.out_dir, curve)
    print("note: the GRPO loss is ~0 by construction (advantages sum to zero in each group, rho = 1 at the first "
          "iteration); its gradient is not. Watch reward, acc(uracy) and len.")

    # -------------------------------------------------------------------------
    # GRPO
    print(step_header(trainer.weights))
    bar = tqdm(total=gcfg.steps, initial=trainer.step, unit="step", dynamic_ncols=True,
               disable=not sys.stderr.isatty() or not is_main())  # a live bar on a terminal, rank 0's only
    while trainer.step < gcfg.steps:
        row = train_step(trainer)
        bar.update(1)
        bar.write(format_step(row, trainer.weights))
        if trainer.step % eval_every == 0 or trainer.step == gcfg.steps:
            res = run_eval()
            res["step"] = trainer.step
            final = res
            curve.append(_point(res))
            _write_curve(zcfg.out_dir, curve)
            bar.write(f"  eval @ step {trainer.step}: pass@1 {100 * res['pass@1']:.1f}%  cons@{res['k']} "
                  f"{100 * res['cons@k']:.1f}%  format {100 * res['format_rate']:.1f}%  len {res['mean_len']:.0f}  "
                  f"aha {100 * res['aha_rate']:.1f}%")
            if best is None or res["pass@1"] > best["pass@1"]:
                best = _point(res)
                save_training_checkpoint(os.path.join(zcfg.out_dir, "best.pt"), trainer, {"eval": best})
            save_training_checkpoint(state_path, trainer, {"base_eval": base_eval, "curve": curve, "best": best,
                                                           "last_eval": res})
            _plots(zcfg.out_dir, trainer.weights)
    bar.close()

    # -------------------------------------------------------------------------
    # report
    final = final or run_eval()  # --steps=0: the base is the final model
    seconds = time.time() - t_start
    summary = {"preset": preset, "seconds": round(seconds, 1), "seconds_pretrain": round(t_pretrain, 1),
               "seconds_eval": round(sum(eval_seconds), 1),
               "base_checkpoint": base_path, "grpo_config": asdict(trainer.cfg),
               "base": _point(base_eval), "final": _point(final), "best": best, "curve": curve,
               "samples_base": base_eval.get("samples", []), "samples_final": final.get("samples", []),
               # which reward made the run: its weights, the modules --rewards loaded (file, sha256), each term's
               # batch means
               "rewards": {"weights": trainer.weights, "modules": reward_modules.provenance(trainer.cfg.rewards),
                           "terms": reward_terms_summary(read_jsonl(trainer.log.path), trainer.weights)}}
    if is_main():
        write_atomic(os.path.join(zcfg.out_dir, "summary.json"), json.dumps(summary, indent=1))
    _plots(zcfg.out_dir, trainer.weights)
    if is_main():  # the plots, the table and the kept responses in one page (after the plots it embeds)
        write_report(zcfg.out_dir, summary, title=f"nanor1 R1-Zero, preset {preset}")
    print("\nheld-out, the final model (after R1-Zero RL):")
    print(format_table(final))
    print("\nheld-out, before (the base) and after:")
    print(before_after_table(summary["base"], summary["final"]))
    print(f"\nwrote {zcfg.out_dir}/summary.json, curve.png, train.png, report.html; total {seconds / 60:.1f} min")
    cleanup()


def _point(res: dict) -> dict:
    out = {"step": res.get("step", 0)}
    out.update({k: res.get(k) for k in METRIC_KEYS})
    for group in ("by_family", "by_difficulty", "by_lang"):
        out[group] = {name: {k: r.get(k) for k in METRIC_KEYS} for name, r in res.get(group, {}).items()}
    if "samples" in res:
        out["samples"] = res["samples"]
    return out


def _write_curve(out_dir, curve):
    if not is_main():
        return
    with open(os.path.join(out_dir, "curve.jsonl"), "w") as f:
        for c in curve:
            f.write(json.dumps({k: v for k, v in c.items() if not isinstance(v, (dict, list))}) + "\n")


def _plots(out_dir, terms=()):
    plot_metrics(os.path.join(out_dir, "curve.jsonl"), os.path.join(out_dir, "curve.png"),
                 ["pass@1", "mean_len", "aha_rate", "format_rate"], title="R1-Zero: held-out evaluation vs RL step")
    plot_metrics(os.path.join(out_dir, "train.jsonl"), os.path.join(out_dir, "train.png"),
                 ["reward", "r_accuracy", "len_mean", "aha_rate", "kl", "zero_std_frac",
                  *(f"r_{t}" for t in extra_terms(terms))],  # each reward term of --reward_weights beyond these
                 title="R1-Zero: training batch vs RL step")


def before_after_table(base: dict, final: dict) -> str:
    rows = [("pass@1", True), ("cons@k", True), ("format_rate", True), ("truncation_rate", True), ("mean_len", False),
            ("aha_rate", True), ("acc_aha", True), ("acc_no_aha", True), ("lang_mix_rate", True)]
    fmt = lambda v, pct: "-" if v is None else (f"{100 * v:.1f}%" if pct else f"{v:.1f}")  # noqa: E731
    lines = [f"{'metric':16s} {'base':>9s} {'final':>9s}"]
    lines += [f"{k:16s} {fmt(base.get(k), p):>9s} {fmt(final.get(k), p):>9s}" for k, p in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
