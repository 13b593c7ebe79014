"""Habits: how often the generated traces show each R1-Zero behaviour (retries, checks, slips,
code-switching).

The family modules read these rates when they write a trace (segments(data, rng, habits)); the
corpus, the cold-start data and the translation family each pick their own (nanor1/corpus.py,
nanor1/r1_data.py, nanor1/tasks/translate.py). A module of its own so that every family module can
import it without importing the package that imports them.
"""
from dataclasses import dataclass


@dataclass
class Habits:
    """Rates of the R1-Zero behaviours in generated traces (recipe §9-10). Most traces stop after
    one try; a few search or check longer, so RL has something rare but rewarding to amplify."""
    retry_after_miss: float = 0.15  # countdown: after a miss, prob. of going on ("Wait, ...") vs
                                    # giving up
    max_tries: int = 5              # countdown: tries at most (5 always reaches a hit, see
                                    # countdown.py)
    check_inverse: float = 0.3      # arithmetic/linear: check the result by the inverse operation
    slip_rate: float = 0.2          # given a check: a one-digit slip is made first, caught and
                                    # fixed
    switch_lang: float = 0.0        # the trace switches language (en<->zh) at a random step
    first_try_hit: float = 0.0      # countdown: the first try hits with this prob. (else random),
                                    # so a check's "yes"/"no" cannot be guessed from the try's
                                    # position (the cpu pretraining preset)
    free_search: float = 0.0        # countdown: a search is not steered toward a hit with this
                                    # prob.: it may use up max_tries without one and stop there (the
                                    # cold start's unresolved searches)
