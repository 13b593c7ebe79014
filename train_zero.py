"""R1-Zero, end to end: pure RL (GRPO + rule rewards, no SFT) from a base model, evaluated on
held-out problems.

    python train_zero.py             # from the shipped base (nanor1/base.pt): ~7 minutes on 2 cores
    python train_zero.py --base=scratch       # pretrain that base first (nanor1/pretrain.py, 7-21
                                                min), then that RL
    python train_zero.py --base=out/base/model.pt --steps=40  # another base; override any GRPO knob
    python train_zero.py --resume   # continue a killed run (same model, optimizer, RNG, data, step)
    python train_zero.py --rewards=my_rewards.py --reward_weights=accuracy=1,format=0.25,mine=0.1 \
        --out_dir=out/mine  # a reward of your own (nanor1/reward_modules.py; README)
    torchrun --standalone --nproc_per_node=N train_zero.py --preset=gpu  # N GPUs; see
                                                                           nanor1/distributed.py

Sections: config -> stage 0 (the base model: shipped, pretrained from scratch, or a file) ->
evaluate the base, then the GRPO loop with periodic held-out evaluation (nanor1/rl_loop.py) -> final
evaluation, before/after table, out/zero/summary.json, plots (accuracy, reward, length, aha rate,
KL) and report.html. The reward is accuracy + 0.25 x strict format (recipe §3); nothing rewards
length or "Wait": if responses grow and self-correction appears, RL found that they pay
(recipe §7, §10). Against late drift (recipe §9): the lr decays (cosine), and the checkpoint with
the best held-out pass@1 is kept as best.pt beside the final model.pt.
"""
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

from nanor1 import cpu_threads, preflight, reward_modules
from nanor1.base import resolve_base
from nanor1.checkpoint import CheckpointError, load_model
from nanor1.config import (apply_preset, fill, flag_keys, help_text, parse_overrides,
                           parse_overrides_multi)
from nanor1.distributed import cleanup, init_distributed, is_main, world
from nanor1.evaluate import evaluate, format_table
from nanor1.grpo import GRPOConfig, GRPOTrainer
from nanor1.metrics import extra_terms, plot_metrics, read_jsonl, reward_terms_summary, write_atomic
from nanor1.pretrain import preset_config
from nanor1.report import write_report
from nanor1.rl_loop import log, run_rl
from nanor1.tokenizer import get_tokenizer
from nanor1.zero_presets import PRESETS, eval_interval

# -----------------------------------------------------------------------------
# config


@dataclass
class ZeroConfig:
    preset: str = "cpu"             # cpu (the default, CPU or CUDA) | tiny (tests) | gpu (a larger
                                    # run, from scratch)
    base: str = "shipped"           # shipped (nanor1/base.pt) | scratch (pretrained first) | a
                                    # checkpoint
    out_dir: str = "out/zero"       # summary.json, report.html, plots, model.pt (to resume),
                                    # best.pt
    eval_every: int = 0             # steps between held-out evaluations (0: ~8 in the run, >= 5
                                    # steps apart)
    eval_n_per_cell: int = 8        # held-out problems per (family, difficulty)
    eval_k: int = 4                 # samples per problem (pass@1 averages them, cons@k votes)
    eval_temperature: float = 0.6   # recipe §6
    resume: bool = False            # continue the run in out_dir from its model.pt
    device: str = "auto"            # auto (cuda when there is one, else cpu) | cpu | cuda
    threads: str = "auto"           # torch CPU threads: auto (measured, re-checked on a busy
                                    # machine) | a number


# ZeroConfig's fields per preset, for apply_preset (zero_presets.py calls eval_n_per_cell eval_n,
# the name that nanor1/preflight.py and experiments/reward_lab.py read)
ZERO_FIELDS = {name: dict(base=p["base"], eval_n_per_cell=p["eval_n"])
               for name, p in PRESETS.items()}


METRIC_KEYS = ("pass@1", "cons@k", "pass@k", "format_rate", "lang_mix_rate", "mean_len", "aha_rate",
               "acc_aha",
               "acc_no_aha", "acc_retry_after_miss", "acc_stop_after_miss", "truncation_rate",
               "verdict_acc", "verdict_acc_on_hits", "verdict_acc_on_misses")


