"""The R1 recipe's pieces (nanor1/r1_data.py, nanor1/sft.py, nanor1/reward_model.py) and train_r1.py end to end
on tiny configs."""
import collections
import dataclasses
import json
import os
import random
import subprocess
import sys

import dist_worker
import pytest
import torch
import torch.nn.functional as F
import train_r1

from nanor1 import r1_report
from nanor1.evaluate import paired_difference
from nanor1.model import GPT, ModelConfig
from nanor1.r1_data import (COLD_START_HABITS, NO_HIT, build_cold_start, cold_start_example, general_examples,
                            honest_giveup_reward, judge_sample, rejection_filter)
from nanor1.reward_model import (RewardModel, RMConfig, bradley_terry_loss, pair_accuracy, policy_pairs,
                                 preference_pairs, train_reward_model)
from nanor1.rewards import extract_answer, format_ok, is_lang_mixed, language_consistency
from nanor1.sft import SFTConfig, batch_indices, collate, encode_example, sft, sft_loss
from nanor1.tasks import FAMILIES, sample_problem, verify
from nanor1.tokenizer import get_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tok = get_tokenizer()


# ----------------------------------------------------------------------------- stage 1 data

def test_cold_start_examples_are_correct_well_formed_single_language_and_long():
    rng = random.Random(3)
    n_wait = n_unresolved = 0
    for i in range(150):
        p = sample_problem(rng, FAMILIES[i % 3], rng.randint(1, 3), ("en", "zh")[i % 2])
        e = cold_start_example(p, rng)
        assert e is not None and e["prompt"].endswith(f"User: {p.question}. Assistant:")
        r = e["response"]
        assert format_ok(r), r
        assert language_consistency(r, p) == 1.0 and not is_lang_mixed(r, p), r
        think = r.split("</think>")[0]
        if verify(p, extract_answer(r)):
            assert ("Summary: the answer is" in think) if p.lang == "en" else ("总结：答案是" in think)
        else:  # only a countdown search that used up its tries, and says so
            assert p.family == "countdown" and NO_HIT[p.lang] in think
            assert think.count("Wait") + think.count("等等") == 3  # four tries
            n_unresolved += 1
        n_wait += "Wait" in r or "等等" in r
    assert n_wait > 20  # long CoT: searches and checks caught, not single guesses
    assert 0 < n_unresolved < 25


def test_cold_start_builder_counts_and_dedups():
    examples, stats = build_cold_start(200, seed=1)
    assert stats["kept"] == len(examples) == 200
    assert len({e["prompt"] for e in examples}) == 200
    assert {e["lang"] for e in examples} == {"en", "zh"} and {e["family"] for e in examples} == set(FAMILIES)


def test_cold_start_builder_drops_traces_longer_than_the_cap():
    examples, stats = build_cold_start(150, seed=2, max_tokens=120)
    assert len(examples) == 150 and stats["too_long"] > 0
    assert max(len(tok.encode(e["response"])) for e in examples) <= 120


def test_cold_start_free_search_sets_how_many_searches_end_unresolved():
    free = [build_cold_start(300, seed=3, families=("countdown",),
                             habits=dataclasses.replace(COLD_START_HABITS, free_search=f))[1]["unresolved_search"]
            for f in (0.0, 0.4, 1.0)]
    assert free[0] < free[1] < free[2]


def test_general_examples_are_well_formed_number_words():
    for e in general_examples(40, seed=2):
        assert e["family"] == "translate" and format_ok(e["response"])


# ----------------------------------------------------------------------------- SFT

def test_sft_loss_is_masked_to_the_response():
    ids, mask = encode_example(tok, "User: hi. Assistant:", "<think> a </think> <answer> 1 </answer>")
    n_prompt = len(tok.encode("User: hi. Assistant:")) + 1  # + <bos>
    assert mask == [0] * n_prompt + [1] * (len(ids) - n_prompt) and ids[-1] == tok.eos_id
    inputs, targets, m = collate([(ids, mask), encode_example(tok, "Q", "<answer> 2 </answer>")], tok.pad_id)
    assert inputs.shape == targets.shape == m.shape
    assert (targets[m] != tok.pad_id).all() and not m[1, -3:].any()  # padding is never a target
    torch.manual_seed(0)
    model = GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size))
    logits = model(inputs)
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
    assert torch.allclose(sft_loss(model, inputs, targets, m), ce[m].mean(), atol=1e-6)
    # changing what the prompt positions "should" predict changes nothing: they carry no loss
    targets2 = targets.clone()
    targets2[~m] = 5
    assert torch.allclose(sft_loss(model, inputs, targets, m), sft_loss(model, inputs, targets2, m))


