"""DeepSeek-R1, the full recipe at small scale, beside R1-Zero from the same base: cold-start SFT ->
reasoning RL -> rejection sampling + SFT -> RL for all scenarios, then distillation into a smaller
student (recipe §5).

    python train_r1.py                         # every stage, cpu preset, from the shipped base
                                                 (nanor1/base.pt)
    python train_r1.py --stages=2,3            # a subset, from the checkpoints earlier stages saved
    python train_r1.py --stages=distill --distill_seeds=3
                                               # distillation vs RL on the student, three seeds
    python train_r1.py --resume                # continue a killed run: finished stages are kept,
                                                 the current resumes
    python train_r1.py --preset=tiny           # seconds-sized smoke run (tests)
    torchrun --standalone --nproc_per_node=N train_r1.py --preset=gpu
                                               # N GPUs (nanor1/distributed.py)

Stages, in the order they run (each writes model.pt, its metrics JSONL and plots, and stage.json
with its evaluation, under out/r1/<stage>/); the base is the shipped one (`--base=scratch`:
pretrained into out/base_<preset>):
  zero          R1-Zero, the row R1 is measured against: GRPO from the base with train_zero.py's
                settings and rewards (accuracy + format), as many steps as stages 2 and 4 together
  1 cold_start  ~1k long, readable, single-language chains of thought from the task world -> SFT of
                the base (a countdown search has four tries; one that finds no hit says so and
                stops, rather than run to the cap)
  2 reasoning   GRPO from stage 1: accuracy + format + language consistency (rule rewards only)
  3 rejection   sample k per train prompt from stage 2, keep the correct (or honestly unresolved) /
                well-formed / single-language / finished / unique ones, add non-reasoning data
                (translating steps en<->zh), SFT of the stage-2 model 2 epochs
  4 all         GRPO from stage 3 at temperature 0.7, half of its steps on reasoning prompts, half
                on translation prompts, all scored by rules (translation by its exact checker
                alone)
  distill       a smaller student (the `student` base) SFT'd on the stage-3 data, against the same
                student given R1-Zero RL from its own base with the RL budget of stage 2 (once per
                seed of --distill_seeds)
The report (nanor1/r1_report.py: out/r1/report.md, report.png, report.html, summary.json) has one
row per model (base, R1-Zero, stages 1-4, the student's base, the distilled and the RL'd student),
the change each stage makes to every column, pass@1 by family and difficulty, and the paper's
stage-by-stage picture (recipe §5): each check with the paired 95% interval of its difference,
marked as holding, holding within noise, or not.

Deviations from the paper, each measured (docs/results.md):
- stages 2 and 4 scale advantages by the batch's reward spread, not each group's: with three
  rewards, a group whose answers are all right (or all wrong) still differs in format or language,
  and group scaling blows those small differences up to full-size advantages (the step logs'
  side_adv_share).
- stages 2 and 4 punish a response cut at the length cap by 1 (DAPO's overlong punishment, its
  buffer 1 token) and do not mask it from the loss (R1-Zero here does, so that long retry chains
  can emerge): after the cold start the retries are there, and RL that pays a late hit more than a
  cut costs learns to search on to the cap.
- stage 3 fine-tunes the stage-2 model, not the base (R1's choice, --stage3_from=base): from the
  base, ~1000 samples of a 50-step RL run lost 4-5 of the points RL had won in both seeds measured;
  R1's 600k samples carried them.
- stage 4 has no learned reward: the one general task here, translation, has an exact checker,
  which R1 used wherever one exists; a translation earns its checker's accuracy alone (the checker
  asks for the target language already, and with format and language terms added, 75-94% of a
  translation step's groups had a spread from those terms alone).
  `--translation_reward=reward_model` pays translations with a
  Bradley-Terry reward model (nanor1/reward_model.py, trained on synthetic pairs and the stage-3
  model's own right and wrong answers) instead: experiments/reward_model_lesson.py shows what RL
  then does.
- general prompts enter stage 4 in steps of their own (a step is all reasoning or all
  translation); the non-reasoning score is the exact-match accuracy of the translation family.
- the cold start and the rejection filter keep countdown searches that end unresolved and say so
  (nanor1/r1_data.py); R1 kept correct responses only.
"""
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch

from nanor1 import cpu_threads, preflight, reward_modules
from nanor1.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from nanor1.config import apply_preset, parse_with_preset
from nanor1.distributed import (all_gather_object, barrier, cleanup, init_distributed, is_main,
                                rank_seed, shard, world)
from nanor1.evaluate import by_problem, evaluate
from nanor1.grpo import GRPOConfig, GRPOTrainer
from nanor1.metrics import MetricsLog, extra_terms, plot_metrics, write_atomic
from nanor1.base import resolve_base
from nanor1.pretrain import preset_config
from nanor1.r1_data import (COLD_START_HABITS, build_cold_start, general_examples,
                             rejection_filter)
