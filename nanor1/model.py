"""A compact decoder-only transformer: RoPE, RMSNorm (pre-norm), grouped-query attention, SwiGLU,
tied embeddings.

Used as the policy, the reference model and the base model. Presets (ModelConfig.preset), named by
depth and width ("l4d128": 4 layers of width 128); parameters with the tokenizer's 696-token
vocabulary and tied embeddings:
    tiny      2 x 32,   0.04M: the tests
    l3d96     3 x 96,   0.37M: the default base on a CPU (pretraining preset cpu): pretrains in
              minutes on 2 cores
    l4d128    4 x 128,  0.88M: the longer CPU bases (pretraining presets cpu, i.e. the shipped base,
              cpu_r1, cpu_v1)
    l12d768   12 x 768, 76M: for GPUs (pretraining preset gpu, bf16 autocast)
A checkpoint stores the dimensions (ModelConfig.to_dict()), not the preset's name.

Padding convention (shared with the sampler and the GRPO trainer): a batch of sequences of different
lengths is LEFT-padded. `pad` (B,) holds the number of padding columns of each row; a row's RoPE
position is its column minus its pad, and padded keys are masked out. Right padding after a
completion needs no mask (causality).

The KV cache is an explicit object (KVCache), not hidden state in the modules: the sampler owns it,
can replicate its rows (prefill a prompt once, decode G samples from it) and drop finished rows.
"""
import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    vocab_size: int = 696        # tokenizer ranks + special tokens (callers pass
                                 # get_tokenizer().vocab_size)
    n_layer: int = 4
    n_head: int = 4
    n_kv_head: int = 2           # grouped-query attention: n_head // n_kv_head query heads share
                                 # one K/V head
    n_embd: int = 128
    mlp_hidden: int = 384        # SwiGLU hidden width (~ 8/3 * n_embd keeps the MLP at ~ 8 n_embd^2
                                 # params)
    max_seq_len: int = 512
    rope_theta: float = 10000.0
    tie_embeddings: bool = True  # small models spend a large share of parameters on the embedding

    @staticmethod
    def preset(name: str, **overrides) -> "ModelConfig":
        presets = {
            "tiny": dict(n_layer=2, n_head=2, n_kv_head=1, n_embd=32, mlp_hidden=64,
                         max_seq_len=256),
            "l3d96": dict(n_layer=3, n_head=2, n_kv_head=1, n_embd=96, mlp_hidden=256,
                          max_seq_len=512),
            "l4d128": dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, mlp_hidden=384,
                           max_seq_len=512),
            "l12d768": dict(n_layer=12, n_head=12, n_kv_head=4, n_embd=768, mlp_hidden=2048,
                            max_seq_len=2048),
        }
        if name not in presets:
            raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(presets)}")
        return ModelConfig(**{**presets[name], **overrides})

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class KVCache:
    """Per-layer keys/values for B rows, written at a shared column `pos`; `pad` (B,) left-padding
    per row."""
    k: list          # n_layer x (B, n_kv_head, max_len, head_dim)
    v: list
    pad: torch.Tensor  # (B,) long
    pos: int = 0     # columns filled so far (same for every row: rows are aligned by left padding)

    @staticmethod
    def empty(cfg: ModelConfig, batch: int, max_len: int, pad, device, dtype) -> "KVCache":
        hd = cfg.n_embd // cfg.n_head
        shape = (batch, cfg.n_kv_head, max_len, hd)
        return KVCache([torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)],
                       [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)],
                       pad.to(device), 0)

    def select(self, rows: torch.Tensor) -> "KVCache":
        """Rows `rows` (index tensor, may repeat) as a new cache: replication for G samples, or
        compaction."""
        return KVCache([k.index_select(0, rows) for k in self.k],
                       [v.index_select(0, rows) for v in self.v],
                       self.pad.index_select(0, rows), self.pos)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, max_len, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.outer(torch.arange(max_len).float(), inv_freq)  # (max_len, head_dim/2)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    # x (B, H, T, hd); cos/sin (B, 1, T, hd/2): rotate pairs (first half, second half)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0 and cfg.n_head % cfg.n_kv_head == 0
        self.n_head, self.n_kv_head = cfg.n_head, cfg.n_kv_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.q = nn.Linear(cfg.n_embd, cfg.n_head * self.head_dim, bias=False)
        self.kv = nn.Linear(cfg.n_embd, 2 * cfg.n_kv_head * self.head_dim, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x, cos, sin, mask, cache: KVCache | None, layer: int):
        B, T, C = x.shape
        q = self.q(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)        # (B, H, T, hd)
        # (B, Hkv, T, hd)
        k, v = self.kv(x).view(B, T, 2, self.n_kv_head, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            cache.k[layer][:, :, cache.pos:cache.pos + T] = k
            cache.v[layer][:, :, cache.pos:cache.pos + T] = v
            k = cache.k[layer][:, :, :cache.pos + T]
            v = cache.v[layer][:, :, :cache.pos + T]
        if mask is None:  # plain causal, no padding: the fast path for pretraining
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_up = nn.Linear(cfg.n_embd, 2 * cfg.mlp_hidden, bias=False)
        self.down = nn.Linear(cfg.mlp_hidden, cfg.n_embd, bias=False)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1, self.attn = RMSNorm(cfg.n_embd), Attention(cfg)
        self.norm2, self.mlp = RMSNorm(cfg.n_embd), MLP(cfg)

    def forward(self, x, cos, sin, mask, cache, layer):
        x = x + self.attn(self.norm1(x), cos, sin, mask, cache, layer)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        cos, sin = rope_tables(cfg.n_embd // cfg.n_head, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # scale residual projections by depth (GPT-2)
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, pad=None, cache: KVCache | None = None, return_hidden=False):
        """idx (B, T) -> logits (B, T, V) (or final hidden states (B, T, C) if return_hidden).

        pad (B,) left-padding per row (None: no padding). With a cache, idx is written at columns
        cache.pos...
        """
        B, T = idx.shape
        start = cache.pos if cache is not None else 0
        if cache is not None:
            pad = cache.pad
        if start + T > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {start + T} tokens exceeds "
                             f"max_seq_len={self.cfg.max_seq_len}")
        cols = torch.arange(start, start + T, device=idx.device)                  # (T,)
        if pad is None:  # plain causal, no padding: the fast path for pretraining
            cos, sin = self.rope_cos[cols][None, None], self.rope_sin[cols][None, None]
            mask = None
        else:
            positions = (cols[None, :] - pad[:, None]).clamp(min=0)                  # (B, T)
            cos, sin = self.rope_cos[positions][:, None], self.rope_sin[positions][:, None]
            mask = causal_mask(pad, start, T)
        x = self.wte(idx)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, mask, cache, i)
        if cache is not None:
            cache.pos += T
        x = self.norm(x)
        return x if return_hidden else self.lm_head(x)


def causal_mask(pad, start, T):
    """(B, 1, T, start+T) bool: the query at column q sees the key at column k iff pad <= k <= q.

    A padding column also sees itself: a query with no visible key would give NaN, and NaN values at
    padded columns would leak through the next layer's (masked, zero-weight) keys as 0 * NaN.
    """
    q_cols = torch.arange(start, start + T, device=pad.device)
    k_cols = torch.arange(start + T, device=pad.device)
    causal = k_cols[None, :] <= q_cols[:, None]                                    # (T, S)
    itself = k_cols[None, :] == q_cols[:, None]
    not_pad = k_cols[None, None, None, :] >= pad[:, None, None, None]              # (B, 1, 1, S)
    return causal[None, None] & (not_pad | itself[None, None])