def test_sft_learns_and_resumes_the_same_run(tmp_path):
    examples = dist_worker.sft_examples(24)
    cfg = lambda: SFTConfig(epochs=2, batch_size=8, lr=3e-3, warmup_steps=1, ckpt_every=3, log_every=1)  # noqa
    torch.manual_seed(0)
    full = GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size))
    start = {k: v.clone() for k, v in full.state_dict().items()}
    info = sft(full, examples, cfg(), str(tmp_path / "a"), quiet=True)
    assert info["steps"] == 6
    rows = [json.loads(line) for line in open(tmp_path / "a" / "sft.jsonl")]
    assert rows[-1]["loss"] < rows[0]["loss"]
    # the same run killed during step 4 (after its step-3 checkpoint), then resumed: the same final weights
    part = GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size))
    part.load_state_dict(start)
    calls, forward = [0], part.forward

    def dying_forward(*a, **k):
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt  # the kill
        return forward(*a, **k)
    part.forward = dying_forward
    with pytest.raises(KeyboardInterrupt):
        sft(part, examples, cfg(), str(tmp_path / "b"), quiet=True)
    resumed = GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size))
    sft(resumed, examples, cfg(), str(tmp_path / "b"), resume=True, quiet=True)
    assert len([json.loads(line) for line in open(tmp_path / "b" / "sft.jsonl")]) == 6  # one row per step, no repeats
    for k, v in full.state_dict().items():
        assert torch.allclose(v, resumed.state_dict()[k], atol=1e-6), k


def test_sft_batches_are_full_and_cover_each_epoch():
    cfg = SFTConfig(batch_size=4)
    for epoch in range(2):
        batches = [batch_indices(10, epoch * 3 + b, cfg) for b in range(3)]
        assert all(len(b) == 4 for b in batches)  # the last is topped up: ranks always split a full batch
        assert set(i for b in batches for i in b) == set(range(10)) and len(set(batches[0] + batches[1])) == 8
    assert batch_indices(3, 0, SFTConfig(batch_size=8)) and len(batch_indices(3, 0, SFTConfig(batch_size=8))) == 8


# ----------------------------------------------------------------------------- stage 3 filter

def test_rejection_filter_keeps_and_drops_the_right_cases():
    p = dataclasses.replace(sample_problem(random.Random(0), "linear", 2), lang="en")
    good = f"<think> so x is {p.answer} </think> <answer> {p.answer} </answer>"
    assert judge_sample(good, p, truncated=False) == "keep"
    assert judge_sample(good, p, truncated=True) == "truncated"
    assert judge_sample(good + " and more", p, False) == "malformed"
    assert judge_sample(f"<think> x </think> <answer> {int(p.answer) + 1} </answer>", p, False) == "wrong"
    assert judge_sample(f"<think> so 所以 答案 {p.answer} </think> <answer> {p.answer} </answer>", p, False) \
        == "mixed_language"
    samples = [{"problem": p, "completion": t, "truncated": tr} for t, tr in
               [(good, False), (good + "<|eos|>", False), ("  " + good, False), (good, True), ("junk", False)]]
    kept, counts = rejection_filter(samples)
    assert len(kept) == 1 and kept[0]["response"] == good
    assert counts == {"keep": 1, "duplicate": 2, "truncated": 1, "malformed": 1, "drawn": 5}


