"""Start-up checks: a run's settings are checked before any work (pretraining, data, sampling), so a
preset or a flag that cannot run stops at once with one line naming the setting, instead of minutes
(or a pretraining) in.

    from nanor1 import preflight
    preflight.check_pretrain(cfg, model)                   # nanor1/pretrain.py, top of pretrain()
    preflight.check_sft(cfg)                               # nanor1/sft.py, top of sft()
    preflight.check_zero(p, gcfg, zcfg, preset_config)     # train_zero.py, before stage 0
    preflight.check_r1(run, preset_config)                 # train_r1.py, before the bases
    preflight.check_eval(model.cfg, ...)          # nanor1/evaluate.py, after loading the checkpoint

The checklist:
  sizes            steps, batch sizes, micro-batch rows, G, max_new_tokens, evaluation sizes,
                   log/checkpoint intervals are > 0 (a 0 interval is a ZeroDivisionError at step 1;
                   a 0 batch an empty tensor)
  process split    pretraining/SFT batch_size and GRPO prompts_per_step are multiples of the number
                   of processes (every rank trains on an equal share; GRPO keeps whole groups on one
                   rank)
  sequence budget  the longest prompt a run can draw (the R1-Zero template, every family, difficulty
                   and language it samples or evaluates) + max_new_tokens <= the model's
                   max_seq_len. Otherwise the sampler cuts EVERY row of a batch holding a long
                   prompt to what is left (it never writes past the RoPE table), or refuses a prompt
                   longer than the context; both would show up minutes into a run.
  pretraining      seq_len <= the model's max_seq_len
  GRPO             GRPOConfig.resolved(): loss_type, scale_rewards, the --rewards modules (imported)
                   and the reward weights (every name a reward that takes (completion, problem)),
                   families, difficulties
A failed check raises SystemExit("error: --<setting>=<value>: <why>"): one line, exit status 1, no
traceback (a preset's own value is named "<script> preset <name>: <setting>"). train_r1.py's general
prompts and its student get a warning instead (check_r1).
"""
import functools
import os

import torch

from nanor1.distributed import world
from nanor1.model import ModelConfig
from nanor1.tasks import (DIFFICULTIES, FAMILIES, GENERAL_FAMILIES, LANGS, Problem, format_prompt,
                          longest_problems, parse_difficulties, parse_families)
from nanor1.tokenizer import get_tokenizer


def fail(setting: str, value, why: str):
    raise SystemExit(f"error: {setting}={value}: {why}")


def positive(where: str = "--", **settings) -> None:
    """Each setting > 0; `where` prefixes the names: "--" for flags, "<script> preset <name>: " for
    preset values."""
    for name, value in settings.items():
        if not value > 0:
            fail(where + name, value, "must be > 0")


def non_negative(where: str = "--", **settings) -> None:
    for name, value in settings.items():
        if not value >= 0:
            fail(where + name, value, "must be >= 0")


def fraction(where: str = "--", **settings) -> None:
    for name, value in settings.items():
        if not 0.0 <= value <= 1.0:
            fail(where + name, value, "must lie in [0, 1]")


def splits(setting: str, n: int, why: str) -> None:
    if n % world():
        fail(setting, n, f"must be a multiple of the number of processes ({world()}): {why}")


# -----------------------------------------------------------------------------
# the sequence budget: the longest prompt

@functools.lru_cache(maxsize=None)
def longest_prompt(families: tuple, difficulties: tuple,
                   langs: tuple = LANGS) -> tuple[int, Problem]:
    """(tokens, problem) of the longest R1-Zero prompt over every (family, difficulty, language)
    given.

    Each family knows its longest questions (longest_data in nanor1/tasks/<family>.py): every digit
    is a token of its own and a sign a piece of its own (nanor1/tokenizer.py), so a question's
    length depends on how many digits and signs its numbers have, not on which digits they are.
    tests/test_preflight.py checks that no sampled problem is longer."""
    tok, best = get_tokenizer(), (0, None)
    for family in families:
        for difficulty in difficulties:
            for lang in langs:
                for p in longest_problems(family, difficulty, lang):
                    n = len(tok.encode(format_prompt(p)))
                    if n > best[0]:
                        best = (n, p)
    return best


