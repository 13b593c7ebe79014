"""Byte-level BPE tokenizer: a small trainer, and a loader that runs it through tiktoken, offline.

    python -m nanor1.tokenizer            # retrain and rewrite nanor1/tokenizer.bpe (deterministic)
    python -m nanor1.tokenizer --check      # print the vocab size and a sample encoding

Design (why):
- Every digit is its own token (the split pattern isolates each \\p{N}), so a tiny model sees
  carries and column arithmetic digit by digit instead of memorising "384" as one opaque symbol.
- The tags <think> </think> <answer> </answer> are special tokens: one token each, so the format
  reward's structure is one decision for the model, and the sampler can stop on </answer> as a
  single token.
- The ranks are trained on text the project generates (nanor1.corpus: English and Chinese reasoning
  traces, templates, filler) and committed as nanor1/tokenizer.bpe; nothing is downloaded at run
  time (tiktoken.get_encoding would fetch GPT-2's file; tiktoken.Encoding(...) with our ranks does
  not).
"""
import base64
import collections
import functools
import os
import sys

import regex
import tiktoken

RANKS_PATH = os.path.join(os.path.dirname(__file__), "tokenizer.bpe")
# at most this many byte-level BPE ranks (256 bytes + merges); specials come on top
VOCAB_SIZE = 2048

# Pre-tokenization: contractions, ONE Han character per piece (Chinese has no spaces: without this a
# whole sentence would be one piece and BPE would spend the vocabulary on memorised sentences),
# other words with one leading space, punctuation runs, ONE digit per piece, whitespace. Merges
# never cross piece boundaries, so digits never merge. The trainer stops early once every piece is a
# single token (the world's text is formulaic).
SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)|\p{Han}| ?(?:(?!\p{Han})\p{L})+| ?[^\s\p{L}\p{N}]+|\p{N}|\s+(?!\S)|\s+"""

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
THINK, THINK_END, ANSWER, ANSWER_END = "<think>", "</think>", "<answer>", "</answer>"
SPECIAL_TOKENS = (BOS, EOS, PAD, THINK, THINK_END, ANSWER, ANSWER_END)


# -----------------------------------------------------------------------------
# training (plain BPE over the byte sequences of pre-tokenized pieces)

def train_bpe(text: str, vocab_size: int = VOCAB_SIZE, verbose: bool = False) -> dict[bytes, int]:
    """Return tiktoken-style mergeable ranks: bytes -> rank, the 256 single bytes first, then merges
    in order.

    Ties are broken by the smallest pair (lexicographic on the token ids), so the result is
    deterministic.
    """
    assert vocab_size >= 256
    # special tokens are not learned: strip them so they don't contribute "<", "think", ">" pieces
    for s in SPECIAL_TOKENS:
        text = text.replace(s, " ")
    piece_counts = collections.Counter(regex.findall(SPLIT_PATTERN, text))
    words = [list(p.encode("utf-8")) for p in piece_counts]
    counts = list(piece_counts.values())
    # pair -> total count, and pair -> the words containing it, updated incrementally after each
    # merge
    pair_counts, where = collections.Counter(), collections.defaultdict(set)
    for w, ids in enumerate(words):
        for pair in zip(ids, ids[1:]):
            pair_counts[pair] += counts[w]
            where[pair].add(w)
    vocab = {i: bytes([i]) for i in range(256)}
    for new_id in range(256, vocab_size):
        if not pair_counts:
            break
        best = max(pair_counts.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))[0]
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        for w in sorted(where.pop(best)):
            ids = words[w]
            for pair in zip(ids, ids[1:]):  # remove this word's old pairs ...
                pair_counts[pair] -= counts[w]
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
            out, i = [], 0
            while i < len(ids):
                if i + 1 < len(ids) and (ids[i], ids[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            words[w] = out
            for pair in zip(out, out[1:]):  # ... and add its new ones
                pair_counts[pair] += counts[w]
                where[pair].add(w)
        if verbose and new_id % 256 == 0:
            print(f"merge {new_id:5d}: {vocab[new_id]!r}")
    return {b: i for i, b in vocab.items()}


def save_ranks(ranks: dict[bytes, int], path: str = RANKS_PATH) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for b, r in sorted(ranks.items(), key=lambda kv: kv[1]):
            f.write(f"{base64.b64encode(b).decode()} {r}\n")
    os.replace(tmp, path)


def load_ranks(path: str = RANKS_PATH) -> dict[bytes, int]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"tokenizer ranks not found at {path}; regenerate with `python -m "
                                "nanor1.tokenizer`")
    ranks = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                b64, r = line.split()
                ranks[base64.b64decode(b64)] = int(r)
    return ranks


# -----------------------------------------------------------------------------
# the tokenizer used everywhere

class Tokenizer:
    """Thin wrapper over tiktoken.Encoding with our ranks and special tokens."""

    def __init__(self, ranks: dict[bytes, int]):
        n = len(ranks)
        self.special = {s: n + i for i, s in enumerate(SPECIAL_TOKENS)}
        self.enc = tiktoken.Encoding(name="nanor1", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks,
                                     special_tokens=self.special)
        self.vocab_size = n + len(SPECIAL_TOKENS)
        self.bos_id, self.eos_id, self.pad_id = (self.special[BOS], self.special[EOS],
                                                 self.special[PAD])
        self.think_id, self.think_end_id = self.special[THINK], self.special[THINK_END]
        self.answer_id, self.answer_end_id = self.special[ANSWER], self.special[ANSWER_END]

    def encode(self, text: str, bos: bool = False) -> list[int]:
        """Special-token strings in the text (tags, <|eos|>) become their single tokens."""
        ids = self.enc.encode(text, allowed_special="all")
        return [self.bos_id] + ids if bos else ids

    def decode(self, ids, skip_special: bool = False) -> str:
        ids = [int(i) for i in ids]
        if skip_special:
            drop = {self.bos_id, self.eos_id, self.pad_id}
            ids = [i for i in ids if i not in drop]
        return self.enc.decode(ids, errors="replace")

    def decode_bytes(self, ids) -> bytes:
        return self.enc.decode_bytes([int(i) for i in ids])


@functools.lru_cache(maxsize=1)
def get_tokenizer() -> Tokenizer:
    return Tokenizer(load_ranks())


def main(argv):
    if "--check" in argv:
        tok = get_tokenizer()
        s = "Wait, numbers 6 2 4 3, target 7: <think> 6+2=8 </think> <answer> 12 </answer> 等等，再试"
        ids = tok.encode(s)
        print(f"vocab_size={tok.vocab_size} ({len(tok.special)} special); {len(s)} chars -> "
              f"{len(ids)} tokens")
        print([tok.decode([i]) for i in ids])
        return
    from nanor1.corpus import tokenizer_training_text
    text = tokenizer_training_text(seed=0)
    print(f"training BPE ({VOCAB_SIZE} ranks) on {len(text):,} characters of generated text ...")
    ranks = train_bpe(text, VOCAB_SIZE, verbose=True)
    save_ranks(ranks)
    print(f"wrote {RANKS_PATH} ({len(ranks)} ranks)")


if __name__ == "__main__":
    main(sys.argv[1:])
