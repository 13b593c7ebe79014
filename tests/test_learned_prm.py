"""The learned process reward model (baselines/learned_prm.py) as a specification: where it reads each step, what it
learns from, what its scores and its reward may be.

    python -m pytest tests/test_learned_prm.py -q
"""
import random
import time

import pytest
import torch

from baselines.learned_prm import (ProcessRewardModel, active_prm, learned_prm_reward, load_prm, prm_loss,
                                   read_steps, save_prm, slip_examples, step_labels, train_prm, with_slips)
from baselines.process_reward import split_steps
from nanor1.checkpoint import CheckpointError, save_checkpoint
from nanor1.model import GPT, ModelConfig
from nanor1.reward_model import RMConfig
from nanor1.rewards import REWARDS
from nanor1.tasks import Habits, sample_problem, solution_trace
from nanor1.tokenizer import get_tokenizer

tok = get_tokenizer()


def tiny_prm(seed=0, random_head=False) -> ProcessRewardModel:
    torch.manual_seed(seed)
    prm = ProcessRewardModel(GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size)))
    if random_head:  # the zero-initialised head scores every step 0.5; a trained one does not
        torch.nn.init.normal_(prm.head.weight, std=1.0)
    return prm


def test_each_step_is_read_at_the_last_digit_of_its_result_and_the_pieces_encode_as_the_whole():
    text = "<think> 6+2=8, 8*4=32, 32-3=29. 29 vs 7: no. </think> <answer> 1 </answer>"
    ids, ends = read_steps(tok, "q", text)
    cut = text.index("29.") + 2  # the text is read up to its last step
    assert ids == [tok.bos_id] + tok.encode("q\n") + tok.encode(text[:cut])
    assert [tok.decode([ids[e]]) for e in ends] == ["8", "2", "9"]


def test_labels_are_the_rule_checkers_verdicts():
    text = "<think> 4+9=13 write 3 carry 1; 2+3+1=7 write 73. so 24+39=73. </think> <answer> 73 </answer>"
    assert step_labels(text) == [True, False, False]


def test_a_slip_changes_one_digit_of_a_result_and_makes_exactly_that_step_wrong():
    rng = random.Random(0)
    for _ in range(100):
        t = solution_trace(sample_problem(rng), rng, Habits(slip_rate=0.0))
        n = len(split_steps(t))
        slipped = with_slips(t, rng, 1)
        assert len(slipped) == len(t) and len(split_steps(slipped)) == n
        assert step_labels(slipped).count(False) == 1, slipped


def test_slip_examples_hold_right_and_wrong_steps():
    labels = [y for e in slip_examples(random.Random(0), 60) for y in e["labels"]]
    assert 0 < labels.count(False) < labels.count(True)


def test_training_reduces_the_loss_on_a_small_set():
    prm = tiny_prm()
    examples = slip_examples(random.Random(1), 24)
    with torch.no_grad():
        before = float(prm_loss(prm, tok, examples)[0])
    train_prm(prm, examples, RMConfig(epochs=6, batch_size=8, lr=3e-3), quiet=True)
    with torch.no_grad():
        assert float(prm_loss(prm, tok, examples)[0]) < before - 0.05


def test_step_scores_and_response_scores_are_probabilities():
    prm = tiny_prm(random_head=True)
    texts = [e["response"] for e in slip_examples(random.Random(2), 8)] + ["no steps here", ""]
    probs = prm.step_probs(tok, ["q"] * len(texts), texts)
    assert all(0.0 <= p <= 1.0 for ps in probs for p in ps) and any(p != 0.5 for ps in probs for p in ps)
    assert probs[-2:] == [[], []]
    scores = prm.score(tok, ["q"] * len(texts), texts)
    assert ((scores >= 0) & (scores <= 1)).all() and scores[-1] == 0.0


def test_the_reward_is_registered_and_is_zero_with_no_prm_active():
    assert REWARDS["learned_prm"] is learned_prm_reward
    assert learned_prm_reward("<think> 1+1=2 </think> <answer> 2 </answer>", None) == 0.0


@pytest.mark.parametrize("text", ["", None, 12345, b"1+1=2", "\x00" * 1000, "<think>" * 5000, "(" * 200_000,
                                  "1+1=2, " * 100_000, "等等" * 50_000, "<think> " + "9" * 100_000 + "=9 </think>",
                                  "".join(chr(c) for c in range(0x20, 0x3000))])
def test_the_reward_never_raises_or_hangs_on_junk_or_huge_text(text):
    problem = sample_problem(random.Random(0))
    with active_prm(tiny_prm(random_head=True)):
        t0 = time.time()
        values = [learned_prm_reward(text, problem), learned_prm_reward(text, None), learned_prm_reward(text, 7)]
        seconds = time.time() - t0
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values)
    if seconds > 5:  # a hang guard, not a speed test: the text is cut before it is read
        pytest.fail(f"{seconds:.1f} s")
    assert learned_prm_reward("<think> 1+1=2 </think>", problem) == 0.0  # the block's PRM is gone after it


def test_checkpoint_round_trip_and_a_language_model_is_refused(tmp_path):
    prm = tiny_prm(random_head=True)
    save_prm(str(tmp_path / "prm.pt"), prm, {"key": {"a": 1}})
    loaded, ckpt = load_prm(str(tmp_path / "prm.pt"))
    assert ckpt["key"] == {"a": 1}
    text = "<think> 6+2=8, 8*4=31 </think>"
    assert loaded.step_probs(tok, ["q"], [text]) == prm.step_probs(tok, ["q"], [text])
    save_checkpoint(str(tmp_path / "lm.pt"), {"model": prm.backbone.state_dict(),
                                              "model_config": prm.backbone.cfg.to_dict()})
    with pytest.raises(CheckpointError, match="not a process reward model"):
        load_prm(str(tmp_path / "lm.pt"))
