"""Claim: GRPO is cheaper than PPO with a critic (DeepSeekMath §4.1; recipe §1, §7: no value network).

    python experiments/ppo_vs_grpo.py                  # cpu preset: GRPO, PPO, 1 seed each, 20 steps from out/base_cpu_v1
    python experiments/ppo_vs_grpo.py --seeds=3        # the accuracy-vs-time comparison with a seed spread
    python experiments/ppo_vs_grpo.py --preset=tiny    # the CI size (< 60 s)

Both arms start from the same base, sample the same prompts (same seed) with the same budget (16 prompts x 8
samples per step), score with the same rule rewards and update the policy with the same clipped surrogate, lr and
KL coefficient (GRPO: k3 KL in the loss; PPO: KL in the per-token reward). PPO (baselines/ppo.py) adds a critic of the
policy's size with a value head, GAE(gamma=1, lambda=0.95) and a clipped value loss.

What is measured (CPU, so no allocator peak as torch.cuda.max_memory_allocated would give):
- state_mb: exact bytes of the training state after a step: parameters of every model held (policy, reference,
  critic), their gradients, and the AdamW moments.
- activations_mb_peak: exact peak bytes of the tensors autograd holds for backward during the update (counted per
  storage through torch.autograd.graph.saved_tensors_hooks; parameters excluded), the largest micro-batch's.
- peak_mb = state_mb + activations_mb_peak: the training memory an accelerator would need beyond the sampler.
  The process RSS (resource.getrusage) is not used: ~300 MB of it is the torch runtime, and it only ever grows.
- seconds per step (sampling, update), from step 2 on; held-out pass@1 against RL training seconds.
Writes <out_dir>/ppo_vs_grpo.json and ppo_vs_grpo.png.
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (ensure_base, final_spread, grpo_config, mean_pm, parse, plot_arms, run_arm,  # noqa: E402
                    runs_of, write_result)

from baselines.ppo import PPOConfig, PPOTrainer  # noqa: E402
from nanor1.grpo import GRPOConfig, GRPOTrainer  # noqa: E402

import torch  # noqa: E402


class SavedTensorMeter:
    """Peak bytes of the tensors autograd saves for backward. A storage counts once while any saved reference to it
    is alive (it is released when backward frees the graph); storages in `skip` (the parameters) do not count."""
    def __init__(self, skip=()):
        self.skip, self.refs, self.live, self.peak = set(skip), {}, 0, 0

    def pack(self, t):
        key = t.untyped_storage().data_ptr()
        if key in self.skip:
            return t
        n, size = self.refs.get(key, (0, t.untyped_storage().nbytes()))
        if n == 0:
            self.live += size
            self.peak = max(self.peak, self.live)
        self.refs[key] = (n + 1, size)
        return _Saved(self, key, t)

    def release(self, key):
        n, size = self.refs[key]
        if n == 1:
            del self.refs[key]
            self.live -= size
        else:
            self.refs[key] = (n - 1, size)

    def __enter__(self):
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda s: s.t if isinstance(s, _Saved) else s)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self.hooks.__exit__(*exc)


class _Saved:
    __slots__ = ("meter", "key", "t")

    def __init__(self, meter, key, t):
        self.meter, self.key, self.t = meter, key, t

    def __del__(self):
        self.meter.release(self.key)


def models_of(trainer):
    return [m for m in (trainer.model, trainer.ref_model, getattr(trainer, "critic", None)) if m is not None]


def state_bytes(trainer) -> int:
    """Parameters of every model, their gradients and the optimizers' state tensors, each storage once."""
    seen, total = set(), 0

    def add(t):
        nonlocal total
        if t is not None and torch.is_tensor(t) and t.untyped_storage().data_ptr() not in seen:
            seen.add(t.untyped_storage().data_ptr())
            total += t.untyped_storage().nbytes()
    for m in models_of(trainer):
        for p in m.parameters():
            add(p)
            add(p.grad)
    for opt in (trainer.optimizer, getattr(trainer, "critic_optimizer", None)):
        for st in (opt.state.values() if opt is not None else ()):
            for v in st.values():
                if torch.is_tensor(v) and v.numel() > 1:  # not the scalar step counters
                    add(v)
    return total


