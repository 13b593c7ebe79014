"""Stage 0: pretrain the base model from scratch on the synthetic corpus (nanor1.corpus).

    python -m nanor1.pretrain          # cpu preset (the shipped base's recipe): 7-21 min on 2 cores
    python -m nanor1.pretrain --preset=cpu_adamw  # the earlier recipe: AdamW, fp32, eager (~14 min)
    python -m nanor1.pretrain --preset=student       # 4 minutes: the 3-layer model (train_r1's
                                                       distillation student)
    python -m nanor1.pretrain --resume              # continue a killed run exactly where it stopped
    torchrun --standalone --nproc_per_node=N -m nanor1.pretrain --preset=gpu  # N GPUs (or N CPU
                                                                                processes, gloo)

R1-Zero needs a base model that can already, sometimes, reason its way to a verifiable answer
(recipe §9-10). There is no pretrained model to download, so this script makes one: next-token
prediction on documents generated on the fly from the train split of the task world (traces, direct
answers, drills, filler; see nanor1/corpus.py).

Data position: the batch of step s is generated from a seed derived from (seed, s), so the data
stream is a pure function of the step and a resumed run sees exactly the batches an uninterrupted
run would. Under torchrun every rank builds that batch and trains on its contiguous slice (DDP
averages the gradients), so N processes take the step one process takes with the same --batch_size
(the global batch); see nanor1/distributed.py.
"""
import dataclasses
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from nanor1 import preflight
from nanor1.checkpoint import (CheckpointError, build_model, load_checkpoint, rng_state,
                               save_checkpoint, set_rng_state)
from nanor1.config import apply_preset, parse_with_preset
from nanor1.corpus import CorpusMix, make_document
from nanor1.distributed import (all_reduce, amp_dtype, autocast_for, barrier, cleanup, ddp,
                                init_distributed, is_main, shard, world)
from nanor1.metrics import MetricsLog, plot_metrics
from nanor1.model import GPT, ModelConfig
from nanor1.optim import lr_at, make_optimizer, set_lr
from nanor1.rewards import VERDICT_RE
from nanor1.tasks import Habits, format_response, sample_problem, trace_parts
from nanor1.tokenizer import get_tokenizer


_MIX = CorpusMix()  # the corpus knobs' defaults


@dataclass
class PretrainConfig:  # a preset (PRESETS) fills every field that no flag sets
    preset: str = "cpu"            # tiny | cpu | cpu_adamw | student | gpu; legacy: cpu_r1 |
                                   # cpu_small | cpu_v1
    out_dir: str = "out/base"      # checkpoints, the metrics log and its plot
    steps: int = 1800              # optimizer steps (each preset sets its own)
    batch_size: int = 16           # rows per step, over all processes (each preset sets its own)
    seq_len: int = 384             # tokens per row
    lr: float = 3e-3               # peak learning rate (each preset sets its own)
    min_lr_frac: float = 0.1       # cosine decay to this fraction of the peak
    decay_frac: float = 1.0        # the decay in this last share of the steps, the peak held before
    warmup_steps: int = 30         # linear warmup steps
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 1337
    log_every: int = 25
    ckpt_every: int = 200
    resume: bool = False
    device: str = "auto"           # auto | cpu | cuda
    compile: int = 0               # torch.compile the model: 1 / 0
    bf16: int = 0                  # CPU bf16 autocast: 1 where the CPU has it, 2 always, 0 never
                                   # (CUDA: always)
    muon_lr: float = 0.0           # peak lr of Muon for the blocks' matrices, 0: AdamW for all
    probe_every: int = 250         # verdict accuracy (teacher-forced), held-out loss every N steps
                                   # (0: off)
    retry_after_miss: float = _MIX.habits.retry_after_miss  # corpus: countdown traces that retry
                                                            # after a miss
    first_try_hit: float = _MIX.habits.first_try_hit        # corpus: countdown traces whose first
                                                            # try hits
    check_drills: float = _MIX.check_drills                 # corpus: drills that check one
                                                            # countdown try
    slip_rate: float = _MIX.habits.slip_rate                # corpus: checked traces with a caught
                                                            # slip