from nanor1.r1_report import summary_picture, write_r1_report
from nanor1.rl_loop import run_rl
from nanor1.reward_model import (RewardModel, RMConfig, pair_accuracy, policy_pairs,
                                 preference_pairs, train_reward_model)
from nanor1.rewards import combined_reward, format_reward, parse_weights
from nanor1.sampler import SamplingParams, generate
from nanor1.sft import SFTConfig, sft
from nanor1.tasks import FAMILIES, GENERAL_FAMILIES, format_prompt, sample_problem
from nanor1.tokenizer import get_tokenizer
# R1-Zero's GRPO settings: its row's, stages 2, 4's
from nanor1.zero_presets import PRESETS as ZERO_PRESETS

# -----------------------------------------------------------------------------
# config

STAGES = ("zero", "1", "2", "3", "4", "distill")
STAGE_DIRS = {"zero": "zero", "1": "stage1_cold_start", "2": "stage2_reasoning_rl",
              "3": "stage3_rejection_sft", "4": "stage4_all_rl", "distill": "distill"}


@dataclass
class R1Config:
    # the defaults are the cpu preset's; another preset fills the fields the command line
    # did not set
    preset: str = "auto"             # auto (cpu, or gpu with CUDA) | tiny (tests) | cpu | gpu
    stages: str = "zero,1,2,3,4,distill"  # which to run; the others are read from out_dir
    out_dir: str = "out/r1"          # one folder per stage in it, and the report
    base: str = "shipped"            # shipped | scratch (pretrained into out/base_<preset>)
                                     # | a checkpoint path
    student_base: str = "shipped"    # the distillation student's base: shipped | scratch
                                     # | a checkpoint path
    resume: bool = False             # continue a killed run: finished stages are kept, the
                                     # current one resumes
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    threads: str = "auto"            # torch CPU threads: auto (measured, re-checked when busy)
                                     # | a number
    seed: int = 0                    # every stage's seed (stage 3's data, the RL steps'
                                     # samples, ...)
    cold_start_n: int = 1000         # stage 1 examples
    cold_start_max_tokens: int = 340  # stage 1: drop longer traces (0: keep all; 400 new tokens
                                     # in RL leave room for a trace that runs a little longer)
    cold_start_free_search: float = 0.4  # stage 1: share of countdown searches not steered toward
                                     # a hit (they may use up their four tries and say so)
    rl_steps: int = 50               # stage 2 GRPO steps (and the RL'd student's);
                                     # R1-Zero: rl_steps + all_rl_steps
    stage2_lr: float = 2e-4          # stage 2's GRPO peak learning rate (R1-Zero's: train_zero's)
    rs_prompts: int = 512            # stage 3 prompts to sample from
    rs_k: int = 4                    # stage 3 samples per prompt
    general_n: int = 1000            # stage 3 non-reasoning examples, at most
    general_share: float = 0.25      # stage 3: their share of the SFT mix (R1: ~200k of ~800k),
                                     # up to general_n
    stage3_from: str = "stage2"      # stage 3 fine-tunes: stage2 (the model that sampled the data)
                                     # | base (R1's choice; at this scale it loses what stage 2
                                     # won, recipe §5)
    stage3_lr: float = 1e-3          # stage 3's SFT: peak learning rate
    stage3_epochs: int = 2           # stage 3's SFT: epochs (R1: 2)
    all_rl_steps: int = 30           # stage 4 GRPO steps
    stage4_temperature: float = 0.7  # stage 4's sampling temperature (R1's; stage 2 samples at 1)
    stage4_lr: float = 2e-4          # stage 4's GRPO peak learning rate
    stage4_beta: float = 0.05        # stage 4's KL coefficient, to the stage-3 model
    general_frac: float = 0.5        # stage 4: share of its steps that sample general
                                     # (translation) prompts
    general_weights: str = "accuracy=1.0"  # stage 4: rule rewards of translation prompts
                                     # (their checker already asks for the target language;
                                     # format and language terms there only add noise, recipe §5)
    translation_reward: str = "verifier"  # stage 4's score of a translation: verifier (its exact
                                     # checker, as R1 used rules wherever one exists)
                                     # | reward_model (the Bradley-Terry model, trained first:
                                     # the lesson of experiments/reward_model_lesson.py)
    rm_watch: bool = False           # stage 4, translation scored by its verifier: train the
                                     # reward model anyway and log its score of the translations
                                     # it does not pay for
    rm_pairs: int = 1500             # reward model: training pairs (synthetic flaws)
    rm_epochs: int = 1               # reward model: training epochs
    rm_policy_prompts: int = 256     # reward model: + pairs of the stage-3 model's own right and
                                     # wrong answers to this many general prompts (0: none)
    scale_rewards: str = "batch"     # stage 2: advantages scaled by the batch's reward std;
                                     # group (R1-Zero's, per group) blows small format/language
                                     # differences up (recipe §5)
    stage4_scale_rewards: str = "batch"  # stage 4's scaling (none: Dr. GRPO's, measured in
                                     # docs/results.md)
    reasoning_weights: str = "accuracy=1.0,format=0.25,language=0.25"  # rule rewards
                                     # of stages 2 and 4 (recipe §3)
    rewards: str = ""                # your reward modules (.py paths or dotted names), loaded
                                     # first: their rewards can be weighted in
                                     # --reasoning_weights (nanor1/reward_modules.py)
    mask_truncated: bool = False     # stages 2 and 4: mask responses cut at the length cap from
                                     # the loss, as R1-Zero does; off, a cut response scores 0
                                     # and RL learns to finish (docs/results.md)
    overlong_buffer: int = 1         # stages 2 and 4: DAPO's overlong punishment, the reward
                                     # falling by 1 over the last N tokens before the cap
                                     # (recipe §2; 0: off; 1: a response cut at the cap loses 1,
                                     # so searching on to the cap no longer pays)
    eval_n: int = 8                  # held-out problems per (family, difficulty)
    eval_k: int = 4                  # responses per held-out problem
    distill_seeds: int = 1           # distillation and the RL'd student, once per seed
                                     # (seed, seed + 1, ...)