def metered(cls):
    """cls with an update() that records state_mb and activations_mb_peak in its stats."""
    class Metered(cls):
        def update(self, r, whole=None):
            params = {p.untyped_storage().data_ptr() for m in models_of(self) for p in m.parameters()}
            with SavedTensorMeter(skip=params) as meter:
                stats = super().update(r, whole)
            stats["activations_mb_peak"] = meter.peak / 2 ** 20
            stats["state_mb"] = state_bytes(self) / 2 ** 20
            stats["peak_mb"] = stats["state_mb"] + stats["activations_mb_peak"]
            return stats
    Metered.__name__ = cls.__name__
    return Metered


ARMS = {"grpo": (GRPOTrainer, GRPOConfig), "ppo": (PPOTrainer, PPOConfig)}
COST_KEYS = ("seconds", "seconds_gen", "seconds_update", "state_mb", "activations_mb_peak", "peak_mb")


def cost(result: dict) -> dict:
    rows = result["train"][1:] or result["train"]  # step 1 pays one-time costs (allocations, lazy init)
    out = {k: statistics.fmean(r[k] for r in rows) for k in COST_KEYS if all(k in r for r in rows)}
    out["activations_mb_peak"] = max(r["activations_mb_peak"] for r in result["train"])
    out["peak_mb"] = max(r["peak_mb"] for r in result["train"])
    return out


def main(argv):
    argv = argv if any(a.startswith("--seeds") for a in argv) else [*argv, "--seeds=1"]
    cfg = parse(argv, "ppo_vs_grpo")
    base = ensure_base(cfg)
    by_arm = {arm: [run_arm(cfg, base, arm, grpo_config(cfg, seed, cls=ccls), trainer_cls=metered(tcls))
                    for seed in range(cfg.seeds)] for arm, (tcls, ccls) in ARMS.items()}
    costs = {arm: [cost(r) for r in res] for arm, res in by_arm.items()}
    summary = {arm: {k: statistics.fmean(c[k] for c in cs) for k in cs[0]} for arm, cs in costs.items()}
    for arm, res in by_arm.items():
        summary[arm]["pass@1_base"] = res[0]["curve"][0]["pass@1"]
        summary[arm]["pass@1_final"] = final_spread(res, "pass@1")
        summary[arm]["train_seconds"] = statistics.fmean(r["curve"][-1]["train_seconds"] for r in res)
    g, p = summary["grpo"], summary["ppo"]
    ratios = {"memory_saving": 1 - g["peak_mb"] / p["peak_mb"], "state_saving": 1 - g["state_mb"] / p["state_mb"],
              "ppo_over_grpo_seconds_per_step": p["seconds"] / g["seconds"],
              "ppo_over_grpo_update_seconds": p["seconds_update"] / g["seconds_update"]}
    print(f"\n{'arm':5s} {'state MB':>9s} {'act MB':>8s} {'peak MB':>8s} {'s/step':>7s} {'gen s':>6s} {'upd s':>6s}  "
          "held-out pass@1 (base -> final)")
    for arm, s in summary.items():
        print(f"{arm:5s} {s['state_mb']:9.2f} {s['activations_mb_peak']:8.1f} {s['peak_mb']:8.1f} {s['seconds']:7.2f} "
              f"{s['seconds_gen']:6.2f} {s['seconds_update']:6.2f}  {100 * s['pass@1_base']:.1f}% -> "
              f"{mean_pm(s['pass@1_final'])}")
    print(f"GRPO saves {100 * ratios['memory_saving']:.0f}% of the training memory ({100 * ratios['state_saving']:.0f}%"
          f" of the state); PPO takes {ratios['ppo_over_grpo_seconds_per_step']:.2f}x the seconds per step "
          f"({ratios['ppo_over_grpo_update_seconds']:.2f}x the update)")
    plot_arms(by_arm, [("pass@1", "held-out pass@1 vs RL seconds", "curve")],
              os.path.join(cfg.out_dir, "ppo_vs_grpo_time.png"), "", x="train_seconds")
    plot_arms(by_arm, [("pass@1", "held-out pass@1", "curve"), ("peak_mb", "training memory (MB)", "train"),
                       ("seconds", "seconds per step", "train"), ("r_accuracy", "train batch accuracy", "train")],
              os.path.join(cfg.out_dir, "ppo_vs_grpo.png"), "GRPO vs PPO with a critic (same base, same samples)")
    print("wrote " + write_result(cfg, "ppo_vs_grpo", {"base": base, "summary": summary, "ratios": ratios,
                                                     "costs": costs, "runs": runs_of(by_arm)}))


if __name__ == "__main__":
    main(sys.argv[1:])