PRESETS = {  # PretrainConfig fields, and the model preset (nanor1/model.py)
    "tiny": dict(model="tiny", steps=30, batch_size=4, lr=3e-3, seq_len=128),
    # the shipped base (**)
    "cpu": dict(model="l4d128", steps=1800, batch_size=16, lr=3e-3, warmup_steps=50,
                muon_lr=0.01, bf16=1, compile=1,
                retry_after_miss=0.25, first_try_hit=0.3, check_drills=0.5, slip_rate=0.05),
    "cpu_adamw": dict(model="l4d128", steps=2500, batch_size=16, lr=3e-3, warmup_steps=50,  # (***)
                      retry_after_miss=0.25, first_try_hit=0.3, check_drills=0.5),
    # train_r1.py's distillation student (*)
    "student": dict(model="l3d96", steps=2000, batch_size=8, lr=3e-3),
    "gpu": dict(model="l12d768", steps=6000, batch_size=64, lr=6e-4),
    # legacy: the bases of earlier measurements, kept so that experiments/ and docs/results.md can
    # rebuild them
    # train_r1.py's earlier base
    "cpu_r1": dict(model="l4d128", steps=1800, batch_size=16, lr=3e-3),
    # half the student's steps (claim 8)
    "cpu_small": dict(model="l3d96", steps=1000, batch_size=8, lr=3e-3),
    # the first cpu preset (experiments/)
    "cpu_v1": dict(model="l4d128", steps=1000, batch_size=8, lr=3e-3),
}
# (*) The base learns to copy the numbers of a question (what every retry needs, recipe §9) in a
# sudden drop of the loss, and that transition comes with optimizer steps more than with tokens or
# width: with the same 3.1M tokens, 1000 steps of 8 rows got there and 500 steps of 16 did not. See
# docs/results.md for the measurements. (**) The base whose retries pay (the gate, recipe §9): a
# check's verdict "V vs T: yes/no" decides where a search stops, and a model learns to read two
# multi-digit numbers late; first tries that hit and check drills in the corpus make it learn that
# (the verdict probe in the step line shows when). Muon for the blocks' matrices brings the verdicts
# in fewer steps (its learning rate is the lever: too high or too low and they come late), bf16
# autocast (on a CPU with bf16 instructions) and torch.compile make each step cheaper. Few caught
# slips ("Wait, recompute" in arithmetic and linear): the base's aha rate should be the habit RL
# amplifies, countdown's retries. Committed as nanor1/base.pt (nanor1/base.py); the smaller models,
# or fewer steps, guess their verdicts (docs/results.md). (***) The same model and corpus with AdamW
# for every parameter, fp32 and eager: the earlier recipe of the shipped base, about twice as long;
# bench/pretrain.py measures the cpu preset against it.


def resolve(cfg: PretrainConfig, explicit: set | None = None) -> PretrainConfig:
    """cfg with its preset's values in the fields not in `explicit`, the fields the command line set
    (None: a config built in code, whose fields that differ from the defaults are its own;
    nanor1/config.py)."""
    cfg = apply_preset(cfg, PRESETS, explicit)
    if cfg.bf16 not in (0, 1, 2):
        raise SystemExit(f"error: --bf16={cfg.bf16}: choose 0 (fp32), 1 (bf16 where the CPU has "
                         "it) or 2 (always)")
    return cfg


def preset_config(preset: str) -> tuple[PretrainConfig, ModelConfig]:
    """The resolved config and the model of a pretraining preset, as pretrain() would run it without
    flags."""
    return resolve(PretrainConfig(preset=preset)), ModelConfig.preset(PRESETS[preset]["model"])


# what a preset or a flag may change
CORPUS_KNOBS = ("retry_after_miss", "first_try_hit", "check_drills", "slip_rate")
HABIT_FIELDS = {f.name for f in dataclasses.fields(Habits)}    # knobs that live in CorpusMix.habits


def corpus_mix(cfg: PretrainConfig, mix: CorpusMix | None = None) -> CorpusMix:
    """The corpus this run pretrains on: `mix` (CorpusMix's defaults) with the run's corpus
    knobs."""
    over = {k: getattr(cfg, k) for k in CORPUS_KNOBS}
    mix = mix or CorpusMix()
    habits = dataclasses.replace(mix.habits, **{k: v for k, v in over.items() if k in HABIT_FIELDS})
    return dataclasses.replace(mix, habits=habits,
                               **{k: v for k, v in over.items() if k not in HABIT_FIELDS})


def corpus_knobs(mix: CorpusMix) -> dict:
    return {k: getattr(mix.habits if k in HABIT_FIELDS else mix, k) for k in CORPUS_KNOBS}


