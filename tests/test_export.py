"""Export to the Hugging Face format (nanor1/export.py): transformers' Llama gives nanor1's logits and greedy
tokens, and the exported tokenizer nanor1's ids. The tests that load the export need transformers (CI installs it,
.ci/run); without it they skip."""
import importlib
import json
import random
import sys

import pytest
import torch

from nanor1 import export as export_module
from nanor1.checkpoint import save_checkpoint
from nanor1.corpus import CorpusMix, make_document
from nanor1.export import export, main, write_safetensors
from nanor1.model import GPT, ModelConfig
from nanor1.sampler import SamplingParams, generate, left_pad
from nanor1.tasks import FAMILIES, LANGS, Habits, format_prompt, sample_problem, solution_trace
from nanor1.tokenizer import get_tokenizer

TOK = get_tokenizer()


@pytest.fixture(scope="module")
def hf():
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GPT(ModelConfig.preset("tiny", vocab_size=TOK.vocab_size, max_seq_len=128))
    with torch.no_grad():  # non-trivial norm weights, so a swapped or missing norm would show
        for name, p in m.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                p.uniform_(0.5, 1.5)
    return m.eval()


@pytest.fixture(scope="module")
def out_dir(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("hf")
    export(model, str(out))
    return str(out)


@pytest.fixture(scope="module")
def llama(hf, out_dir):
    return hf.AutoModelForCausalLM.from_pretrained(out_dir).eval()


@pytest.fixture(scope="module")
def hf_tok(hf, out_dir):
    return hf.AutoTokenizer.from_pretrained(out_dir)


def world_text(n=60) -> list[str]:
    """Prompts and traces of every family in both languages (code-switched too), and pretraining documents."""
    rng, texts = random.Random(0), []
    habits = Habits(retry_after_miss=0.5, check_inverse=0.5, slip_rate=0.5, switch_lang=0.3)
    for i in range(n):
        p = sample_problem(rng, FAMILIES[i % 3], 1 + i % 3, LANGS[i % 2])
        texts.append(format_prompt(p) + " " + solution_trace(p, rng, habits) + "<|eos|>")
        texts.append(make_document(rng, CorpusMix()))
    return texts + ["", " ", "12 345 6789", "  两个空格  and\ttabs\n\nnew lines", "<think></think><answer>x</answer>"]


def test_logits_match_transformers_llama(model, llama):
    ids = torch.randint(0, TOK.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(llama(ids).logits, model(ids), atol=1e-5, rtol=0)


def test_logits_match_with_left_padding(model, llama):
    prompts = [TOK.encode(t) for t in ("Using the numbers 3 5 7, reach the target 22", "用数字 8 2 5 9 凑出目标 39 好")]
    idx, pad = left_pad(prompts, TOK.pad_id, "cpu")
    attention = (torch.arange(idx.size(1))[None, :] >= pad[:, None]).long()
    positions = (attention.cumsum(-1) - 1).clamp(min=0)  # what transformers' generate() derives from the mask
    with torch.no_grad():
        ours = model(idx, pad=pad)
        theirs = llama(idx, attention_mask=attention, position_ids=positions).logits
    real = attention.bool()
    assert torch.allclose(theirs[real], ours[real], atol=1e-5, rtol=0)


def test_greedy_generate_matches_nanor1(model, llama, hf_tok):
    prompts = ["Using the numbers 3 5 7, reach the target 22", "用数字 8 2 5 9 凑出目标 39"]
    texts = [format_prompt(sample_problem(random.Random(0), "countdown", 1, "en"))] + prompts
    gen = generate(model, [TOK.encode(t) for t in texts], 1, SamplingParams(temperature=0, max_new_tokens=16,
                   stop_token_ids=(TOK.answer_end_id,)), pad_id=TOK.pad_id, eos_id=TOK.eos_id)
    ours = [t[m].tolist() for t, m in zip(gen.tokens, gen.mask)]
    batch = hf_tok(texts, return_tensors="pt", padding=True)  # left padding, from tokenizer_config.json
    with torch.no_grad():
        out = llama.generate(**batch, do_sample=False, max_new_tokens=16)  # stops: generation_config.json
    stops = {TOK.eos_id, TOK.answer_end_id}
    for row, want in zip(out[:, batch["input_ids"].size(1):].tolist(), ours):
        cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        assert row[:cut] == want


def test_tokenizer_ids_match_on_the_worlds_text(hf_tok):
    for text in world_text():
        assert hf_tok(text, add_special_tokens=False)["input_ids"] == TOK.encode(text), text[:80]


def test_tokenizer_decodes_to_the_text_and_keeps_the_tags(hf_tok):
    text = "<think> 等等，试 (6+2)*4: 8*4=32. 32 vs 29: no. </think> <answer> 1,234 </answer><|eos|>"
    ids = TOK.encode(text)
    assert hf_tok.decode(ids) == text
    assert hf_tok.decode(ids, skip_special_tokens=True) == TOK.decode(ids, skip_special=True)  # drops <|eos|> only


def test_chat_template_is_the_r1_zero_prompt(hf_tok):
    p = sample_problem(random.Random(3), "linear", 2, "zh", split="heldout")
    text = hf_tok.apply_chat_template([{"role": "user", "content": p.question}], tokenize=False,
                                      add_generation_prompt=True)
    assert text == format_prompt(p)


def test_safetensors_layout(tmp_path):
    path = str(tmp_path / "t.safetensors")
    write_safetensors(path, {"a": torch.arange(6.0).view(2, 3), "b": torch.ones(1)})
    data = open(path, "rb").read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    assert (8 + n) % 8 == 0 and header["a"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    body = data[8 + n:]
    assert torch.equal(torch.frombuffer(bytearray(body[0:24]), dtype=torch.float32), torch.arange(6.0))
    assert header["b"]["data_offsets"] == [24, 28] and len(body) == 28


def test_export_imports_nothing_beyond_the_requirements(model, tmp_path, monkeypatch):
    for name in ("transformers", "safetensors", "tokenizers"):
        monkeypatch.setitem(sys.modules, name, None)  # any import of these now raises ImportError
    fresh = importlib.reload(export_module)
    fresh.export(model, str(tmp_path))
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "tokenizer.json").exists()


def test_cli_rejects_a_reward_model_in_one_line(model, tmp_path):
    path = str(tmp_path / "rm.pt")
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.cfg.to_dict(), "kind": "reward_model"})
    with pytest.raises(SystemExit) as e:
        main([f"--ckpt={path}", f"--out={tmp_path / 'hf'}"])
    assert str(e.value.code).startswith("error:") and "reward model" in str(e.value.code)
    assert not (tmp_path / "hf").exists()
