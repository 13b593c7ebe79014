"""The optimizer and the learning-rate schedule shared by pretraining, SFT and GRPO.

    optimizer = make_optimizer(model, lr=3e-3, weight_decay=0.1)   # pretraining, SFT
    for g in optimizer.param_groups:                                # every step, before optimizer.step()
        g["lr"] = lr_at(step, cfg)                                  # cfg: any config with the four fields below

lr_at reads four fields of the config it is given: lr (the peak), warmup_steps, steps and min_lr_frac. Linear warmup
keeps the first updates of a fresh model small; the cosine decay to a floor keeps the end of a run from drifting
(recipe §9: at a constant lr accuracy drifted down after the task was solved). GRPO builds its own AdamW
(nanor1/grpo.py: betas (0.9, 0.99), one parameter group) and uses this schedule.
"""
import math

import torch


def lr_at(step: int, cfg) -> float:
    """Linear warmup, then cosine decay to min_lr_frac of the peak (used by pretraining, SFT and GRPO)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def make_optimizer(model, lr, weight_decay):
    """AdamW with weight decay on the matrices only: norms' gains (the 1-d parameters) are not pulled to zero."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))