def make_batch(step: int, cfg: PretrainConfig, tok, mix: CorpusMix) -> torch.Tensor:
    """(B, seq_len + 1) tokens: each row packs <bos> doc <eos> <bos> doc <eos> ... cut at the row's
    end."""
    rng = random.Random(cfg.seed * 1_000_003 + step)
    rows = []
    for _ in range(cfg.batch_size):
        row = []
        while len(row) < cfg.seq_len + 1:
            row += [tok.bos_id] + tok.encode(make_document(rng, mix)) + [tok.eos_id]
        rows.append(row[:cfg.seq_len + 1])
    return torch.tensor(rows, dtype=torch.long)


# ----------------------------------------------------------------------------- the verdict probe
# The skill a base needs for retries to pay (recipe §9) is reading a check: "V vs T: yes" exactly
# when V = T. The loss hides it (a verdict is one token in a hundred), so pretraining also measures
# it directly, teacher-forced: on countdown searches over held-out problems, written as the corpus
# writes them, the share of checks where the model ranks the right verdict's first token above the
# wrong one's. Guessing gets ~50%.
VERDICT_WORDS = {"yes": "no", "no": "yes", "对": "不对", "不对": "对"}


def verdict_probe_docs(tok, max_len: int, n_docs: int = 96,
                       seed: int = 0) -> list[tuple[list[int], list]]:
    """[(token ids, [(position of a verdict's first token, right id, wrong id)])] for n_docs
    held-out searches."""
    rng = random.Random(seed)
    # searches that go on: several checks per document
    habits = Habits(retry_after_miss=1.0, first_try_hit=0.3)
    docs = []
    for i in range(n_docs):
        p = sample_problem(rng, "countdown", 1 + i % 3, ("en", "zh")[i // 3 % 2], split="heldout")
        text = format_response(*trace_parts(p, rng, habits))
        ids, checks, at = [], [], 0
        for m in VERDICT_RE.finditer(text):
            # " yes" / " no" carry their space (one token)
            cut = m.start(3) - (text[m.start(3) - 1] == " ")
            ids += tok.encode(text[at:cut])
            word = text[cut:m.end(3)]
            right, wrong = (tok.encode(word)[0],
                            tok.encode(word.replace(m.group(3), VERDICT_WORDS[m.group(3)]))[0])
            checks.append((len(ids), right, wrong))
            at = cut
        ids += tok.encode(text[at:])
        docs.append((ids[:max_len], [c for c in checks if c[0] < max_len]))
    return docs


@torch.no_grad()
def probe(model, docs, batch, device, autocast) -> dict:
    """verdict_acc on the probe documents and val_loss on a batch of corpus documents no step trains
    on."""
    model.eval()
    T = max(len(ids) for ids, _ in docs)
    # (N, T), right-padded
    x = torch.tensor([ids + [0] * (T - len(ids)) for ids, _ in docs], device=device)
    with autocast:
        logits = model(x).float()                                                      # (N, T, V)
        val_logits = model(batch[:, :-1].to(device)).float()
    right = [bool(logits[i, pos - 1, r] > logits[i, pos - 1, w])
             for i, (_, checks) in enumerate(docs) for pos, r, w in checks]
    val_loss = F.cross_entropy(val_logits.flatten(0, 1), batch[:, 1:].to(device).flatten()).item()
    model.train()
    return {"verdict_acc": sum(right) / max(1, len(right)), "val_loss": val_loss}


def can_compile(device) -> bool:
    """torch.compile on a CPU writes C++ and needs a compiler; without one, run eagerly (same
    numbers, slower)."""
    if torch.device(device).type == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
        print("note: no C++ compiler found, so torch.compile is off (pretraining runs eagerly, "
              "~1.3x slower)")
        return False
    return True


def cpu_has_bf16() -> bool:
    """True where /proc/cpuinfo lists bf16 instructions (x86: AVX512-BF16 or AMX; Arm: BF16); False
    elsewhere, also where there is no /proc/cpuinfo to read (not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def bf16_autocast(cfg: PretrainConfig, device, quiet: bool = False) -> bool:
    """Whether this run computes in bf16 autocast: on CUDA always; on a CPU when the config asks for
    it (the cpu preset) and the CPU has bf16 instructions. Without them bf16 is emulated and a step
    is many times slower than in fp32 (docs/results.md), so the run takes fp32 instead and says so;
    --bf16=2 insists on bf16 all the same."""
    if torch.device(device).type != "cpu" or amp_dtype(device) is not None:
        return True
    if cfg.bf16 == 1 and not cpu_has_bf16():
        if not quiet:
            print("note: this CPU has no bf16 instructions, so pretraining runs in fp32 (emulated "
                  "bf16 autocast is "
                  "many times slower; --bf16=2 forces it)")
        return False
    return cfg.bf16 >= 1


def pretrain(cfg: PretrainConfig, mix: CorpusMix | None = None, quiet: bool = False,
             explicit: set | None = None) -> str:
    """Run (or resume) pretraining; returns the path of the final checkpoint. explicit: the fields
    the command line set (resolve)."""
    cfg = resolve(cfg, explicit)
    mix = corpus_mix(cfg, mix)
    device = init_distributed(cfg.device)
    tok = get_tokenizer()
    model_cfg = ModelConfig.preset(PRESETS[cfg.preset]["model"], vocab_size=tok.vocab_size)
    preflight.check_pretrain(cfg, model_cfg)  # before any work
    os.makedirs(cfg.out_dir, exist_ok=True)
    ckpt_path = os.path.join(cfg.out_dir, "model.pt")
    torch.manual_seed(cfg.seed)
    model = GPT(model_cfg).to(device)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.muon_lr)
    start = 0
    if cfg.resume and os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path)
        model = build_model(ckpt, ckpt_path, device, expect=model_cfg)
        optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.muon_lr)
        optimizer.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        start = ckpt["step"]
        print(f"resumed from {ckpt_path} at step {start}")
    log = MetricsLog(os.path.join(cfg.out_dir, "pretrain.jsonl"), resume=start > 0)
    if start > 0:
        # rows logged after the checkpoint by the killed run are about to be redone
        log.truncate_after(start)
    fwd = ddp(model)  # model itself stays unwrapped: checkpoints hold its plain state_dict
    fwd = torch.compile(fwd) if cfg.compile and can_compile(device) else fwd
    bf16 = bf16_autocast(cfg, device, quiet)
    autocast = (torch.autocast(torch.device(device).type, torch.bfloat16) if bf16
                else autocast_for(device))
    if cfg.probe_every:  # made once: the same held-out documents and corpus batch at every probe
        probe_docs, probe_batch = (verdict_probe_docs(tok, model_cfg.max_seq_len),
                                   make_batch(-1, cfg, tok, mix))
    if not quiet:
        print(f"pretraining {model.num_params() / 1e6:.2f}M params on {device} x {world()}: "
              f"{cfg.steps} steps x "
              f"{cfg.batch_size} x {cfg.seq_len} tokens "
              f"({cfg.steps * cfg.batch_size * cfg.seq_len / 1e6:.1f}M tokens)")

    def save(step):
        save_checkpoint(ckpt_path,
                        {"model": model.state_dict(), "model_config": model_cfg.to_dict(),
                                    "optimizer": optimizer.state_dict(), "step": step,
                                    "rng": rng_state(),
                                    "config": asdict(cfg), "corpus": corpus_knobs(mix),
                                    "kind": "base", "precision": "bf16" if bf16 else "fp32"})

    t0, tokens, bad_steps = time.time(), 0, 0
    bar = tqdm(total=cfg.steps, initial=start, unit="step", dynamic_ncols=True,
               # a live bar on a terminal, rank 0's
               disable=quiet or not sys.stderr.isatty() or not is_main())
    for step in range(start, cfg.steps):
        bar.update(1)
        # (B / world, seq_len + 1): this rank's rows
        batch = shard(make_batch(step, cfg, tok, mix)).to(device)
        set_lr(optimizer, lr_at(step, cfg))
        with autocast:
            logits = fwd(batch[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        # under DDP: gradients averaged over ranks, the gradient of the whole batch's mean loss
        loss.backward()
        # the whole batch's: logged, and one skip decision for all ranks
        loss = all_reduce(loss.detach(), "mean")
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if not torch.isfinite(loss) or not torch.isfinite(grad_norm):
            # never silently train on NaN/inf: skip, count, stop if it keeps happening
            bad_steps += 1
            bar.write(f"step {step}: non-finite loss/grad ({loss.item()}, {grad_norm.item()}), "
                      "step skipped")
            if bad_steps >= 5:
                raise SystemExit("error: 5 non-finite steps; stopping (lower --lr?)")
            continue
        optimizer.step()
        tokens += batch[:, 1:].numel() * world()
        last = step + 1 == cfg.steps
        probe_now = cfg.probe_every > 0 and ((step + 1) % cfg.probe_every == 0 or last)
        if (step + 1) % cfg.log_every == 0 or last or probe_now:
            dt = time.time() - t0
            row = {"step": step + 1, "loss": loss.item(), "lr": lr_at(step, cfg),
                   "grad_norm": grad_norm.item(), "tokens_per_s": tokens / dt, "seconds": dt}
            if probe_now:
                row.update(probe(model, probe_docs, probe_batch, device, autocast))
            log.write(row)
            if not quiet:
                eta = (cfg.steps - step - 1) * dt / max(1, step + 1 - start)
                bar.write(f"step {step + 1:5d}/{cfg.steps} | loss {loss.item():6.3f} | lr "
                          f"{row['lr']:.2e} | gnorm {grad_norm.item():5.2f} | "
                          f"{row['tokens_per_s']:7.0f} tok/s | eta {eta:5.0f}s"
                          + (f" | val {row['val_loss']:.3f} | verdicts {row['verdict_acc']:5.1%}"
                             if "val_loss" in row else ""))
        if (step + 1) % cfg.ckpt_every == 0:
            save(step + 1)
    bar.close()
    save(cfg.steps)
    # the other ranks may read model.pt next (train_zero.py): wait until rank 0 has written it
    barrier()
    plot_metrics(log.path, os.path.join(cfg.out_dir, "pretrain.png"),
                 ["loss", "val_loss", "verdict_acc", "lr"], title="pretraining")
    if not quiet:
        print(f"saved {ckpt_path} ({time.time() - t0:.0f}s)")
    return ckpt_path


def pretrain_finished(path) -> bool:
    try:
        ck = load_checkpoint(path)
        return ck.get("step", 0) >= ck.get("config", {}).get("steps", 1 << 30)
    except CheckpointError:
        return False


def check_definition(path: str, preset: str) -> None:
    """A base left from an older definition of `preset` (other model, steps or batch) is an error,
    not silently reused: a changed preset means a different base, and every number measured on it
    would change too."""
    try:
        ck = load_checkpoint(path)
    except CheckpointError:
        return  # unreadable: pretrain() resumes or reports it
    cfg, mc = ck.get("config", {}), ck.get("model_config", {})
    want, model = preset_config(preset)
    # bases pretrained before the corpus knobs were recorded: CorpusMix's defaults, or the
    # --retry_after_miss flag
    legacy_retry = cfg.get("retry_after_miss", -1.0)
    corpus = {**corpus_knobs(CorpusMix()),
              **({"retry_after_miss": legacy_retry} if legacy_retry >= 0 else {}),
              **ck.get("corpus", {})}
    have = (mc.get("n_layer"), mc.get("n_embd"), cfg.get("steps"), cfg.get("batch_size"),
            *(corpus[k] for k in CORPUS_KNOBS))
    need = (model.n_layer, model.n_embd, want.steps, want.batch_size,
            *corpus_knobs(corpus_mix(want)).values())
    if have != need:
        describe = ("{} layers x {}, {} steps of {} rows, corpus retry_after_miss={} "
                    "first_try_hit={} "
                    "check_drills={}").format
        raise SystemExit(f"error: {path} was pretrained as {describe(*have)}, but preset "
                         f"{preset!r} is now "
                         f"{describe(*need)}; delete {os.path.dirname(path) or '.'} to pretrain it "
                         "again, or pass "
                         f"--base=<checkpoint>")


def ensure_base(preset: str, base_dir: str, device: str) -> str:
    """The base checkpoint of `preset` in base_dir: reused if finished, else pretrained (or
    resumed). Scripts share out/base_<preset> this way, so train_zero.py and train_r1.py pretrain a
    base once."""
    path = os.path.join(base_dir, "model.pt")
    if os.path.exists(path):
        check_definition(path, preset)
        if pretrain_finished(path):
            print(f"stage 0: reusing the base model {path}")
            return path
    print(f"stage 0: pretraining the base model ({preset}) -> {path}")
    return pretrain(PretrainConfig(preset=preset, out_dir=base_dir, device=device,
                                   resume=os.path.exists(path)))


def main(argv):
    cfg, explicit = parse_with_preset(PretrainConfig(), argv, PRESETS)
    try:
        pretrain(cfg, explicit=explicit)
    # a corrupt or mismatched --resume checkpoint: one line, no traceback
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
