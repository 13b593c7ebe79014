"""Supervised fine-tuning on (prompt, response) pairs, the loss masked to the response (recipe §5
stages 1 and 3, and distillation). Shared by every SFT step of train_r1.py.

    from nanor1.sft import SFTConfig, sft
    sft(model, examples, SFTConfig(epochs=2), out_dir="out/r1/stage1")  # examples: [{"prompt": ..,
                                                                          "response": ..}]

A row is <bos> prompt response <eos>, right-padded. Only response tokens and the final <eos> are
predicted (the prompt is given, not learned: the model must learn to answer, not to ask). The loss
is the mean over all response tokens of the batch.

Data position: the order of epoch e is a permutation seeded by (seed, e), and batch b of that epoch
is order[b*B:(b+1)*B] (the last one topped up from the epoch's start, so every batch has B rows), so
the data a step sees is a pure function of the step: a resumed run (`resume=True`) continues with
exactly the batches an uninterrupted run would have seen. Under torchrun each rank takes its B /
world rows of the step's batch, and the loss is divided by the whole batch's response-token count,
so N processes take one process's step (nanor1/distributed.py).
"""
import math
import os
import random
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from nanor1 import preflight
from nanor1.checkpoint import (build_model, load_checkpoint, rng_state, save_checkpoint,
                               set_rng_state)
from nanor1.distributed import all_reduce, autocast_for, barrier, ddp, shard, world
from nanor1.metrics import MetricsLog, plot_metrics
from nanor1.optim import lr_at, make_optimizer
from nanor1.tokenizer import get_tokenizer


@dataclass
class SFTConfig:
    epochs: int = 2                # R1 stage 3: 2 epochs
    batch_size: int = 16
    lr: float = 1e-3
    min_lr_frac: float = 0.1
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_len: int = 512         # prompt + response tokens; longer examples are dropped (and counted)
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 100
    steps: int = 0                 # set by sft(): epochs x batches per epoch (read by lr_at)


def encode_example(tok, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """-> (ids, loss mask): ids = <bos> prompt response <eos>; mask 1 on the tokens to predict."""
    p = [tok.bos_id] + tok.encode(prompt)
    r = tok.encode(response) + [tok.eos_id]
    return p + r, [0] * len(p) + [1] * len(r)


def collate(encoded: list[tuple[list[int], list[int]]], pad_id: int):
    """-> inputs (B, T), targets (B, T), mask (B, T): next-token pairs, right-padded (causal
    attention never looks right, so padding after a row's end changes nothing before it)."""
    T = max(len(ids) for ids, _ in encoded) - 1
    inputs = torch.full((len(encoded), T), pad_id, dtype=torch.long)
    targets = torch.full((len(encoded), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), T), dtype=torch.bool)
    for i, (ids, m) in enumerate(encoded):
        n = len(ids) - 1
        inputs[i, :n] = torch.tensor(ids[:-1])
        targets[i, :n] = torch.tensor(ids[1:])
        # mask[t] says whether target t is a response token
        mask[i, :n] = torch.tensor(m[1:], dtype=torch.bool)
    return inputs, targets, mask


def sft_loss(model, inputs, targets, mask, autocast=None, n_tokens=None) -> torch.Tensor:
    """Cross-entropy summed over the response tokens (prompt tokens get no loss), divided by
    n_tokens (default: this batch's response-token count, i.e. the mean)."""
    with (autocast or torch.autocast("cpu", enabled=False)):
        logits = model(inputs)                                                     # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    m = mask.flatten().float()
    return (loss * m).sum() / (m.sum().clamp(min=1) if n_tokens is None else max(n_tokens, 1.0))


def batch_indices(n: int, step: int, cfg: SFTConfig) -> list[int]:
    """Example indices of `step`: always batch_size of them (a pure function of the step; module
    docstring)."""
    per_epoch = math.ceil(n / cfg.batch_size)
    epoch, b = divmod(step, per_epoch)
    order = list(range(n))
    random.Random(cfg.seed * 1_000_003 + epoch).shuffle(order)
    # the last batch is topped up from the epoch's start
    order = order * math.ceil(cfg.batch_size / n + 1)
    return order[b * cfg.batch_size:(b + 1) * cfg.batch_size]