def test_unresolved_searches_are_kept_only_when_what_they_say_is_true():
    """The cold start's countdown searches that use up their tries say so and answer the last try; the stage-3 filter
    keeps such a response only if none of its tries reaches the target (a false "no try reached it" is wrong)."""
    rng, seen = random.Random(0), collections.Counter()
    for _ in range(300):
        p = sample_problem(rng, "countdown", rng.randint(1, 3), rng.choice(("en", "zh")))
        ex = cold_start_example(p, rng)
        verdict = judge_sample(ex["response"], p, truncated=False)
        seen[verdict] += 1
        assert verdict == ("keep" if verify(p, extract_answer(ex["response"])) else "keep_unresolved")
        assert honest_giveup_reward(ex["response"], p) == (verdict == "keep_unresolved")  # the same rule, a reward
        if verdict == "keep_unresolved":  # the same response with a hitting try among its tries: a false claim
            lie = ex["response"].replace("<think> ", f"<think> try {p.answer}: {p.data[-1]}. ", 1)
            assert judge_sample(lie, p, False) == "wrong" and honest_giveup_reward(lie, p) == 0.0
    assert seen["keep"] > 100 and seen["keep_unresolved"] > 20, seen
    p = dataclasses.replace(sample_problem(random.Random(0), "linear", 2), lang="en")
    assert judge_sample(f"<think> {NO_HIT['en']} </think> <answer> {int(p.answer) + 1} </answer>", p, False) == "wrong"


# ----------------------------------------------------------------------------- reward model

def test_reward_model_reads_the_response_only():
    """encode's start column is where the response (and its <eos>) begins, in every row of a left-padded batch; the
    score is the head on the mean hidden state of those columns."""
    torch.manual_seed(0)
    rm = RewardModel(GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size)))
    prompts = ["User: a short one. Assistant:", "User: " + "long " * 30 + "Assistant:"]
    responses = ["<answer> 1 </answer>", "x"]
    ids, pad, start = rm.encode(tok, prompts, responses)
    for i, r in enumerate(responses):
        assert ids[i, start[i]:].tolist() == tok.encode(r) + [tok.eos_id]
        assert ids[i, pad[i]:start[i]].tolist() == [tok.bos_id] + tok.encode(prompts[i])
    torch.nn.init.normal_(rm.head.weight)  # (zero at init: every score 0)
    hidden = rm.backbone(ids, pad=pad, return_hidden=True)
    expect = rm.head(torch.stack([hidden[i, start[i]:].mean(0) for i in range(2)])).squeeze(-1)
    assert torch.allclose(rm(ids, pad, start), expect, atol=1e-5)


def test_bradley_terry_loss():
    assert abs(float(bradley_terry_loss(torch.tensor([0.0]), torch.tensor([0.0]))) - 0.6931) < 1e-4
    assert float(bradley_terry_loss(torch.tensor([5.0]), torch.tensor([-5.0]))) < 1e-4
    assert float(bradley_terry_loss(torch.tensor([-5.0]), torch.tensor([5.0]))) > 9


def test_reward_model_learns_to_prefer_the_chosen_answer():
    torch.manual_seed(0)
    rm = RewardModel(GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size)))
    pairs = [q for q in preference_pairs(random.Random(0), 300) if q["flaw"] == "broken_format"]
    before = pair_accuracy(rm, pairs)["accuracy"]
    train_reward_model(rm, pairs, RMConfig(epochs=8, batch_size=16, lr=3e-3), quiet=True)
    after = pair_accuracy(rm, pairs)
    assert before == 0.0  # a zero-initialised head scores every response the same: no preference yet
    assert after["accuracy"] > 0.9, after
    held = [q for q in preference_pairs(random.Random(1), 200, split="heldout")
            if q["flaw"] == "broken_format"]
    assert pair_accuracy(rm, held)["accuracy"] > 0.8


def test_policy_pairs_prefer_the_policys_right_answers_to_its_wrong_ones(monkeypatch):
    """The exact checker labels the samples (here a stand-in that calls a response right when its length is even, so
    a random model's samples give both kinds); each sample is used once, right always chosen over wrong."""
    import nanor1.rewards
    import nanor1.tasks
    monkeypatch.setattr(nanor1.rewards, "extract_answer", lambda text: text)
    monkeypatch.setattr(nanor1.tasks, "verify", lambda problem, answer: len(answer) % 2 == 0)
    torch.manual_seed(0)
    policy = GPT(ModelConfig.preset("tiny", vocab_size=tok.vocab_size, max_seq_len=512))  # translation prompts: ~360
    pairs = policy_pairs(policy, tok, random.Random(0), n_prompts=6, k=4, max_new_tokens=12)
    assert pairs and {q["flaw"] for q in pairs} == {"policy"}
    for q in pairs:
        assert len(q["chosen"]) % 2 == 0 and len(q["rejected"]) % 2 == 1
    by_prompt = {}
    for q in pairs:
        by_prompt.setdefault(q["prompt"], []).append(q)
    assert all(len(qs) <= 2 for qs in by_prompt.values())  # min(right, wrong) of 4 samples
    assert "policy" in pair_accuracy(RewardModel(policy), pairs, tok)


