"""Export a checkpoint to the Hugging Face format: a Llama model and a fast tokenizer, in one
directory.

    python -m nanor1.export --ckpt=out/zero/model.pt --out=out/zero/hf
    python -m nanor1.export --ckpt=out/zero/best.pt --out=hf_bf16 --dtype=bfloat16

    from transformers import AutoModelForCausalLM, AutoTokenizer
    model, tok = (AutoModelForCausalLM.from_pretrained("out/zero/hf"),
                  AutoTokenizer.from_pretrained("out/zero/hf"))

Anything that reads Hugging Face checkpoints opens the directory (transformers, vLLM,
lm-eval-harness's hf and vllm backends). Written: config.json + model.safetensors
(LlamaForCausalLM), generation_config.json (stop at <|eos|> or </answer>; T=0.6, top-p 0.95 as the
evaluator samples), tokenizer.json + tokenizer_config.json + special_tokens_map.json (with the
R1-Zero template as the chat template), and a short README.md.

Why the model is a Llama, weight for weight: nanor1's GPT is the same computation (pre-norm RMSNorm,
grouped-query attention, SwiGLU, RoPE on two halves of each head as Llama's rotate_half does, tied
embeddings). Only the packing differs: nanor1 fuses K and V into one projection and gate and up into
one, which are split here. Why the tokenizer gives nanor1's ids: the same byte-level ranks and split
pattern. tiktoken merges any adjacent pair of parts whose concatenation is a token, lowest rank
first; a BPE model does the same if its merge list holds every split of every token into two tokens,
ordered by the rank of the token (all splits, not only the one the trainer made: a pair can meet in
other orders). Tags and <|bos|>/<|eos|>/<|pad|> are added tokens, matched before splitting, as
tiktoken's special tokens are; the tags are not "special" in the HF sense, so skip_special_tokens
keeps them. No BOS is added: nanor1 prompts start with the template text.

Needs nothing beyond nanor1's own requirements: safetensors and tokenizer.json are written by hand
(both simple, documented formats), so the export runs without transformers installed.
"""
import json
import os
import struct
import sys
from dataclasses import dataclass

import torch

from nanor1.checkpoint import CheckpointError, load_model
from nanor1.config import parse_overrides
from nanor1.model import GPT
from nanor1.tasks import R1_TEMPLATE
from nanor1.tokenizer import (BOS, EOS, PAD, SPECIAL_TOKENS, SPLIT_PATTERN, Tokenizer,
                              get_tokenizer, load_ranks)


@dataclass
class ExportConfig:
    ckpt: str = "out/zero/model.pt"
    out: str = ""                  # output directory ("" : <ckpt dir>/hf)
    dtype: str = "float32"         # float32 | bfloat16 | float16 (the weights as stored; float32 is
                                   # exact)


DTYPES = {"float32": (torch.float32, "F32"), "bfloat16": (torch.bfloat16, "BF16"),
          "float16": (torch.float16, "F16")}


# -----------------------------------------------------------------------------
# the model: Llama names, fused projections split

def llama_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    cfg = model.cfg
    hd = cfg.n_embd // cfg.n_head
    sd = {"model.embed_tokens.weight": model.wte.weight, "model.norm.weight": model.norm.weight}
    for i, b in enumerate(model.blocks):
        p = f"model.layers.{i}."
        k, v = b.attn.kv.weight.split(cfg.n_kv_head * hd)    # kv output columns: (2, n_kv_head, hd)
                                                             # -> K then V
        gate, up = b.mlp.gate_up.weight.split(cfg.mlp_hidden)  # gate_up output: gate then up
                                                               # (MLP.forward's chunk)
        sd.update({p + "input_layernorm.weight": b.norm1.weight,
                   p + "post_attention_layernorm.weight": b.norm2.weight,
                   p + "self_attn.q_proj.weight": b.attn.q.weight, p + "self_attn.k_proj.weight": k,
                   p + "self_attn.v_proj.weight": v,
                   p + "self_attn.o_proj.weight": b.attn.proj.weight,
                   p + "mlp.gate_proj.weight": gate, p + "mlp.up_proj.weight": up,
                   p + "mlp.down_proj.weight": b.mlp.down.weight})
    if not cfg.tie_embeddings:
        sd["lm_head.weight"] = model.lm_head.weight
    return {name: t.detach().cpu().contiguous() for name, t in sd.items()}


def llama_config(model: GPT, tok: Tokenizer, dtype: str) -> dict:
    cfg = model.cfg
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": cfg.vocab_size,
            "hidden_size": cfg.n_embd, "intermediate_size": cfg.mlp_hidden,
            "num_hidden_layers": cfg.n_layer,
            "num_attention_heads": cfg.n_head, "num_key_value_heads": cfg.n_kv_head,
            "head_dim": cfg.n_embd // cfg.n_head, "max_position_embeddings": cfg.max_seq_len,
            "rms_norm_eps": model.norm.eps, "rope_theta": cfg.rope_theta, "hidden_act": "silu",
            "attention_bias": False, "mlp_bias": False, "attention_dropout": 0.0,
            "tie_word_embeddings": cfg.tie_embeddings, "initializer_range": 0.02, "use_cache": True,
            "bos_token_id": tok.bos_id, "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id,
            "torch_dtype": dtype}