def sft(model, examples: list[dict], cfg: SFTConfig, out_dir: str, resume: bool = False,
        log_name: str = "sft", quiet: bool = False) -> dict:
    """Fine-tune `model` in place on examples [{"prompt", "response"}]; checkpoints to
    out_dir/model.pt (atomic, resumable). Returns {"steps", "examples", "dropped_too_long",
    "final_loss", "seconds"}."""
    preflight.check_sft(cfg)  # sizes and the process split, before any work (nanor1/preflight.py)
    tok = get_tokenizer()
    device = next(model.parameters()).device
    encoded = [encode_example(tok, e["prompt"], e["response"]) for e in examples]
    keep = [e for e in encoded if len(e[0]) <= min(cfg.max_len, model.cfg.max_seq_len)]
    dropped = len(encoded) - len(keep)
    if not keep:
        raise SystemExit(f"error: sft: none of the {len(encoded)} examples fits "
                         f"max_len={cfg.max_len}")
    cfg.steps = cfg.epochs * math.ceil(len(keep) / cfg.batch_size)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    autocast = autocast_for(device)
    os.makedirs(out_dir, exist_ok=True)
    ckpt_path = os.path.join(out_dir, "model.pt")
    start = 0
    if resume and os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path, map_location=device)
        if (ckpt.get("kind") == "sft"
                and ckpt.get("step", 0) < ckpt.get("config", {}).get("steps", 0)):
            model.load_state_dict(
                build_model(ckpt, ckpt_path, device, expect=model.cfg).state_dict())
            optimizer.load_state_dict(ckpt["optimizer"])
            set_rng_state(ckpt["rng"])
            start = ckpt["step"]
            if not quiet:
                print(f"sft: resumed {ckpt_path} at step {start}/{cfg.steps}")
    log = MetricsLog(os.path.join(out_dir, f"{log_name}.jsonl"), resume=start > 0)
    if start > 0:
        log.truncate_after(start)

    def save(step):
        save_checkpoint(ckpt_path,
                        {"model": model.state_dict(), "model_config": model.cfg.to_dict(),
                                    "optimizer": optimizer.state_dict(), "step": step,
                                    "rng": rng_state(), "config": asdict(cfg), "kind": "sft"})

    if not quiet:
        n_tok = sum(sum(m) for _, m in keep)
        print(f"sft: {len(keep)} examples ({dropped} longer than {cfg.max_len} tokens dropped), "
              f"{n_tok} response "
              f"tokens, {cfg.epochs} epochs = {cfg.steps} steps of {cfg.batch_size}")
    model.train()
    fwd = ddp(model)  # one process: the model itself
    t0, loss_val, bad = time.time(), float("nan"), 0
    for step in range(start, cfg.steps):
        rows = shard(batch_indices(len(keep), step, cfg))  # this rank's rows of the step's batch
        inputs, targets, mask = (t.to(device) for t in collate([keep[i] for i in rows], tok.pad_id))
        for g in optimizer.param_groups:
            g["lr"] = lr_at(step, cfg)
        n_all = all_reduce(float(mask.sum()))  # response tokens of the whole batch, all ranks
        # DDP averages: undo it
        loss = sft_loss(fwd, inputs, targets, mask, autocast, n_tokens=n_all) * world()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # = the whole batch's mean token loss, the same on every rank
        loss = all_reduce(loss.detach(), "mean")
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
            bad += 1  # never train on NaN/inf: skip and count; stop if it keeps happening
            print(f"sft step {step + 1}: non-finite loss/gradient, step skipped ({bad} so far)")
            if bad >= 5:
                raise SystemExit("error: sft: 5 non-finite steps; stopping (lower --lr?)")
            continue
        optimizer.step()
        loss_val = loss.item()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            row = {"step": step + 1, "epoch": step * cfg.batch_size / len(keep), "loss": loss_val,
                   "lr": lr_at(step, cfg), "grad_norm": float(grad_norm),
                   "seconds": time.time() - t0}
            log.write(row)
            if not quiet:
                print(f"sft {step + 1:5d}/{cfg.steps} | epoch {row['epoch']:4.2f} | loss "
                      f"{loss_val:6.3f} | lr {row['lr']:.2e} | gnorm {row['grad_norm']:5.2f} | "
                      f"{row['seconds']:5.0f}s")
        if (step + 1) % cfg.ckpt_every == 0:
            save(step + 1)
    save(cfg.steps)
    # under torchrun, other ranks may load model.pt next: wait until rank 0 has written it
    barrier()
    plot_metrics(log.path, os.path.join(out_dir, f"{log_name}.png"), ["loss", "lr"],
                 title=f"SFT ({log_name})")
    return {"steps": cfg.steps, "examples": len(keep), "dropped_too_long": dropped,
            "final_loss": loss_val, "seconds": round(time.time() - t0, 1)}
