"""PPO with a critic, for the same policy, samples and rule rewards as GRPO: the baseline GRPO was made to replace.

    from baselines.ppo import PPOConfig, PPOTrainer
    from nanor1.grpo import train_step
    trainer = PPOTrainer(model, PPOConfig(), out_dir="out/ppo"); row = train_step(trainer)
    python experiments/ppo_vs_grpo.py          # GRPO vs PPO from one base, same sample budget (recipe §7)

Only the advantage differs from nanor1/grpo.py; sampling, scoring, micro-batching, the clipped surrogate
(nanor1.loss.grpo_token_loss) and train_step are GRPO's. One PPO step:
  1. sample and score: GRPOTrainer.sample (P prompts x G completions, the same rule rewards)
  2. old policy log-probs, reference log-probs and old values, one no-grad pass
  3. per-token reward: the outcome reward on the last token of each completion, minus kl_coef * (log pi_old -
     log pi_ref) on every token (KL in the reward, as in InstructGPT and DeepSeekMath's PPO baseline; GRPO puts
     its k3 KL in the loss instead, recipe §1)
  4. generalized advantage estimation (GAE) with the critic's values -> per-token advantages and returns
  5. policy loss: the clipped surrogate with per-token advantages; value loss: clipped (PPO2), by the critic's own AdamW
The critic is what GRPO saves (recipe §1): a second GPT of the policy's size, initialised from the same base,
with a scalar value head, plus its gradients and AdamW moments, plus its activations during the update.

Deviations (and why):
- Prompts still come in groups of G so both algorithms see the very same samples; PPO ignores the grouping.
- kl_coef is GRPOConfig.beta (one knob, two placements); beta = 0 keeps no reference model, as in GRPO.
- Advantages are whitened over the batch's completion tokens (standard in PPO for LMs); returns are not.
- The value head starts at zero, so the first values are 0 and the first advantages are GAE of the raw rewards.
"""
import time
from dataclasses import dataclass

import torch
import torch.nn as nn

from nanor1.grpo import GRPOConfig, GRPOTrainer, Rollout, completion_logits, token_weights
from nanor1.loss import grpo_token_loss, token_logprobs


@dataclass
class PPOConfig(GRPOConfig):
    gamma: float = 1.0               # discount per token (1: the outcome reward reaches the first token undiminished)
    lam: float = 0.95                # GAE lambda: 1 = Monte Carlo returns, 0 = one-step TD
    vf_coef: float = 1.0             # value loss coefficient (the critic has its own optimizer: scales its steps)
    cliprange_value: float = 0.2     # PPO2 value clipping around the old values
    critic_lr: float = 2e-4          # constant (train_step schedules the policy's lr only)
    whiten_advantages: bool = True


