"""What GRPO and the outcome reward are compared against, kept out of nanor1/ (which holds what R1 needs):

    ppo.py              PPO with a critic of the policy's size: the algorithm GRPO was made to replace
    process_reward.py   a rule process reward that scores every "a op b = c" step of the reasoning
    learned_prm.py      a learned process reward model: the same steps scored by a small transformer, trained on
                        the rule checker's labels

All reuse nanor1's trainer, sampler and rewards unchanged; experiments/ppo_vs_grpo.py and
experiments/process_reward.py run the comparisons (verdicts in experiments/README.md).
"""
