"""Adding a task family is one module and one registration line: a toy family (adding two numbers), registered for
one test at a time, goes through the sequence budget (nanor1/preflight.py), a GRPO step (nanor1/grpo.py) and the
held-out evaluation (nanor1/evaluate.py) with no other change.

    python -m pytest tests/test_task_family.py -q

The toy family is this file: its module-level generate, question, verify, segments, wrong_answer and longest_data
are the six functions of a family module (nanor1/tasks/countdown.py is a real one).
"""
import random
import sys

import pytest
import torch

from nanor1 import preflight, tasks
from nanor1.evaluate import evaluate
from nanor1.grpo import GRPOConfig, GRPOTrainer, train_step
from nanor1.model import GPT, ModelConfig
from nanor1.parse import parse_number
from nanor1.rewards import combined_reward, parse_weights
from nanor1.tasks import DIFFICULTIES, LANGS, format_prompt, sample_problem
from nanor1.tokenizer import get_tokenizer

TOK = get_tokenizer()


# ----------------------------------------------------------------------------- the toy family

def generate(rng: random.Random, difficulty: int):
    """(data, answer), data = (a, b): two numbers of up to `difficulty` digits."""
    a, b = rng.randint(0, 10 ** difficulty - 1), rng.randint(0, 10 ** difficulty - 1)
    return (a, b), str(a + b)


def question(data, lang: str) -> str:
    return f"计算 {data[0]} 加 {data[1]}" if lang == "zh" else f"Add {data[0]} and {data[1]}"


def verify(data, answer_text: str) -> bool:
    return parse_number(answer_text) == sum(data)


def segments(data, rng: random.Random, habits):
    step = f"{data[0]}+{data[1]}={sum(data)}"
    return [{"en": step + ".", "zh": step + "。"}], str(sum(data))


def wrong_answer(data, rng: random.Random) -> str:
    return str(sum(data) + 1)


def longest_data(difficulty: int) -> list[tuple]:
    return [(10 ** difficulty - 1, 10 ** difficulty - 1)]


@pytest.fixture
def toy(monkeypatch):
    """The toy family registered for one test; monkeypatch puts the registry back afterwards."""
    monkeypatch.setattr(tasks, "FAMILIES", tasks.FAMILIES)  # register() rebinds the tuples: put them back after
    monkeypatch.setattr(tasks, "GENERAL_FAMILIES", tasks.GENERAL_FAMILIES)
    monkeypatch.setattr(tasks, "_MODULES", dict(tasks._MODULES))  # ... and adds to the registry: use a copy
    tasks.register("toy", sys.modules[__name__])  # the one line a new family adds to nanor1/tasks/__init__.py
    yield "toy"
    preflight.longest_prompt.cache_clear()  # its cache would keep the toy's bound


def tiny_model(seed=0) -> GPT:
    torch.manual_seed(seed)
    return GPT(ModelConfig.preset("tiny", vocab_size=TOK.vocab_size))


# ----------------------------------------------------------------------------- the tests

def test_registering_a_family_makes_it_a_choice_of_the_world(toy):
    assert tasks.FAMILIES[-1] == toy and tasks.parse_families(f"countdown,{toy}") == ("countdown", toy)
    p = sample_problem(random.Random(0), toy, 2, "en", split="heldout")
    assert p.family == toy and tasks.split_of(p) == "heldout"
    assert tasks.verify(p, p.answer) and not tasks.verify(p, tasks.wrong_answer(p, random.Random(0)))


def test_the_sequence_budget_knows_the_toy_familys_longest_prompt(toy):
    for difficulty in DIFFICULTIES:
        for lang in LANGS:
            rng = random.Random(difficulty)
            sampled = max(len(TOK.encode(format_prompt(sample_problem(rng, toy, difficulty, lang, split=None))))
                          for _ in range(200))
            assert preflight.longest_prompt((toy,), (difficulty,), (lang,))[0] == sampled
    model = ModelConfig.preset("tiny", vocab_size=TOK.vocab_size)
    preflight.check_eval(model, 8, families=(toy,))
    with pytest.raises(SystemExit) as e:
        preflight.check_eval(model, model.max_seq_len, families=(toy,))
    assert f"the longest prompt ({toy}, difficulty 3" in str(e.value)


def test_one_grpo_step_trains_on_the_toy_family(toy, tmp_path):
    seen, weights = [], parse_weights(GRPOConfig.reward_weights)

    def reward_fn(text, problem, step):  # the default rewards, recording which problems the step drew
        seen.append(problem.family)
        return combined_reward(text, problem, weights)

    cfg = GRPOConfig(prompts_per_step=2, num_generations=2, max_new_tokens=8, micro_batch_rows=4, warmup_steps=0,
                     families=toy)
    trainer = GRPOTrainer(tiny_model(), cfg, out_dir=str(tmp_path / "run"), tok=TOK, reward_fn=reward_fn)
    row = train_step(trainer)
    assert row["step"] == 1 and trainer.step == 1
    assert seen == [toy] * 4


def test_the_evaluator_reports_the_toy_family(toy):
    result = evaluate(tiny_model(), TOK, n_per_cell=1, k=2, max_new_tokens=8, families=(toy,))
    assert set(result["by_family"]) == {toy} and result["n_problems"] == len(DIFFICULTIES)
    assert result["by_family"][toy]["n_responses"] == 2 * len(DIFFICULTIES)