def zero_grpo(preset: str) -> dict:
    """train_zero.py's GRPO settings of a preset without its step count: the R1-Zero row runs them
    from the base, and stages 2 and 4 start from them (adding only what R1 adds: rewards,
    temperature)."""
    return {k: v for k, v in ZERO_PRESETS[preset]["grpo"].items() if k != "steps"}


# A preset: R1Config values (the cpu preset's are R1Config's defaults), the pretraining presets of
# the base and the student (for --base=scratch), and the SFT and GRPO settings. The cpu preset
# starts from the shipped base (nanor1/base.pt), the base of `python train_zero.py`, so the R1-Zero
# row and the four stages share their starting point. The student is the `student` pretraining
# preset's base (0.37M, 3 layers; shipped too, nanor1/student_base.pt), which copies a question's
# numbers; a half-trained one that did not could not be helped by distillation either
# (docs/results.md).
PRESETS = {
    "tiny": dict(base="scratch", student_base="scratch", pretrain="tiny", student="tiny",
                 cold_start_n=24, cold_start_max_tokens=0, rl_steps=2, rs_prompts=8, general_n=8,
                 rm_pairs=16, rm_policy_prompts=0, all_rl_steps=2, eval_n=1, overlong_buffer=8,
                 stage3_epochs=1, stage4_beta=0.0, sft=dict(epochs=1, batch_size=8),
                 grpo=zero_grpo("tiny")),
    "cpu": dict(pretrain="cpu", student="student",
                sft=dict(epochs=2, batch_size=16),
                grpo=zero_grpo("cpu")),
    "gpu": dict(base="scratch", student_base="scratch", pretrain="gpu", student="student",
                cold_start_n=4000, cold_start_max_tokens=0, rl_steps=200, rs_prompts=4000,
                general_n=2000, rm_pairs=8000, rm_epochs=3, rm_policy_prompts=0,
                all_rl_steps=200, eval_n=32, stage2_lr=3e-5, stage3_lr=3e-4, stage4_lr=3e-5,
                stage4_beta=0.01,
                sft=dict(epochs=2, batch_size=64, lr=3e-4),
                grpo=zero_grpo("gpu")),
}
METRICS = ("pass@1", "cons@k", "format_rate", "lang_mix_rate", "mean_len", "aha_rate",
           "truncation_rate", "readable_rate")


# -----------------------------------------------------------------------------
# shared pieces: evaluation, GRPO runs, stage bookkeeping