def parse(argv: list[str]) -> tuple[ZeroConfig, GRPOConfig]:
    """The flags first; then the preset (nanor1/zero_presets.py) fills every field no flag set,
    ZeroConfig's and GRPOConfig's. --help lists both configs' flags with their descriptions and the
    values the chosen preset gives them."""
    if "-h" in argv or "--help" in argv:
        zcfg = parse_overrides(ZeroConfig(), [a for a in argv if a.startswith("--preset=")])
        print(help_text(zcfg, ZERO_FIELDS.get(zcfg.preset)) + "\n\n"
              + help_text(GRPOConfig(), PRESETS.get(zcfg.preset, {}).get("grpo"), zcfg.preset))
        raise SystemExit(0)
    zcfg, gcfg = parse_overrides_multi([ZeroConfig(), GRPOConfig()], argv)
    explicit = flag_keys(argv)
    apply_preset(zcfg, ZERO_FIELDS, explicit)  # an unknown --preset exits here, naming the choices
    fill(gcfg, PRESETS[zcfg.preset]["grpo"], explicit)  # the preset's GRPO values, unless flagged
    return zcfg, gcfg


def main(argv):
    zcfg, gcfg = parse(argv)
    # under torchrun: join the group (rank 0 alone writes and prints)
    device = init_distributed(zcfg.device)
    cpu_threads.configure(zcfg.threads, device if world() == 1 else "distributed")
    preset, p = zcfg.preset, PRESETS[zcfg.preset]
    preflight.check_zero(p, gcfg, zcfg, preset_config)  # every setting now, not after pretraining
    eval_every = zcfg.eval_every or eval_interval(gcfg.steps)
    os.makedirs(zcfg.out_dir, exist_ok=True)
    tok = get_tokenizer()
    t_start = time.time()
    threads = f" ({cpu_threads.current()} threads)" if device == "cpu" else ""
    print(f"train_zero: preset {preset} on {device}{threads} x {world()} processes; GRPO "
          f"{gcfg.steps} steps x "
          f"{gcfg.prompts_per_step} prompts x {gcfg.num_generations} samples; held-out eval every "
          f"{eval_every} steps")

    # -------------------------------------------------------------------------
    # stage 0: the base model shipped: nanor1/base.pt, checked against the code that made it;
    # scratch: pretrain (or reuse a finished) out/base_<pretraining preset>; else a checkpoint path
    # (nanor1/base.py)
    base_path = resolve_base(zcfg.base, p["pretrain"],
                             os.path.dirname(zcfg.out_dir.rstrip("/")) or ".", device)
    try:
        model, _ = load_model(base_path, device)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}")
    t_pretrain = time.time() - t_start

    # each held-out evaluation's time (summary.json; bench/zero.py splits the run's time)
    eval_seconds = []

    def run_eval():
        t0 = time.time()
        res = evaluate(model, tok, n_per_cell=zcfg.eval_n_per_cell, k=zcfg.eval_k,
                       temperature=zcfg.eval_temperature, max_new_tokens=gcfg.max_new_tokens,
                       seed=1234, return_samples=3)
        eval_seconds.append(time.time() - t0)
        return res

    def held_out(step):  # the loop's evaluation: the base's (step 0) prints a table, others a line
        res = run_eval()
        res["step"] = step
        if step == 0:
            print(format_table(res))
        else:
            log(f"  eval @ step {step}: pass@1 {100 * res['pass@1']:.1f}%  cons@{res['k']} "
                f"{100 * res['cons@k']:.1f}%  format {100 * res['format_rate']:.1f}%  "
                f"len {res['mean_len']:.0f}  aha {100 * res['aha_rate']:.1f}%")
        return res

    def draw(run):  # after each evaluation and at the end: curve.jsonl and the plots
        _write_curve(zcfg.out_dir, run["curve"])
        _plots(zcfg.out_dir, trainer.weights)

    # -------------------------------------------------------------------------
    # GRPO (nanor1/rl_loop.py): the base evaluated with the R1-Zero template on held-out problems
    # (or the run resumed from model.pt), the steps, held-out evaluations every eval_every,
    # checkpoints
    trainer = GRPOTrainer(model, gcfg, zcfg.out_dir, tok, log_name="train", resume=zcfg.resume)
    note = ("note: the GRPO loss is ~0 by construction (advantages sum to zero in each group, rho "
            "= 1 "
            "at the first iteration); its gradient is not. Watch reward, acc(uracy) and len.")
    run = run_rl(trainer, evaluate=held_out, eval_every=eval_every, point=_point,
                 resume=zcfg.resume, plots=draw, intro=note)
    base_eval, curve, best = run["base"], run["curve"], run["best"]

    # -------------------------------------------------------------------------
    # report
    final = run["last"] or run_eval()  # --steps=0: the base is the final model
    seconds = time.time() - t_start
    summary = {"preset": preset, "seconds": round(seconds, 1),
               "cpu_seconds": round(time.process_time(), 1),
               "seconds_pretrain": round(t_pretrain, 1),
               "seconds_eval": round(sum(eval_seconds), 1),
               "base_checkpoint": base_path, "grpo_config": asdict(trainer.cfg),
               "base": _point(base_eval), "final": _point(final), "best": best, "curve": curve,
               "samples_base": base_eval.get("samples", []),
               "samples_final": final.get("samples", []),
               # which reward made the run: its weights, the modules --rewards loaded (file,
               # sha256), each term's batch means
               "rewards": {"weights": trainer.weights,
                           "modules": reward_modules.provenance(trainer.cfg.rewards),
                           "terms": reward_terms_summary(read_jsonl(trainer.log.path),
                                                         trainer.weights)}}
    if is_main():  # summary.json, then the plots, the table and the kept responses in one page
        write_atomic(os.path.join(zcfg.out_dir, "summary.json"), json.dumps(summary, indent=1))
        write_report(zcfg.out_dir, summary, title=f"nanor1 R1-Zero, preset {preset}")
    print("\nheld-out, the final model (after R1-Zero RL):")
    print(format_table(final))
    print("\nheld-out, before (the base) and after:")
    print(before_after_table(summary["base"], summary["final"]))
    print(f"\nwrote {zcfg.out_dir}/summary.json, curve.png, train.png, report.html; total "
          f"{seconds / 60:.1f} min")
    cleanup()