# ----------------------------------------------------------------------------- train_r1.py: report and stage 4

def _row(per_problem=None, **kw):
    row = {k: kw.get(k, 0.5) for k, _, _ in r1_report.COLUMNS}
    if per_problem:
        row["per_problem"] = per_problem
    return row


def test_change_table_shows_each_stage_against_the_one_before():
    models = {"base": _row(**{"pass@1": 0.40, "mean_len": 80}), "stage 1 cold start": _row(**{"pass@1": 0.45,
                                                                                             "mean_len": 150})}
    [line] = [x for x in r1_report.change_table(models).splitlines() if x.startswith("| stage 1")]
    assert line.startswith("| stage 1 cold start vs base | +5.0 |") and "| +70 |" in line
    assert "stage 2" not in r1_report.change_table(models)  # pairs with a missing model are left out


def _shares(values, family="arithmetic"):
    """per_problem of a model whose problem i has share values[i] on every metric."""
    shares = {str(i): v for i, v in enumerate(values)}
    return {"pass@1": shares, "readable_rate": shares, "general_pass@1": shares, "zh_lang_mix_rate_T1": shares,
            "family": {pid: family for pid in shares}}


def test_paired_difference_and_its_interval():
    d = paired_difference({"0": 1.0, "1": 0.5, "2": 0.25}, {"0": 0.5, "1": 0.5, "2": 0.0, "9": 1.0})
    assert d["n_problems"] == 3 and abs(d["diff"] - 0.25) < 1e-12  # problem 9 is not in both
    sd = (((0.5 - 0.25) ** 2 + 0.25 ** 2 + 0) / 2) ** 0.5
    assert abs(d["ci95"] - 1.96 * sd / 3 ** 0.5) < 1e-12 and d["lo"] < d["diff"] < d["hi"]
    assert paired_difference({"0": 1.0}, {"0": 0.0})["ci95"] is None  # one problem: no spread to estimate


def test_stage_picture_checks_hold_fail_or_stay_within_noise():
    """A clear gain is decided, a gain whose interval straddles the margin holds within noise, a loss fails."""
    n = 40
    s1 = _shares([0.5] * n)
    s2 = _shares([0.75] * n)                            # +25 points on every problem: decided
    s3 = _shares([0.75] * (n - 10) + [0.25] * 10)       # -12.5 points, margin -2: fails, decided
    models = {"stage 1 cold start": _row(s1, **{"pass@1": 0.5}), "stage 2 reasoning RL": _row(s2, **{"pass@1": 0.75}),
              "stage 3 rejection SFT": _row(s3, **{"pass@1": 0.71, "general_pass@1": 0.2})}
    got = {(c["row"], c["claim"]): c for c in r1_report.stage_picture(models)}
    gain = got[("stage 2", "reasoning pass@1 >= stage 1's + 5 points")]
    assert gain["verdict"] == "holds" and abs(gain["diff"] - 0.25) < 1e-12 and gain["ci95"] == 0.0
    assert got[("stage 2", "no family loses more than 3 points of pass@1")]["holds"]
    drop = got[("stage 3", "reasoning pass@1 >= stage 2's - 2 points")]
    assert drop["verdict"] == "DOES NOT HOLD" and "-12.5 +-" in drop["numbers"] and drop["hi"] < -0.02
    assert got[("stage 3", "translation learned (> 0)")]["holds"]
    text = r1_report.picture_text(r1_report.stage_picture(models))
    assert "- stage 3: DOES NOT HOLD: reasoning pass@1 >= stage 2's - 2 points (71.0% vs" in text
    noisy = _shares([0.5 + (0.25 if i % 2 else -0.15) for i in range(n)])  # mean +5: within noise of the margin
    models["stage 2 reasoning RL"] = _row(noisy, **{"pass@1": 0.55})
    got = {(c["row"], c["claim"]): c for c in r1_report.stage_picture(models)}
    assert got[("stage 2", "reasoning pass@1 >= stage 1's + 5 points")]["verdict"] == "holds (within noise)"
    models["stage 2 reasoning RL"] = _row(s2)
    models["stage 3 rejection SFT"] = _row(_shares([0.75] * (n - 2) + [0.0, 0.0]))  # -3.75: interval spans -2
    small_drop = [c for c in r1_report.stage_picture(models) if c["claim"].startswith("reasoning pass@1 >= stage 2")]
    assert small_drop[0]["verdict"] == "does not hold (within noise)"


