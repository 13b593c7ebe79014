"""The optimizers and the learning-rate schedule shared by pretraining, SFT and GRPO.

    optimizer = make_optimizer(model, lr=3e-3, weight_decay=0.1)           # AdamW: pretraining, SFT
    optimizer = make_optimizer(model, lr=3e-3, weight_decay=0.1, muon_lr=0.02)  # Muon for the
                                                                                  blocks' matrices
    for step in range(steps):
        set_lr(optimizer, lr_at(step, cfg))       # cfg: any config with the four fields below
        ...; optimizer.step()

lr_at reads four fields of the config it is given: lr (the peak), warmup_steps, steps and
min_lr_frac, and a fifth where the config has it, decay_frac. Linear warmup keeps the first updates
of a fresh model small; the cosine decay to a floor keeps the end of a run from drifting (recipe §9:
at a constant lr accuracy drifted down after the task was solved). decay_frac < 1 is the
warmup-stable-decay schedule of the speedruns: the peak held, the decay in the last part only, so
more steps run at the high learning rate where the base's skills arrive. GRPO builds its own AdamW
(nanor1/grpo.py: betas (0.9, 0.99), one parameter group) and uses this schedule.

Muon (MomentUm Orthogonalized by Newton-schulz; Keller Jordan's, the optimizer of the modded-nanogpt
speedruns and nanochat). For a weight matrix W (out x in) with gradient G, momentum mu and learning
rate lr:
    M <- mu M + G                          momentum buffer
    U  = G + mu M                          Nesterov: look one step ahead along the momentum
    O  = NS(U) ~ U' V^T  where U = U' S V^T   (SVD): every singular value of the update set to ~1
    W <- W - lr * sqrt(max(1, out / in)) * O
Orthogonalizing makes the update move every direction of the matrix by the same amount, where Adam's
update is dominated by the few directions with large gradients; in the speedruns it reaches a loss
in fewer steps, which is what a CPU-sized pretraining is short of (recipe §9: the base's skills come
late in optimizer steps). NS runs 5 steps of the quintic Newton-Schulz map X <- a X + (b A + c A^2)
X, A = X X^T, from X = U / |U|_F, with (a, b, c) = (3.4445, -4.7750, 2.0315): coefficients chosen to
push singular values in (0, 1] quickly towards ~1 (to 0.7-1.2, not exactly 1; that is enough). Muon
is for 2-d matrices inside the network only: the embedding (tied with the output head here) and the
norms' gains stay with AdamW, as in the speedruns.
"""
import math

import torch


def lr_at(step: int, cfg) -> float:
    """Linear warmup, then cosine decay to min_lr_frac of the peak (used by pretraining, SFT and
    GRPO); a config with decay_frac < 1 holds the peak and decays over its last decay_frac of the
    post-warmup steps only."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    decay_steps = max(1, round(getattr(cfg, "decay_frac", 1.0) * (cfg.steps - cfg.warmup_steps)))
    decay_start = cfg.steps - decay_steps
    if step < decay_start:
        return cfg.lr
    progress = (step - decay_start) / decay_steps
    return cfg.lr * (cfg.min_lr_frac
                     + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def set_lr(optimizer, lr: float) -> None:
    """Set the learning rate of every group: Muon's group runs at its own peak, scaled by the same
    schedule."""
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def newton_schulz(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """(m, n) -> (m, n) with the same singular vectors and singular values pushed to ~1 (see the
    docstring)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G / (G.norm() + 1e-7)            # singular values now <= 1
    wide = X.size(0) > X.size(1)
    if wide:
        X = X.T                          # iterate on the smaller Gram matrix A = X X^T
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if wide else X


class Muon(torch.optim.Optimizer):
    """Muon for the groups with kind="muon" (2-d matrices), AdamW for the others (kind="adamw"); one
    optimizer, so one state_dict for checkpoints and one step() for the training loop."""

    def __init__(self, groups, lr, momentum=0.95, betas=(0.9, 0.95), eps=1e-8):
        super().__init__(groups,
                         dict(lr=lr, momentum=momentum, betas=betas, eps=eps, weight_decay=0.0,
                                      kind="adamw"))

    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if g["kind"] == "muon":
                    buf = state.setdefault("momentum", torch.zeros_like(p))
                    buf.mul_(g["momentum"]).add_(p.grad)
                    update = newton_schulz(p.grad + g["momentum"] * buf)
                    p.mul_(1 - g["lr"] * g["weight_decay"])
                    p.add_(update, alpha=-g["lr"] * math.sqrt(max(1.0, p.size(0) / p.size(1))))
                # AdamW, written out: the moments, their bias correction, decoupled weight decay
                else:
                    if not state:
                        state.update(step=torch.zeros(()), exp_avg=torch.zeros_like(p),
                                     exp_avg_sq=torch.zeros_like(p))
                    (b1, b2), m, v = g["betas"], state["exp_avg"], state["exp_avg_sq"]
                    state["step"] += 1
                    t = state["step"].item()
                    m.lerp_(p.grad, 1 - b1)
                    v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    p.mul_(1 - g["lr"] * g["weight_decay"])
                    denom = (v / (1 - b2 ** t)).sqrt_().add_(g["eps"])
                    p.addcdiv_(m, denom, value=-g["lr"] / (1 - b1 ** t))


def make_optimizer(model, lr, weight_decay, muon_lr: float = 0.0):
    """AdamW with weight decay on the matrices only: norms' gains (the 1-d parameters) are not
    pulled to zero. With muon_lr > 0: Muon (peak lr muon_lr) for the matrices of the blocks, AdamW
    (peak lr) for the rest."""
    named = list(model.named_parameters())
    if muon_lr <= 0:
        decay = [p for n, p in named if p.dim() >= 2]
        no_decay = [p for n, p in named if p.dim() < 2]
        return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                  {"params": no_decay, "weight_decay": 0.0}], lr=lr,
                                 betas=(0.9, 0.95))
    matrices = [p for n, p in named if p.dim() == 2 and n.startswith("blocks.")]
    embeddings = [p for n, p in named if p.dim() == 2 and not n.startswith("blocks.")]
    gains = [p for n, p in named if p.dim() < 2]
    return Muon([{"params": matrices, "kind": "muon", "lr_scale": muon_lr / lr},
                 {"params": embeddings, "weight_decay": weight_decay},
                 {"params": gains}], lr=lr)