def budget_shortfall(max_new_tokens: int, model: ModelConfig, families, difficulties,
                     what: str) -> str | None:
    """None if every prompt of `what` leaves max_new_tokens under the model's max_seq_len, else why
    not."""
    n, p = longest_prompt(tuple(families), tuple(difficulties))
    if n + max_new_tokens <= model.max_seq_len:
        return None
    room = (f"at most {model.max_seq_len - n} fit (the sampler cuts every row of a batch holding "
            "it to that)"
            if n < model.max_seq_len else "the prompt alone does not fit (the sampler refuses it)")
    return (f"{what}: the longest prompt ({p.family}, difficulty {p.difficulty}, {p.lang}: {n} "
            "tokens) + "
            f"{max_new_tokens} new tokens = {n + max_new_tokens} > the model's "
            f"max_seq_len={model.max_seq_len}; {room}")


def budget(max_new_tokens: int, model: ModelConfig, families, difficulties, what: str,
           setting: str = "--max_new_tokens") -> None:
    why = budget_shortfall(max_new_tokens, model, families, difficulties, what)
    if why:
        fail(setting, max_new_tokens, why)


# -----------------------------------------------------------------------------
# the checks of each kind of run (this module imports none of the modules that call it: the scripts
# pass in what it needs, e.g. nanor1.pretrain.preset_config, the resolved config and model of a
# pretraining preset)

def model_config_of(path: str) -> ModelConfig | None:
    """The model config of a checkpoint, its tensors left on disk; None if missing or unreadable
    (loading it right after reports why)."""
    if not os.path.isfile(path):
        return None
    try:
        return ModelConfig(**torch.load(path, map_location="cpu", weights_only=True,
                                        mmap=True)["model_config"])
    except Exception:
        return None


def check_pretrain(cfg, model: ModelConfig, where: str = "--") -> None:
    """A resolved PretrainConfig (nanor1/pretrain.py) for `model`."""
    positive(where, steps=cfg.steps, batch_size=cfg.batch_size, seq_len=cfg.seq_len, lr=cfg.lr,
             log_every=cfg.log_every, ckpt_every=cfg.ckpt_every)
    non_negative(where, warmup_steps=cfg.warmup_steps)
    splits(where + "batch_size", cfg.batch_size,
           "each process trains on an equal share of every batch")
    if cfg.seq_len > model.max_seq_len:
        fail(where + "seq_len", cfg.seq_len,
             f"pretraining rows longer than the model's max_seq_len={model.max_seq_len}")


def check_sft(cfg, where: str = "") -> None:
    """An SFTConfig (nanor1/sft.py; no flags of its own); examples longer than max_len are dropped,
    not an error."""
    positive(where, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, max_len=cfg.max_len,
             log_every=cfg.log_every, ckpt_every=cfg.ckpt_every)
    splits(where + "batch_size", cfg.batch_size,
           "each process trains on an equal share of every batch")


def check_grpo(gcfg, model: ModelConfig, where: str = "--", budget_check: bool = True) -> None:
    """A GRPOConfig for a run on `model`: sizes, the process split (resolved()), the budget of its
    prompts."""
    c = gcfg.resolved()
    positive(where, prompts_per_step=c.prompts_per_step, num_generations=c.num_generations,
             max_new_tokens=c.max_new_tokens, micro_batch_rows=c.micro_batch_rows,
             num_iterations=c.num_iterations,
             max_sampling_rounds=c.max_sampling_rounds, temperature=c.temperature,
             grad_clip=c.grad_clip)
    non_negative(where, steps=c.steps, beta=c.beta, lr=c.lr, warmup_steps=c.warmup_steps,
                 ref_reset_every=c.ref_reset_every)
    if budget_check:
        budget(c.max_new_tokens, model, parse_families(c.families),
               parse_difficulties(c.difficulties), "GRPO sampling", where + "max_new_tokens")


def check_eval(model: ModelConfig, max_new_tokens: int, families=FAMILIES,
               difficulties=DIFFICULTIES, setting: str = "--max_new_tokens", **sizes) -> None:
    """The held-out evaluation (nanor1/evaluate.py): its sizes (named as the caller's flags) and
    budget."""
    positive(**sizes)
    budget(max_new_tokens, model, families, difficulties, "held-out evaluation", setting)