class Critic(nn.Module):
    """V(state) per completion position: a copy of the policy's network with a scalar head on its hidden states."""
    def __init__(self, policy):
        super().__init__()
        self.body = type(policy)(policy.cfg).to(next(policy.parameters()).device)
        self.body.load_state_dict(policy.state_dict())
        self.value_head = nn.Linear(policy.cfg.n_embd, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)
        self.value_head.to(next(policy.parameters()).device)

    def forward(self, prompt_ids, prompt_pad, completion):
        """(B, L) left-padded prompts, (B, T) completions -> (B, T): the value before each completion token."""
        seq = torch.cat([prompt_ids, completion[:, :-1]], dim=1)                      # (B, L+T-1)
        hidden = self.body(seq, pad=prompt_pad, return_hidden=True)[:, prompt_ids.size(1) - 1:]  # (B, T, C)
        return self.value_head(hidden).squeeze(-1)                                    # (B, T)


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalized advantage estimation over each completion (Schulman et al. 2016).

    rewards, values (B, T); mask (B, T) bool, True on a prefix of each row. After the last token the episode ends:
    V = 0 there. delta_t = r_t + gamma V_{t+1} - V_t; A_t = delta_t + gamma lam A_{t+1}. Returns (advantages,
    returns = advantages + values), both (B, T) and 0 off the mask."""
    m = mask.float()
    rewards, values = rewards * m, values * m
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])                                          # (B,)
    for t in reversed(range(rewards.size(1))):
        next_value = values[:, t + 1] if t + 1 < rewards.size(1) else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * m[:, t]
        adv[:, t] = running
    return adv, (adv + values) * m


def clipped_value_loss(values, old_values, returns, clip: float):
    """Per-token PPO2 value loss: 0.5 * max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2). All (N,)."""
    clipped = old_values + (values - old_values).clamp(-clip, clip)
    return 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)


def token_rewards(outcome: torch.Tensor, mask: torch.Tensor, kl: torch.Tensor | None, kl_coef: float):
    """outcome (B,), mask (B, T) -> per-token rewards (B, T): outcome on each row's last token, - kl_coef * kl
    on every token."""
    out = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    if kl is not None and kl_coef:
        out -= kl_coef * kl * mask
    n = mask.sum(1)
    rows = torch.nonzero(n > 0).squeeze(1)
    out[rows, n[rows] - 1] += outcome[rows].float()
    return out


class PPOTrainer(GRPOTrainer):
    """GRPOTrainer with a critic; nanor1.grpo.train_step drives it unchanged."""
    def __init__(self, model, cfg: PPOConfig, out_dir: str, **kw):
        super().__init__(model, cfg, out_dir, **kw)
        self.critic = Critic(model)
        self.critic_optimizer = torch.optim.AdamW(self.critic.parameters(), lr=self.cfg.critic_lr,
                                                  betas=(0.9, 0.99), weight_decay=self.cfg.weight_decay)

    @torch.no_grad()
    def old_pass(self, r: Rollout, batches):
        """(B, T) log pi_old, log pi_ref (or None) and old values of the sampled tokens."""
        cfg, shape, dev = self.cfg, r.tokens.shape, r.tokens.device
        old_logp, old_values = torch.zeros(shape, device=dev), torch.zeros(shape, device=dev)
        ref_logp = torch.zeros(shape, device=dev) if self.ref_model is not None else None
        for idx, Tm in batches:
            tokens = r.tokens[idx, :Tm]
            args = (r.prompt_ids[idx], r.prompt_pad[idx], tokens)
            old_logp[idx, :Tm] = token_logprobs(completion_logits(self.model, *args, self.autocast).flatten(0, 1),
                                                tokens.flatten(), cfg.temperature).view(len(idx), Tm)
            if ref_logp is not None:
                ref_logits = completion_logits(self.ref_model, *args, self.autocast).flatten(0, 1)
                ref_logp[idx, :Tm] = token_logprobs(ref_logits, tokens.flatten(), cfg.temperature).view(len(idx), Tm)
            old_values[idx, :Tm] = self.critic(*args).float()
        return old_logp, ref_logp, old_values

    def update(self, r: Rollout, whole: Rollout | None = None) -> dict:
        """One process only: `whole` (all ranks' rollouts, passed by grpo.train_step) must be r itself."""
        if whole is not None and whole is not r:
            raise SystemExit("error: PPOTrainer runs in one process (experiments/ppo_vs_grpo.py), not under torchrun")
        cfg, t0 = self.cfg, time.time()
        batches = self.micro_batches(r)
        mask = r.mask
        m = mask.float()
        n_tok = max(1.0, float(m.sum()))
        # 2-4. old log-probs and values, per-token rewards, GAE
        old_logp, ref_logp, old_values = self.old_pass(r, batches)
        kl = (old_logp - ref_logp) if ref_logp is not None else None
        rewards = token_rewards(r.rewards.flatten(), mask, kl, cfg.beta)
        adv, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
        if cfg.whiten_advantages:
            mean = (adv * m).sum() / n_tok
            std = (((adv - mean) ** 2 * m).sum() / n_tok).sqrt()
            adv = (adv - mean) / (std + 1e-8) * m
        weights = token_weights(mask, cfg.loss_type, cfg.max_new_tokens)                 # (B, T)
        stats = {"value_loss": 0.0, "value_mse_before": float(((old_values - returns) ** 2 * m).sum()) / n_tok,
                 "clip_frac": 0.0, "kl": float((kl * m).sum()) / n_tok if kl is not None else 0.0, "entropy": 0.0}
        # 5. policy and value updates
        for it in range(cfg.num_iterations):
            self.optimizer.zero_grad(set_to_none=True)
            self.critic_optimizer.zero_grad(set_to_none=True)
            for idx, Tm in batches:
                tokens, mb_mask = r.tokens[idx, :Tm], mask[idx, :Tm].flatten()
                args = (r.prompt_ids[idx], r.prompt_pad[idx], tokens)
                logits = completion_logits(self.model, *args, self.autocast).flatten(0, 1)   # (b*Tm, V)
                out = grpo_token_loss(logits, tokens.flatten(), adv[idx, :Tm].flatten(), old_logp[idx, :Tm].flatten(),
                                      None, mb_mask, eps_low=cfg.epsilon, eps_high=cfg.epsilon_high, beta=0.0,
                                      temperature=cfg.temperature, entropy_coef=cfg.entropy_coef)
                w = weights[idx, :Tm].flatten()
                values = self.critic(*args).flatten()                                        # (b*Tm,)
                v_loss = clipped_value_loss(values, old_values[idx, :Tm].flatten(), returns[idx, :Tm].flatten(),
                                            cfg.cliprange_value) * mb_mask
                ((out.loss * w).sum() + cfg.vf_coef * (v_loss * w).sum()).backward()
                if it == cfg.num_iterations - 1:
                    mf = mb_mask.float()
                    stats["value_loss"] += float(v_loss.detach().sum()) / n_tok
                    stats["clip_frac"] += float((out.clipped.float() * mf).sum()) / n_tok
                    stats["entropy"] += float((out.entropy.detach() * mf).sum()) / n_tok
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            critic_norm = torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
            if not (torch.isfinite(grad_norm) and torch.isfinite(critic_norm)):
                self.optimizer.zero_grad(set_to_none=True)
                self.critic_optimizer.zero_grad(set_to_none=True)
                stats["skipped"] = 1
                return stats  # never step on NaN/inf (train_step counts and may stop)
            self.optimizer.step()
            self.critic_optimizer.step()
            stats.update(grad_norm=float(grad_norm), critic_grad_norm=float(critic_norm))
        stats["seconds_update"] = time.time() - t0
        return stats