def test_across_runs_calls_a_check_a_finding_only_when_every_run_decides_it_alike():
    held, noisy, failed = ({"holds": True, "decided": True}, {"holds": True, "decided": False},
                           {"holds": False, "decided": True})
    assert r1_report.across_runs([held, held]) == "holds in every run"
    assert r1_report.across_runs([held, noisy]) == "holds in every run, within noise in some"
    assert r1_report.across_runs([noisy, noisy]) == "holds in every run, within noise in all"
    assert r1_report.across_runs([held, failed]) == "differs between runs"
    assert r1_report.across_runs([failed, {**failed, "decided": None}]) == "does not hold in every run"


def test_runs_side_by_side_are_judged_again_and_agree_or_not(tmp_path, capsys):
    """python -m nanor1.r1_report decides each run's checks again from its per-problem records (a stale verdict in
    summary.json is ignored) and says per check whether the runs agree."""
    n = 40
    s1 = _shares([0.5] * n)
    runs = {"a": _shares([0.75] * n),                                          # +25 points: decided
            "b": _shares([0.5 + (0.25 if i % 2 else -0.15) for i in range(n)])}  # +5: within noise
    for name, s2 in runs.items():
        (tmp_path / name).mkdir()
        summary = {"seed": name, "stages": {}, "picture": [{"row": "stage 2", "claim": "stale", "verdict": "x"}],
                   "models": {"stage 1 cold start": _row(s1), "stage 2 reasoning RL": _row(s2)}}
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    r1_report.main([str(tmp_path / "a"), str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert "stale" not in out
    [line] = [x for x in out.splitlines() if "reasoning pass@1 >= stage 1's + 5 points" in x]
    assert "| holds: " in line and "| holds (within noise): " in line
    assert line.endswith("| holds in every run, within noise in some |")


def test_stage_picture_family_check_names_the_family_that_falls():
    s1 = {**_shares([0.5] * 20), "family": {str(i): ("arithmetic" if i < 10 else "linear") for i in range(20)}}
    s2 = {**_shares([0.2] * 10 + [0.9] * 10), "family": s1["family"]}
    models = {"stage 1 cold start": _row(s1), "stage 2 reasoning RL": _row(s2)}
    [check] = [c for c in r1_report.stage_picture(models) if c["claim"].startswith("no family")]
    assert not check["holds"] and check["numbers"].startswith("worst arithmetic -30.0")


def test_stage_4_steps_are_all_general_or_all_reasoning_and_drawn_the_same_on_resume():
    rc = train_r1.R1Config()
    steps = [train_r1.general_step(s, rc) for s in range(200)]
    assert abs(sum(steps) / 200 - rc.general_frac) < 0.1
    assert steps == [train_r1.general_step(s, rc) for s in range(200)]  # a resumed run draws the same


# ----------------------------------------------------------------------------- train_r1.py

def _run(args, cwd):
    return subprocess.run([sys.executable, os.path.join(ROOT, "train_r1.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_train_r1_tiny_runs_every_stage_and_reports(tmp_path):
    r = _run(["--preset=tiny", f"--out_dir={tmp_path}/r1"], tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    summary = json.load(open(tmp_path / "r1" / "summary.json"))
    assert list(summary["models"]) == ["base", "R1-Zero", "stage 1 cold start", "stage 2 reasoning RL",
                                       "stage 3 rejection SFT", "stage 4 all-scenario RL", "student base",
                                       "student distilled", "student R1-Zero RL"]
    # the R1-Zero row is made in the run, from the same base, with the RL steps of stages 2 and 4 together
    assert summary["stages"]["zero"]["grpo_config"]["steps"] == 2 + 2
    for row in summary["models"].values():
        for key in ("pass@1", "cons@k", "format_rate", "lang_mix_rate", "mean_len", "aha_rate", "readable_rate",
                    "general_pass@1"):
            assert key in row
    # stage 3 continues from stage 2 (recipe §5)
    assert summary["stages"]["3"]["from"] == "stage2"
    rej = summary["stages"]["3"]["rejection"]
    assert rej["drawn"] == 8 * 4 and sum(v for k, v in rej.items() if k in
                                         ("keep", "truncated", "malformed", "wrong", "mixed_language", "duplicate")) == 32
    for stage in ("stage1_cold_start", "stage2_reasoning_rl", "stage3_rejection_sft", "stage4_all_rl"):
        assert os.path.exists(tmp_path / "r1" / stage / "model.pt") and os.path.exists(tmp_path / "r1" / stage /
                                                                                       "stage.json")
    for name in ("report.md", "report.png", "report.html"):
        assert os.path.exists(tmp_path / "r1" / name), name
    report = open(tmp_path / "r1" / "report.md").read()
    assert "| stage 4 all-scenario RL vs R1-Zero |" in report
    assert "stage 4: " in report and "reasoning pass@1 >= R1-Zero's - 3 points" in report
    # a subset reuses the saved checkpoints of the others
    before = os.path.getmtime(tmp_path / "r1" / "stage1_cold_start" / "model.pt")
    r = _run(["--preset=tiny", f"--out_dir={tmp_path}/r1", "--stages=2,3"], tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "=== stage 2" in r.stdout and "=== stage 3" in r.stdout and "=== stage 1" not in r.stdout
    assert os.path.getmtime(tmp_path / "r1" / "stage1_cold_start" / "model.pt") == before
    # --resume keeps finished stages and finishes the one that has no stage.json yet (as after a kill)
    os.remove(tmp_path / "r1" / "stage4_all_rl" / "stage.json")
    r = _run(["--preset=tiny", f"--out_dir={tmp_path}/r1", "--resume"], tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "=== stage 4" in r.stdout and "=== stage 3" not in r.stdout and "=== stage distill" not in r.stdout \
        and "=== stage zero" not in r.stdout
    assert "resumed" in r.stdout and os.path.exists(tmp_path / "r1" / "stage4_all_rl" / "stage.json")
    # the report says which stages this invocation ran and which it reused
    head = open(tmp_path / "r1" / "report.md").readline()
    assert "stages run: 4;" in head and "reused: zero,1,2,3,distill" in head, head


@pytest.mark.slow
def test_train_r1_rejects_bad_options(tmp_path):
    r = _run(["--stages=2,9"], tmp_path)
    assert r.returncode != 0 and "--stages" in r.stderr
    r = _run(["--rl_stepz=3"], tmp_path)
    assert r.returncode != 0 and "rl_stepz" in r.stderr
    r = _run(["--reasoning_weights=accuracy=1,helpful=2"], tmp_path)
    assert r.returncode != 0 and "helpful" in r.stderr
    r = _run(["--general_weights=accuracy=1,fluency=1"], tmp_path)
    assert r.returncode != 0 and "fluency" in r.stderr
    r = _run(["--stage3_from=stage1"], tmp_path)
    assert r.returncode != 0 and "--stage3_from" in r.stderr
    r = _run(["--stage4_beta=-0.1"], tmp_path)
    assert r.returncode != 0 and "--stage4_beta" in r.stderr
    r = _run(["--cold_start_free_search=1.5"], tmp_path)
    assert r.returncode != 0 and "--cold_start_free_search" in r.stderr


@pytest.mark.slow
def test_a_missing_earlier_stage_is_a_clear_error(tmp_path):
    r = _run(["--preset=tiny", f"--out_dir={tmp_path}/r1", "--stages=2"], tmp_path)
    assert r.returncode != 0 and "run the earlier stages first" in r.stderr


@pytest.mark.slow
def test_train_r1_distills_once_per_seed(tmp_path):
    r = _run(["--preset=tiny", f"--out_dir={tmp_path}/r1", "--stages=zero,1,2,3,distill", "--distill_seeds=2"], tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    seeds = json.load(open(tmp_path / "r1" / "distill" / "stage.json"))["eval"]["seeds"]
    assert [x["seed"] for x in seeds] == [0, 1]
    for d in ("distill", "distill/seed1"):
        for arm in ("sft", "rl"):
            assert os.path.exists(tmp_path / "r1" / d / arm / "model.pt"), (d, arm)
    assert "(pass@1, 2 seed(s))" in open(tmp_path / "r1" / "report.md").read()