def _point(res: dict) -> dict:
    out = {"step": res.get("step", 0)}
    out.update({k: res.get(k) for k in METRIC_KEYS})
    for group in ("by_family", "by_difficulty", "by_lang"):
        out[group] = {name: {k: r.get(k) for k in METRIC_KEYS}
                      for name, r in res.get(group, {}).items()}
    if "samples" in res:
        out["samples"] = res["samples"]
    return out


def _write_curve(out_dir, curve):
    if not is_main():
        return
    with open(os.path.join(out_dir, "curve.jsonl"), "w") as f:
        for c in curve:
            f.write(json.dumps({k: v for k, v in c.items() if not isinstance(v, (dict, list))})
                    + "\n")


def _plots(out_dir, terms=()):
    plot_metrics(os.path.join(out_dir, "curve.jsonl"), os.path.join(out_dir, "curve.png"),
                 ["pass@1", "mean_len", "aha_rate", "format_rate"],
                 title="R1-Zero: held-out evaluation vs RL step")
    plot_metrics(os.path.join(out_dir, "train.jsonl"), os.path.join(out_dir, "train.png"),
                 ["reward", "r_accuracy", "len_mean", "aha_rate", "kl", "zero_std_frac",
                  # each reward term of --reward_weights beyond these
                  *(f"r_{t}" for t in extra_terms(terms))],
                 title="R1-Zero: training batch vs RL step")


def before_after_table(base: dict, final: dict) -> str:
    rows = [("pass@1", True), ("cons@k", True), ("format_rate", True), ("truncation_rate", True),
            ("mean_len", False),
            ("aha_rate", True), ("acc_aha", True), ("acc_no_aha", True), ("lang_mix_rate", True)]
    # noqa: E731
    fmt = lambda v, pct: "-" if v is None else (f"{100 * v:.1f}%" if pct else f"{v:.1f}")
    lines = [f"{'metric':16s} {'base':>9s} {'final':>9s}"]
    lines += [f"{k:16s} {fmt(base.get(k), p):>9s} {fmt(final.get(k), p):>9s}" for k, p in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