def write_safetensors(path: str, tensors: dict[str, torch.Tensor], dtype: str = "float32") -> None:
    """The safetensors layout: 8-byte little-endian header size, a JSON header (name -> dtype,
    shape, byte offsets into the data), padded with spaces to a multiple of 8, then every tensor's
    raw little-endian bytes."""
    torch_dtype, code = DTYPES[dtype]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        # x86/ARM hosts: little-endian
        data = t.to(torch_dtype).contiguous().view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for data in blobs:
            f.write(data)
    os.replace(path + ".tmp", path)


# -----------------------------------------------------------------------------
# the tokenizer: byte-level BPE from tiktoken ranks

def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: each byte as a printable character (what HF's ByteLevel
    pre-tokenizer emits)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
            *range(ord("®"), ord("ÿ") + 1)]
    chars, n = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + n)
            n += 1
    return chars


def tokenizer_json(ranks: dict[bytes, int], tok: Tokenizer) -> dict:
    byte_char = bytes_to_unicode()
    word = lambda b: "".join(byte_char[x] for x in b)  # noqa: E731
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        splits = [(token[:i], token[i:]) for i in range(1, len(token))
                  if token[:i] in ranks and token[i:] in ranks]
        merges += [f"{word(a)} {word(b)}" for a, b in sorted(splits,
                                                             key=lambda s: (ranks[s[0]],
                                                                            ranks[s[1]]))]
    specials = (BOS, EOS, PAD)
    added = [{"id": tok.special[s], "content": s, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": s in specials}
             for s in SPECIAL_TOKENS]
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": None, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": SPLIT_PATTERN}, "behavior": "Isolated",
                 "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                 "use_regex": False}]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                        "use_regex": False},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": True,
                      "vocab": {word(b): r for b, r in ranks.items()}, "merges": merges}}


def chat_template() -> str:
    """Jinja for apply_chat_template: a user message becomes the R1-Zero prompt (format_prompt), an
    assistant message follows it after a space."""
    before, after = R1_TEMPLATE.split("{prompt}")
    return ("{%- for message in messages %}{%- if message['role'] == 'user' %}"
            + before + "{{ message['content'] }}" + after
            + "{%- elif message['role'] == 'assistant' %}{{ ' ' + message['content'] }}"
              "{%- endif %}{%- endfor %}")


def tokenizer_files(tok: Tokenizer, max_len: int) -> dict[str, dict]:
    tags = [s for s in SPECIAL_TOKENS if s not in (BOS, EOS, PAD)]
    names = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD}
    return {"tokenizer.json": tokenizer_json(load_ranks(), tok),
            "tokenizer_config.json": {"tokenizer_class": "PreTrainedTokenizerFast", **names,
                                      "additional_special_tokens": tags, "add_bos_token": False,
                                      "add_eos_token": False, "clean_up_tokenization_spaces": False,
                                      "model_max_length": max_len, "padding_side": "left",
                                      "chat_template": chat_template()},
            "special_tokens_map.json": {**names, "additional_special_tokens": tags}}


# -----------------------------------------------------------------------------
# the directory

def export(model: GPT, out_dir: str, tok: Tokenizer | None = None, dtype: str = "float32",
           source: str = "") -> None:
    tok = tok or get_tokenizer()
    if model.cfg.vocab_size < tok.vocab_size:
        raise CheckpointError(f"{source or 'the model'} has {model.cfg.vocab_size} token "
                              "embeddings, fewer than the "
                              f"tokenizer's {tok.vocab_size}: not a model of this tokenizer")
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), llama_state_dict(model), dtype)
    files = {"config.json": llama_config(model, tok, dtype),
             "generation_config.json": {"bos_token_id": tok.bos_id,
                                        "eos_token_id": [tok.eos_id, tok.answer_end_id],
                                        "pad_token_id": tok.pad_id, "do_sample": True,
                                        "temperature": 0.6, "top_p": 0.95},
             **tokenizer_files(tok, model.cfg.max_seq_len)}
    for name, obj in files.items():
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(f"# nanor1 model, exported from {source or 'a nanor1 checkpoint'}\n\n"
                f"LlamaForCausalLM, {model.num_params() / 1e6:.2f}M parameters, {dtype}. Prompt: "
                "the R1-Zero template "
                "(the chat template applies it to a user message); a response reads `<think> ... "
                "</think> <answer> "
                "... </answer>` and generation stops at `</answer>` or `<|eos|>`. Made by `python "
                "-m nanor1.export`.\n")


def main(argv):
    cfg = parse_overrides(ExportConfig(), argv)
    if cfg.dtype not in DTYPES:
        print(f"error: --dtype={cfg.dtype!r}: choose one of {', '.join(DTYPES)}", file=sys.stderr)
        raise SystemExit(2)
    out = cfg.out or os.path.join(os.path.dirname(cfg.ckpt) or ".", "hf")
    try:
        model, _ = load_model(cfg.ckpt)
        export(model, out, dtype=cfg.dtype, source=cfg.ckpt)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"wrote {out}: LlamaForCausalLM, {model.num_params() / 1e6:.2f}M parameters "
          f"({cfg.dtype}), and its tokenizer")


if __name__ == "__main__":
    main(sys.argv[1:])