def check_zero(p: dict, gcfg, zcfg, preset_config) -> None:
    """train_zero.py, preset p: the base's pretraining (when the run pretrains it), held-out
    evaluation and GRPO. preset_config(name) -> (resolved PretrainConfig, ModelConfig) of a
    pretraining preset. The base: --base (a checkpoint; "scratch": pretrained; "shipped": made by
    the preset's pretraining, so its model), else the preset's base, else pretrained."""
    non_negative(eval_every=zcfg.eval_every, eval_n_per_cell=zcfg.eval_n_per_cell)
    base = zcfg.base or p.get("base", "")
    pretraining, model = preset_config(p["pretrain"])
    if base in ("", "scratch"):
        check_pretrain(pretraining, model, f"pretraining preset {p['pretrain']}: ")
    elif base != "shipped":
        model = model_config_of(base) or model
    # the evaluation's prompts (every family and difficulty) include GRPO's: its budget is the
    # binding one
    check_eval(model, gcfg.max_new_tokens, eval_n_per_cell=zcfg.eval_n_per_cell or p["eval_n"],
               eval_k=zcfg.eval_k)
    check_grpo(gcfg, model)


def check_r1(run, preset_config) -> None:
    """train_r1.py's Run (its sizes filled from the preset): both bases, the SFT stages, the GRPO
    stages, rejection sampling and the evaluations of the teacher's line (errors); the general
    (translation) prompts and the student, whose budgets the preset cannot set apart from the
    reasoning prompts', print a warning."""
    rc, p = run.rc, run.p
    positive(cold_start_n=rc.cold_start_n, rl_steps=rc.rl_steps, rs_prompts=rc.rs_prompts,
             rs_k=rc.rs_k,
             general_n=rc.general_n, rm_pairs=rc.rm_pairs, all_rl_steps=rc.all_rl_steps,
             eval_n=rc.eval_n, eval_k=rc.eval_k, distill_seeds=rc.distill_seeds,
             stage2_lr=rc.stage2_lr, stage3_epochs=rc.stage3_epochs, stage3_lr=rc.stage3_lr,
             stage4_temperature=rc.stage4_temperature, stage4_lr=rc.stage4_lr)
    non_negative(stage4_beta=rc.stage4_beta)
    fraction(cold_start_free_search=rc.cold_start_free_search, general_frac=rc.general_frac)
    if rc.translation_reward not in ("verifier", "reward_model"):
        fail("--translation_reward", rc.translation_reward, "choose verifier or reward_model")
    for flag in ("scale_rewards", "stage4_scale_rewards"):
        if getattr(rc, flag) not in ("group", "batch", "none"):
            fail("--" + flag, getattr(rc, flag), "choose group, batch or none")
    if rc.stage3_from not in ("stage2", "base"):
        fail("--stage3_from", rc.stage3_from, "choose stage2 or base")
    if not 0.0 <= rc.general_share < 1.0:
        fail("--general_share", rc.general_share, "must lie in [0, 1)")
    # the bases as train_r1.py resolves them: "shipped" (made by the preset's pretraining, so its
    # model), "scratch" (pretrained by the run: its pretraining settings are checked) or a
    # checkpoint
    teacher_base, student_base = rc.base, rc.student_base
    models = []
    for base, preset in ((teacher_base, p["pretrain"]), (student_base, p["student"])):
        pretraining, model = preset_config(preset)
        if base == "scratch":
            check_pretrain(pretraining, model, f"pretraining preset {preset}: ")
        elif base != "shipped":
            model = model_config_of(base) or model
        models.append(model)
    teacher, student = models
    where = f"train_r1 preset {run.preset}: "
    check_sft(run.sft_config(), where + "sft.")
    # (both stages' scale_rewards are checked above, by their own flag names)
    gcfg = run.grpo_config(steps=rc.rl_steps, reward_weights=rc.reasoning_weights)
    check_grpo(gcfg, teacher, where + "grpo.", budget_check=False)
    max_new, setting = gcfg.max_new_tokens, where + "grpo.max_new_tokens"
    budget(max_new, teacher, FAMILIES, DIFFICULTIES, "reasoning prompts (stages 2-4, evaluation)",
           setting)
    for model, families, what in ((teacher, GENERAL_FAMILIES,
                                   "general prompts (stage 4, evaluation)"),
                                  (student, FAMILIES, "the student (distillation RL, evaluation)")):
        why = budget_shortfall(max_new, model, families, DIFFICULTIES, what)
        if why:
            print(f"warning: {setting}={max_new}: {why}")
