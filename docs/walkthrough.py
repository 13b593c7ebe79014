"""Writes docs/walkthrough.md: the first GRPO step of `python train_zero.py`, traced through the code with real values.

    python docs/walkthrough.py              # ~15 s on 2 cores; rewrites docs/walkthrough.md

It calls the functions train_step calls (nanor1/grpo.py), in the same order, with the default run's settings and
seed, on the shipped base: so the shapes, the example group, its rewards and advantages, the loss and the gradient
norm in the page are what the first step of the default run computes (the same thread count gives the same
numbers). Rerun it whenever the code of a step changes; tests/test_docs.py checks that the page names only
functions that exist.
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


from nanor1.base import load_shipped  # noqa: E402
from nanor1.grpo import GRPOConfig, GRPOTrainer, group_advantages, step_generators, token_weights  # noqa: E402
from nanor1.optim import lr_at  # noqa: E402
from nanor1.zero_presets import PRESETS  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "walkthrough.md")
SHOW_CHARS = 360  # of each completion in the page


def main():
    cfg = GRPOConfig(**PRESETS["cpu"]["grpo"])
    model, _ = load_shipped()
    trainer = GRPOTrainer(model, cfg, tempfile.mkdtemp(), log_name="walkthrough")
    c = trainer.cfg
    P, G = c.prompts_per_step, c.num_generations
    # train_step, step 0: the seeds, the learning rate
    seed = c.seed * 1_000_003 + trainer.step  # what step_generators seeds its two generators with
    rng, gen = step_generators(trainer)
    lr = lr_at(trainer.step, c)
    for g in trainer.optimizer.param_groups:
        g["lr"] = lr
    # 1-2. sample and score
    r = trainer.sample(rng, gen)
    # 3. advantages, 4. token weights (what update() computes first)
    adv = group_advantages(r.rewards, c.scale_rewards)
    weights = token_weights(r.mask, c.loss_type, c.max_new_tokens)
    # 3-5. the update itself
    batches = trainer.micro_batches(r)
    stats = trainer.update(r)

    g0 = max(range(P), key=lambda i: float(r.rewards[i].std()))  # the example: the group whose rewards differ most
    B, T = r.tokens.shape
    L = r.prompt_ids.size(1)
    lines = [
        "# One GRPO step, traced",
        "",
        "The first step of `python train_zero.py` (the `cpu` preset, from the shipped base `nanor1/base.pt`), run by",
        "`python docs/walkthrough.py`, which calls the functions of `nanor1/grpo.py` in the order `train_step` calls",
        "them. Every number below comes from that run. The math is in [recipe.md](recipe.md) §1-2; the step's five",
        "parts are numbered in the docstring of `nanor1/grpo.py` and in its code. Every script runs such steps",
        "through one loop, `run_rl` in `nanor1/rl_loop.py` (held-out evaluations, best checkpoint, resume, plots).",
        "",
        "## 0. The step's seed and learning rate (`train_step`)",
        "",
        f"`step_generators`: `seed = cfg.seed * 1_000_003 + step` = {seed}; `random.Random(seed)` draws the prompts, a torch generator "
        f"seeded from it draws the samples, so a resumed run sees the same step. `lr_at(0, cfg)` (nanor1/optim.py) = "
        f"{lr:.2e}: warmup over {c.warmup_steps} steps to {c.lr:.0e}, then a cosine to {c.min_lr_frac:g} of it.",
        "",
        "## 1. Sample (`GRPOTrainer.sample` -> `sample_round` -> `nanor1.sampler.generate`)",
        "",
        f"P = {P} train problems (difficulties {c.difficulties}), each put in the R1-Zero template (`format_prompt`, "
        f"recipe §4) and tokenized. `generate` prefills each prompt once, copies its KV cache into G = {G} rows and "
        f"decodes them together at temperature {c.temperature}, stopping a row at `</answer>` or after "
        f"{c.max_new_tokens} tokens.",
        "",
        "| tensor | shape | what |",
        "|---|---|---|",
        f"| `prompt_ids` | ({B}, {L}) | B = P x G = {B} rows, prompts left-padded to the longest |",
        f"| `tokens` | ({B}, {T}) | the completions, right-padded to the longest ({T} tokens) |",
        f"| `mask` | ({B}, {T}) | tokens that get a gradient: {int(r.mask.sum())} of {B * T}"
        f"{' (truncated rows masked out)' if c.mask_truncated_completions else ''} |",
        f"| `rewards` | ({P}, {G}) | one reward per completion |",
        "",
        f"The example, group {g0}: `{r.problems[g0].question}` (answer {r.problems[g0].answer}). Its prompt:",
        "",
        "```",
        trainer.prompt_fn(r.problems[g0]),
        "```",
        "",
        "## 2. Score (the trainer's reward_fn hook, by default `nanor1.rewards.combined_reward`)",
        "",
        f"Rewards `{c.reward_weights}`: accuracy is 1 when the `<answer>` verifies (`nanor1.tasks.verify`, an exact "
        "checker, never `eval`), format is 1 when the completion is exactly one think block then one answer block"
        + (f"; near the {c.max_new_tokens}-token cap the reward falls (overlong, the last {c.overlong_buffer} tokens)"
           if c.overlong_buffer else "") + ". The example group's G completions:",
        "",
        "| # | tokens | " + " | ".join(r.parts) + " | reward r | advantage A |",
        "|---|---|" + "---|" * len(r.parts) + "---|---|",
    ]
    for j in range(G):
        row = g0 * G + j
        parts = " | ".join(f"{float(r.parts[k][g0, j]):.2f}" for k in r.parts)
        lines.append(f"| {j} | {int(r.lengths[row])} | {parts} | {float(r.rewards[g0, j]):.3f} | "
                     f"{float(adv[g0, j]):+.3f} |")
    best, worst = int(adv[g0].argmax()), int(adv[g0].argmin())
    for name, j in (("highest", best), ("lowest", worst)):
        text = r.texts[g0 * G + j]
        lines += ["", f"Completion {j} ({name} advantage):", "", "```",
                  text[:SHOW_CHARS] + (" ..." if len(text) > SHOW_CHARS else ""), "```"]
    zero = int((r.rewards.amax(1) == r.rewards.amin(1)).sum())
    lines += [
        "",
        "## 3. Advantages (`group_advantages`)",
        "",
        f"A_i = (r_i - mean of the group) / (std of the group + 1e-4), scale `{c.scale_rewards}`: the group mean is "
        f"the baseline, no critic. The example's advantages sum to {float(adv[g0].sum()):+.1e}. {zero} of the {P} "
        "groups have all-equal rewards: A = 0 for all their rows, no gradient from them.",
        "",
        "## 4. The loss (`token_weights`, `completion_logits`, `nanor1.loss.grpo_token_loss`)",
        "",
        f"`token_weights` ({B}, {T}) makes the sum of the per-token losses the `{c.loss_type}` aggregation (each "
        f"completion's tokens averaged, then the completions; the example's first row: weight "
        f"{float(weights[g0 * G].max()):.2e} on each of its {int(r.mask[g0 * G].sum())} tokens). `update` sorts "
        f"the rows by length into micro-batches (`micro_batches`: here {len(batches)}, of "
        f"{', '.join(str(len(i)) for i, _ in batches)} rows, at most {c.micro_batch_rows} rows and "
        f"{c.micro_batch_tokens} completion positions each) and, for each, runs the policy (`completion_logits`: "
        f"each distinct prompt of the micro-batch once, {r.prompt_ids.size(1)} columns with its left padding, into a "
        "KV cache that its G completions attend to, then (N, V) logits at the N positions that receive a gradient), "
        "then `grpo_token_loss`: log pi of each sampled token, rho = exp(logp - logp_old), the clipped surrogate "
        f"-min(rho A, clip(rho, 1 - {c.epsilon}, 1 + {c.epsilon_high}) A) and beta = {c.beta} x the k3 KL to the "
        "reference (the base, frozen).",
        "",
        f"The loss of the whole batch: {stats['loss']:+.2e}. With every row in it, it would be 0 (rho = 1 at the "
        "first iteration, so each row's loss is -A_i, and a group's advantages sum to zero)"
        + (f"; the {int(r.truncated.sum())} truncated rows, masked out, take their advantages with them"
           if c.mask_truncated_completions and bool(r.truncated.any()) else "") + ". Its gradient is not ~0: "
        f"KL {stats['kl']:.1e} (the policy is the reference at step 0), clipped tokens {100 * stats['clip_frac']:.0f}%, "
        f"entropy {stats['entropy']:.3f} nats per token.",
        "",
        "## 5. Update",
        "",
        f"The gradients of the micro-batches add up to the whole batch's (norm {stats['grad_norm']:.3f}, clipped to "
        f"{c.grad_clip}), and AdamW takes one step at lr {lr:.2e}. `train_step` then logs the step's line (the "
        "columns of `step_header` in nanor1/metrics.py) and the next step starts at 0 with the new policy.",
        "",
    ]
    with open(OUT, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
