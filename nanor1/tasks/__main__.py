"""Print one generated problem and trace per (family, difficulty, language): python -m
nanor1.tasks"""
import random

from nanor1.tasks import FAMILIES, LANGS, Habits, sample_problem, solution_trace

rng = random.Random(0)
# show the rare habits more often
habits = Habits(retry_after_miss=0.5, check_inverse=0.5, slip_rate=0.5)
for family in FAMILIES:
    for difficulty in (1, 2, 3):
        for lang in LANGS:
            p = sample_problem(rng, family, difficulty, lang)
            print(f"[{family} {difficulty} {lang}] {p.question}\n"
                  f"{solution_trace(p, rng, habits)}\n")