def evaluate_model(model, tok, rc: R1Config, max_new_tokens: int) -> dict:
    """Reasoning (held-out, recipe §6 protocol) and the non-reasoning score (exact match on
    held-out translations), with per-problem shares for the report's paired comparisons
    (nanor1/r1_report.py)."""
    common = dict(n_per_cell=rc.eval_n, k=rc.eval_k, max_new_tokens=max_new_tokens, seed=1234,
                  return_rows=True)
    reasoning = evaluate(model, tok, return_samples=2, **common)
    general = evaluate(model, tok, families=GENERAL_FAMILIES, return_samples=2, **common)
    # language mixing shows at the RL sampling temperature, not at 0.6 (README): measured on zh
    # prompts
    hot = evaluate(model, tok, temperature=1.0, top_p=1.0, langs=("zh",), **common)
    row = {k: reasoning[k] for k in METRICS}
    # where a stage gains or loses
    for group, prefix in (("by_family", ""), ("by_difficulty", "difficulty ")):
        row.update({f"pass@1/{prefix}{name}": r["pass@1"] for name, r in reasoning[group].items()})
    row["zh_lang_mix_rate"] = reasoning["by_lang"]["zh"]["lang_mix_rate"]
    row["zh_lang_mix_rate_T1"] = hot["lang_mix_rate"]
    row["general_pass@1"] = general["pass@1"]
    row["general_format_rate"] = general["format_rate"]
    row["per_problem"] = {"pass@1": by_problem(reasoning["rows"]),
                          "readable_rate": by_problem(reasoning["rows"], "readable"),
                          "general_pass@1": by_problem(general["rows"]),
                          "zh_lang_mix_rate_T1": by_problem(hot["rows"], "mixed"),
                          "family": {str(r["problem_id"]): r["family"] for r in reasoning["rows"]}}
    row["samples"] = reasoning["samples"] + general["samples"]
    return row


def run_grpo(trainer: GRPOTrainer, resume: bool, title: str) -> GRPOTrainer:
    """GRPO through the one loop (nanor1/rl_loop.py): a checkpoint every steps // 5 steps and at the
    last (resumable), one line per step, train.png at the end."""
    def plots(run):
        plot_metrics(os.path.join(trainer.out_dir, "train.jsonl"),
                     os.path.join(trainer.out_dir, "train.png"),
                     ["reward", "r_accuracy", "len_mean", "aha_rate", "lang_mix_rate", "kl",
                      "side_only_frac", *(f"r_{t}" for t in extra_terms(trainer.weights))],
                     title=title)
    run_rl(trainer, save_every=max(1, trainer.cfg.steps // 5), resume=resume, plots=plots)
    return trainer


class Run:
    """Paths, presets and the per-stage record of one train_r1 run."""
    def __init__(self, rc: R1Config, preset: str, device: str):
        self.rc, self.preset, self.device, self.tok = rc, preset, device, get_tokenizer()
        self.p = PRESETS[preset]
        self.root = os.path.dirname(rc.out_dir.rstrip("/")) or "."
        self.base = self.student_base = ""  # the two bases' checkpoint paths, once resolved (main)

    def dir(self, stage: str) -> str:
        return os.path.join(self.rc.out_dir, STAGE_DIRS[stage])

    def done(self, stage: str) -> dict | None:
        path = os.path.join(self.dir(stage), "stage.json")
        if self.rc.resume or stage not in self.selected():
            if os.path.exists(path):
                with open(path) as f:
                    return json.load(f)
        return None

    def selected(self) -> list[str]:
        return [s.strip() for s in self.rc.stages.split(",") if s.strip()]

    def finish(self, stage: str, record: dict) -> dict:
        _write_json(os.path.join(self.dir(stage), "stage.json"), record)
        return record

    def load(self, path: str):
        try:
            return load_model(path, self.device)[0]
        except CheckpointError as e:
            raise SystemExit(f"error: {e} (run the earlier stages first, e.g. --stages=1,2,3)")

    def grpo_config(self, **overrides) -> GRPOConfig:
        return GRPOConfig(**{**self.p["grpo"], "seed": self.rc.seed, "rewards": self.rc.rewards,
                             **overrides})

    def trainer(self, model, gcfg: GRPOConfig, out_dir: str, **hooks) -> GRPOTrainer:
        return GRPOTrainer(model, gcfg, out_dir, self.tok, log_name="train", resume=self.rc.resume,
                           **hooks)

    def sft_config(self, seed: int | None = None) -> SFTConfig:
        return SFTConfig(**{**self.p["sft"], "seed": self.rc.seed if seed is None else seed})


# distillation, once per seed: what the report shows of each seed
SEED_METRICS = ("pass@1", "readable_rate", "general_pass@1")


def distill_dir(run: Run, i: int) -> str:
    return run.dir("distill") if i == 0 else os.path.join(run.dir("distill"), f"seed{i}")


def _eval_stage(run: Run, stage: str, max_new: int) -> dict:
    if stage != "distill":
        return evaluate_model(run.load(os.path.join(run.dir(stage), "model.pt")),
                              run.tok, run.rc, max_new)
    out, seeds = {}, []
    for i in range(run.rc.distill_seeds):
        d = distill_dir(run, i)
        pair = {arm: evaluate_model(run.load(os.path.join(d, arm, "model.pt")),
                                    run.tok, run.rc, max_new)
                for arm in ("sft", "rl")}
        if i == 0:
            out = {"distilled": pair["sft"], "rl": pair["rl"]}
        seeds.append({"seed": run.rc.seed + i,
                      **{f"{name} {k}": pair[arm][k]
                         for arm, name in (("sft", "distilled"), ("rl", "rl"))
                         for k in SEED_METRICS}})
    out["seeds"] = seeds
    return out


def _cached_eval(run: Run, name: str, path: str, max_new: int) -> dict:
    """Models this run does not make (the two bases) are evaluated once per checkpoint file and
    evaluation setting."""
    cache = os.path.join(run.rc.out_dir, "eval_cache.json")
    data = {}
    if os.path.exists(cache):
        with open(cache) as f:
            data = json.load(f)
    # "paired": rows carry the per-problem shares the report's checks pair; older cached rows did not
    key = (f"{os.path.abspath(path)}|{os.path.getmtime(path)}|{run.rc.eval_n}|{run.rc.eval_k}"
           f"|{max_new}|paired")
    if key not in data:
        print(f"\n=== evaluating {name}: {path} ===")
        data[key] = evaluate_model(run.load(path), run.tok, run.rc, max_new)
        _write_json(cache, data)
    return data[key]


def _write_json(path, obj):
    _write_text(path, json.dumps(obj, indent=1, ensure_ascii=False))


def _write_jsonl(path, rows):
    _write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _write_text(path, text):
    """Rank 0 writes (atomically); every rank waits until it has, since any rank may read the file
    next."""
    if is_main():
        write_atomic(path, text)
    barrier()


def _read_jsonl(path):
    if not os.path.exists(path):
        raise SystemExit(f"error: {path} not found (run stage 3 first: --stages=3)")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# -----------------------------------------------------------------------------
# the stages

def stage_zero(run: Run) -> dict:
    """R1-Zero in the same run, the row R1 is measured against: GRPO from the base with
    train_zero.py's settings and rewards (accuracy + 0.25 x format), as many steps as stages 2 and 4
    together."""
    model = run.load(run.base)
    gcfg = run.grpo_config(steps=run.rc.rl_steps + run.rc.all_rl_steps)
    run_grpo(run.trainer(model, gcfg, run.dir("zero")), run.rc.resume, "R1-Zero: RL from the base")
    return {"grpo_config": asdict(gcfg.resolved())}


def stage1(run: Run) -> dict:
    out = run.dir("1")
    habits = replace(COLD_START_HABITS, free_search=run.rc.cold_start_free_search)
    examples, stats = build_cold_start(run.rc.cold_start_n, seed=run.rc.seed,
                                       max_tokens=run.rc.cold_start_max_tokens, habits=habits)
    _write_jsonl(os.path.join(out, "cold_start.jsonl"), examples)
    model = run.load(run.base)
    info = sft(model, examples, run.sft_config(), out, resume=run.rc.resume, log_name="sft")
    return {"builder": stats, "sft": info}


def stage2(run: Run) -> dict:
    model = run.load(os.path.join(run.dir("1"), "model.pt"))
    gcfg = run.grpo_config(steps=run.rc.rl_steps, lr=run.rc.stage2_lr,
                           reward_weights=run.rc.reasoning_weights,
                           mask_truncated_completions=run.rc.mask_truncated,
                           overlong_buffer=run.rc.overlong_buffer,
                           scale_rewards=run.rc.scale_rewards)
    run_grpo(run.trainer(model, gcfg, run.dir("2")), run.rc.resume, "stage 2: reasoning RL")
    return {"grpo_config": asdict(gcfg.resolved())}


@torch.no_grad()
def rejection_sample(teacher, run: Run) -> tuple[list[dict], dict]:
    """k samples per train prompt (temperature 1.0, the RL sampling distribution), filtered
    (nanor1.r1_data). Under torchrun each rank samples its share of the prompts and the samples are
    gathered."""
    rng = random.Random(run.rc.seed + 7)
    problems = shard([sample_problem(rng, rng.choice(FAMILIES), rng.randint(1, 3), split="train")
                      for _ in range(run.rc.rs_prompts)], even=False)
    params = SamplingParams(temperature=1.0, max_new_tokens=run.p["grpo"]["max_new_tokens"],
                            stop_token_ids=(run.tok.answer_end_id,))
    gen = torch.Generator(run.device).manual_seed(rank_seed(run.rc.seed))
    samples = []
    for a in range(0, len(problems), 32):
        batch = problems[a:a + 32]
        out = generate(teacher, [run.tok.encode(format_prompt(p)) for p in batch], run.rc.rs_k,
                       params, pad_id=run.tok.pad_id, eos_id=run.tok.eos_id, generator=gen)
        for row, text in enumerate(out.completions(run.tok)):
            samples.append({"problem": batch[int(out.prompt_index[row])], "completion": text,
                            "truncated": out.finish_reason[row] == "length"})
        print(f"  sampled {len(samples)}/{len(problems) * run.rc.rs_k}")
    return rejection_filter([s for part in all_gather_object(samples) for s in part])


def stage3(run: Run) -> dict:
    out = run.dir("3")
    data_path = os.path.join(out, "sft_data.jsonl")
    if run.rc.resume and os.path.exists(data_path):
        with open(os.path.join(out, "rejection.json")) as f:
            counts = json.load(f)
        data = _read_jsonl(data_path)
    else:
        teacher = run.load(os.path.join(run.dir("2"), "model.pt"))
        reasoning, counts = rejection_sample(teacher, run)
        # a bilingual task drowns the reasoning data if it outnumbers it: at 1000 translations to
        # 608 reasoning samples, long responses drifted into the translations' English
        # instructions (docs/results.md)
        share = run.rc.general_share
        n_general = (min(run.rc.general_n, round(len(reasoning) * share / (1 - share)))
                     if reasoning else run.rc.general_n)
        general = general_examples(n_general, seed=run.rc.seed + 1)
        data = reasoning + general
        random.Random(run.rc.seed).shuffle(data)
        counts.update(general_added=len(general), total_sft_examples=len(data))
        _write_json(os.path.join(out, "rejection.json"), counts)
        _write_jsonl(data_path, data)
    print("  rejection sampling: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    # R1 fine-tunes the base again; here the default continues from stage 2 (recipe §5)
    model = run.load(run.base if run.rc.stage3_from == "base"
                     else os.path.join(run.dir("2"), "model.pt"))
    config = replace(run.sft_config(), lr=run.rc.stage3_lr, epochs=run.rc.stage3_epochs)
    info = sft(model, data, config, out, resume=run.rc.resume, log_name="sft")
    return {"rejection": counts, "from": run.rc.stage3_from, "sft": info}


def general_step(step: int, rc: R1Config) -> bool:
    """Stage 4: does this step sample general (translation) prompts? A share general_frac of the
    steps, drawn per step (seeded, so a resumed run draws the same). A step is all general or all
    reasoning: the sampler cuts every row of a batch to the room its longest prompt leaves, and
    translation prompts reach ~360 tokens, which would cut the reasoning rows beside them to ~150
    of their 400 new tokens."""
    return random.Random(rc.seed * 1_000_003 + step).random() < rc.general_frac


def reward_model(run: Run, policy) -> tuple[RewardModel, dict]:
    """A Bradley-Terry reward model from the stage-3 model (which has learned the task): trained on
    synthetic pairs (a reference answer vs one flaw) and on the stage-3 model's own right vs wrong
    answers to general prompts, then measured on held-out pairs of both kinds. Loaded instead of
    trained when --resume finds it."""
    out, rc = run.dir("4"), run.rc
    rm, path = RewardModel.from_policy(policy), os.path.join(run.dir("4"), "reward_model.pt")
    heldout = preference_pairs(random.Random(rc.seed + 4), max(16, rc.rm_pairs // 8),
                               split="heldout")
    if rc.rm_policy_prompts:
        heldout += policy_pairs(policy, run.tok, random.Random(rc.seed + 6),
                                max(8, rc.rm_policy_prompts // 4), split="heldout")
    info = {}
    if rc.resume and os.path.exists(path):
        try:
            rm.load_state_dict(load_checkpoint(path, run.device)["model"])
        except (CheckpointError, RuntimeError) as e:
            raise SystemExit(f"error: reward model {path}: {str(e).splitlines()[0]} "
                             "(delete it to retrain)")
    else:
        pairs = preference_pairs(random.Random(rc.seed + 3), rc.rm_pairs)
        if rc.rm_policy_prompts:
            pairs += policy_pairs(policy, run.tok, random.Random(rc.seed + 5), rc.rm_policy_prompts)
        info = train_reward_model(rm, pairs, RMConfig(epochs=rc.rm_epochs, seed=rc.seed),
                                  log=MetricsLog(os.path.join(out, "reward_model.jsonl")))
        save_checkpoint(path, {"model": rm.state_dict(), "model_config": rm.backbone.cfg.to_dict(),
                               "kind": "reward_model"})
        barrier()
        plot_metrics(os.path.join(out, "reward_model.jsonl"), os.path.join(out, "reward_model.png"),
                     ["loss", "batch_accuracy"], title="stage 4: Bradley-Terry reward model")
    info["heldout_pair_accuracy"] = acc = pair_accuracy(rm, heldout, run.tok)
    print(f"  reward model: held-out pair accuracy {100 * acc['accuracy']:.1f}% "
          + str({k: round(v, 2) for k, v in acc.items()}))
    return rm, info


def stage4(run: Run) -> dict:
    """RL for all scenarios: reasoning prompts and general (translation) prompts, each scored by
    rules, as R1 scored every prompt that has a checker (recipe §5).
    --translation_reward=reward_model scores translations with a Bradley-Terry reward model instead
    (trained here first): what RL then does to translation is the lesson of
    experiments/reward_model_lesson.py. Every step samples one kind (general_step)."""
    model = run.load(os.path.join(run.dir("3"), "model.pt"))
    rm, rm_info = None, None
    paid = run.rc.translation_reward == "reward_model"
    if paid or run.rc.rm_watch:
        rm, rm_info = reward_model(run, model)
    weights = parse_weights(run.rc.reasoning_weights)
    general_weights = parse_weights(run.rc.general_weights)
    general = [general_step(s, run.rc) for s in range(run.rc.all_rl_steps)]

    def reward_fn(text, problem, step):
        # the rules: accuracy is the exact checker's
        if problem.family not in GENERAL_FAMILIES:
            return combined_reward(text, problem, weights)
        total, parts = combined_reward(text, problem, general_weights)
        if rm is None:
            return total, parts
        pref = float(torch.sigmoid(rm.score(run.tok, [format_prompt(problem)], [text])[0]))
        if not paid:
            return total, {**parts, "preference": pref}  # logged, not paid
        # paid: the reward model's score and R1's format reward (accuracy is logged, not paid)
        fmt = format_reward(text, problem)
        return pref + 0.25 * fmt, {**parts, "format": fmt, "preference": pref}

    gcfg = run.grpo_config(steps=run.rc.all_rl_steps, temperature=run.rc.stage4_temperature,
                           lr=run.rc.stage4_lr, beta=run.rc.stage4_beta,
                           reward_weights=run.rc.reasoning_weights,
                           mask_truncated_completions=run.rc.mask_truncated,
                           overlong_buffer=run.rc.overlong_buffer,
                           scale_rewards=run.rc.stage4_scale_rewards)
    trainer = run.trainer(model, gcfg, run.dir("4"), reward_fn=reward_fn)

    def problem_source(rng):  # this step's kind of prompt
        if general[trainer.step]:
            return sample_problem(rng, rng.choice(GENERAL_FAMILIES), rng.randint(1, 3),
                                  split="train")
        return sample_problem(rng, rng.choice(FAMILIES), rng.choice((1, 2)), split="train")

    trainer.problem_source = problem_source
    run_grpo(trainer, run.rc.resume, "stage 4: RL for all scenarios")
    return {"reward_model": rm_info, "translation_reward": run.rc.translation_reward,
            "general_steps": sum(general), "grpo_config": asdict(gcfg.resolved())}


def stage_distill(run: Run) -> dict:
    """The student SFT'd on the stage-3 data vs the same student with R1-Zero RL (recipe §5,
    distillation), once per seed of --distill_seeds: seed 0 in distill/{sft,rl}, seed i in
    distill/seed<i>/{sft,rl}."""
    data = _read_jsonl(os.path.join(run.dir("3"), "sft_data.jsonl"))
    info = {"seeds": []}
    for i in range(run.rc.distill_seeds):
        out, seed = distill_dir(run, i), run.rc.seed + i
        student = run.load(run.student_base)
        t0 = time.time()
        sft(student, data, run.sft_config(seed), os.path.join(out, "sft"),
            resume=run.rc.resume, log_name="sft")
        t_sft = time.time() - t0
        rl_student = run.load(run.student_base)
        # R1-Zero rewards (accuracy + format), stage 2's budget
        gcfg = run.grpo_config(steps=run.rc.rl_steps, seed=seed)
        t0 = time.time()
        run_grpo(run.trainer(rl_student, gcfg, os.path.join(out, "rl")), run.rc.resume,
                 "student: R1-Zero RL")
        info["seeds"].append({"seed": seed, "seconds_sft": round(t_sft, 1),
                              "seconds_rl": round(time.time() - t0, 1)})
        info["rl_grpo_config"] = asdict(gcfg.resolved())
    return info


STAGE_FUNCTIONS = {"zero": stage_zero, "1": stage1, "2": stage2, "3": stage3, "4": stage4,
                   "distill": stage_distill}


# -----------------------------------------------------------------------------
# main: run the selected stages, evaluate every model, write the report

def main(argv):
    # flags, then the preset
    rc, explicit = parse_with_preset(R1Config(), argv, {**PRESETS, "auto": {}})
    # under torchrun: join the group; rank 0 alone writes and prints
    device = init_distributed(rc.device)
    cpu_threads.configure(rc.threads, device if world() == 1 else "distributed")
    if rc.preset == "auto":
        rc.preset = "gpu" if device.startswith("cuda") else "cpu"
        apply_preset(rc, PRESETS, explicit)
    preset = rc.preset
    # may define weighted names
    reward_modules.resolve(rc.rewards, rc.reasoning_weights, "--reasoning_weights")
    reward_modules.resolve(rc.rewards, rc.general_weights, "--general_weights")
    for weights in (rc.reasoning_weights, rc.general_weights):
        parse_weights(weights)  # a bad weight fails now, not after stage 1
    run = Run(rc, preset, device)
    # every stage's settings now, not hours in (nanor1/preflight.py)
    preflight.check_r1(run, preset_config)
    unknown = [s for s in run.selected() if s not in STAGES]
    if unknown:
        raise SystemExit(f"error: --stages: unknown stage(s) {unknown}; "
                         f"choose from {','.join(STAGES)}")
    for s in STAGES:
        # every rank: harmless, and no rank waits for another's mkdir
        os.makedirs(run.dir(s), exist_ok=True)
    t_start = time.time()
    print(f"train_r1: preset {preset} on {device}; stages {','.join(run.selected())} "
          f"-> {rc.out_dir}")
    run.base = base_path = resolve_base(rc.base, run.p["pretrain"], run.root, device)
    run.student_base = student_base = resolve_base(rc.student_base, run.p["student"], run.root,
                                                   device)
    max_new = run.p["grpo"]["max_new_tokens"]
    records, ran_now = {}, []
    for stage in STAGES:
        rec = run.done(stage)
        if rec is None and stage in run.selected():
            print(f"\n=== stage {stage}: {STAGE_DIRS[stage]} ===")
            t0, cpu0 = time.time(), time.process_time()
            info = STAGE_FUNCTIONS[stage](run)
            info["seconds"] = round(time.time() - t0, 1)
            info["eval"] = _eval_stage(run, stage, max_new)
            # CPU time, evaluation included: with --threads=1 about the stage's time alone on a
            # quiet machine
            info["cpu_seconds"] = round(time.process_time() - cpu0, 1)
            rec = run.finish(stage, info)
            ran_now.append(stage)
            print(f"  stage {stage} done in {info['seconds'] / 60:.1f} min (+ evaluation)")
        records[stage] = rec

    # the report: every model through the same evaluator
    rows = {}
    for name, path in (("base", base_path), ("student base", student_base)):
        rows[name] = _cached_eval(run, name, path, max_new)
    names = {"zero": "R1-Zero", "1": "stage 1 cold start", "2": "stage 2 reasoning RL",
             "3": "stage 3 rejection SFT", "4": "stage 4 all-scenario RL"}
    for stage, label in names.items():
        if records.get(stage):
            rows[label] = records[stage]["eval"]
    if records.get("distill"):
        rows["student distilled"] = records["distill"]["eval"]["distilled"]
        rows["student R1-Zero RL"] = records["distill"]["eval"]["rl"]
        records["distill"]["seeds_eval"] = records["distill"]["eval"].get("seeds", [])
    order = ["base", "R1-Zero", "stage 1 cold start", "stage 2 reasoning RL",
             "stage 3 rejection SFT", "stage 4 all-scenario RL", "student base",
             "student distilled", "student R1-Zero RL"]
    rows = {k: rows[k] for k in order if k in rows}
    seconds = time.time() - t_start
    summary = {"preset": preset, "seed": rc.seed, "seconds": round(seconds, 1),
               "cpu_seconds": round(time.process_time(), 1), "base_checkpoint": base_path,
               "student_base_checkpoint": student_base,
               "models": {k: {m: v for m, v in r.items() if m != "samples"}
                          for k, r in rows.items()},
               "stages": {s: {k: v for k, v in r.items() if k != "eval"}
                          for s, r in records.items() if r}}
    summary["picture"] = summary_picture(summary)
    _write_json(os.path.join(rc.out_dir, "summary.json"), summary)
    reused = [s for s, r in records.items() if r and s not in ran_now]
    timing = (f"this invocation {seconds / 60:.1f} min; stages run: {','.join(ran_now) or 'none'}"
              + (f"; reused: {','.join(reused)}" if reused else ""))
    text = write_r1_report(rc.out_dir, summary, timing,
                           samples={k: r.get("samples", []) for k, r in rows.items()},
                           images=[os.path.join(STAGE_DIRS[s], "train.png") for s in ("2", "4")])
    print("\n" + text)
    print(f"wrote {rc.out_dir}/report.md, report.png, report.html, summary.json; "
          f"total {seconds / 60:.1f} min")
    cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
