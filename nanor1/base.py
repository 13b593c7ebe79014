"""The shipped base models: R1-Zero's starting point (and train_r1's student), made by this
repository and committed beside the code.

    python -m nanor1.base        # where the shipped base came from, and whether it is still current
    python -m nanor1.base --rebuild         # pretrain it again from scratch (the cpu preset) and
                                              compare the two
    python -m nanor1.base --rebuild --ship  # ... and replace nanor1/base.pt with the rebuilt one
    python -m nanor1.base --preset=student --rebuild --ship  # the same for train_r1's student,
                                                               nanor1/student_base.pt

R1-Zero started from a pretrained model (DeepSeek-V3-Base), not from random weights (recipe §5).
This project has no model to download, so its own stage 0 (nanor1/pretrain.py, preset `cpu`) makes
one, and the result is committed as nanor1/base.pt, like the tokenizer's ranks: `python
train_zero.py` starts RL from it at once. The distillation student of train_r1.py (preset `student`,
0.37M parameters) is shipped the same way, as nanor1/student_base.pt, so that `python train_r1.py`
pretrains nothing either.

nanor1/base.pt holds the weights (fp32, no optimizer state) and their provenance: the pretraining
command and config, the corpus knobs, the model config, a hash of the tokenizer ranks, a fingerprint
of the corpus (the tokens of two pretraining batches), the torch version and thread count, and the
pretraining time. At load the parts that can go stale are compared with what the code would use now:
the tokenizer, the model config, the preset's definition and the corpus it generates. A mismatch
stops the run and names the command that rebuilds the base; tests/test_base.py makes the same check,
so a change that invalidates the base fails CI.

A rebuild is not bit-identical: with torch.compile and bf16 autocast (the cpu preset) two runs of
the same code, torch and thread count differ in their weights from the first hundreds of steps on,
as they do with another thread count (float summation order). The rebuilt base matches the shipped
one in its evaluation, within sampling noise, which `--rebuild` prints for both (docs/results.md).
The eager fp32 recipe of the previous base (now `--preset=cpu_adamw`) rebuilt bit for bit with the
same thread count.
"""
import hashlib
import os
import sys
import time
from dataclasses import asdict, dataclass

import torch

from nanor1.checkpoint import CheckpointError, build_model, load_checkpoint, save_checkpoint
from nanor1.config import parse_overrides
from nanor1.corpus import CorpusMix
from nanor1.evaluate import evaluate, format_table
from nanor1.model import ModelConfig
from nanor1.pretrain import (CORPUS_KNOBS, PRESETS, PretrainConfig, corpus_knobs, corpus_mix,
                             ensure_base, make_batch, pretrain, resolve)
from nanor1.tokenizer import RANKS_PATH, get_tokenizer

# pretraining preset -> its shipped base
SHIPPED = {"cpu": os.path.join(os.path.dirname(__file__), "base.pt"),
           "student": os.path.join(os.path.dirname(__file__), "student_base.pt")}
PRESET = "cpu"                                  # the pretraining preset that makes the shipped base
SHIPPED_PATH = SHIPPED[PRESET]
REBUILD = "python -m nanor1.base --rebuild --ship"
# knobs newer than a base's provenance: it was made without them
ADDED_OFF = {"compile": 0, "bf16": 0, "muon_lr": 0.0,
             "decay_frac": 1.0}
# config fields that do not change weights
RUN_ONLY = ("out_dir", "resume", "device", "log_every", "ckpt_every",
            "probe_every")


def rebuild_command(preset: str = PRESET) -> str:
    return (REBUILD if preset == PRESET
            else f"python -m nanor1.base --preset={preset} --rebuild --ship")


def shipped_path(preset: str) -> str:
    """Where the shipped base of a pretraining preset lies; a preset without one stops with the
    choices."""
    if preset not in SHIPPED:
        raise SystemExit(f"error: no shipped base for the {preset!r} preset (shipped: "
                         f"{', '.join(SHIPPED)}); use "
                         "scratch or a checkpoint path")
    return SHIPPED[preset]


def tokenizer_sha256(path: str = RANKS_PATH) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def corpus_fingerprint(cfg, mix) -> str:
    """sha256 of the token ids of the first and the last pretraining batch: changes whenever the
    corpus generator, the task world or the tokenizer would feed the pretraining different text."""
    tok = get_tokenizer()
    h = hashlib.sha256()
    for step in (0, cfg.steps - 1):
        h.update(make_batch(step, cfg, tok, mix).numpy().tobytes())
    return h.hexdigest()


def training_config(config: dict) -> dict:
    """The fields of a PretrainConfig (as a dict) that decide the weights, less the corpus knobs:
    the provenance records those as "corpus", the values the run used (older bases wrote -1 here for
    "the preset's")."""
    return {k: v for k, v in config.items() if k not in RUN_ONLY and k not in CORPUS_KNOBS}


def expected_provenance(preset: str = PRESET) -> dict:
    """What a base pretrained now with `preset` would record (everything except the run's own
    facts)."""
    cfg = resolve(PretrainConfig(preset=preset))
    mix = corpus_mix(cfg)
    model = ModelConfig.preset(PRESETS[preset]["model"], vocab_size=get_tokenizer().vocab_size)
    return {"preset": preset, "pretrain_config": training_config(asdict(cfg)),
            "corpus": corpus_knobs(mix), "model_config": model.to_dict(),
            "tokenizer_sha256": tokenizer_sha256(),
            "corpus_fingerprint": corpus_fingerprint(cfg, mix)}


def stale_reasons(provenance: dict, preset: str = PRESET) -> list[str]:
    """Why a base with this provenance no longer matches the code ([] when it does)."""
    want = expected_provenance(preset)
    names = {"tokenizer_sha256": "the tokenizer ranks (nanor1/tokenizer.bpe) changed",
             "model_config": "the model config changed",
             "pretrain_config": f"the {preset!r} pretraining preset changed (nanor1/pretrain.py)",
             "corpus": f"the {preset!r} preset's corpus knobs changed",
             "corpus_fingerprint": "the pretraining corpus changed (nanor1/corpus.py or "
                                   "nanor1/tasks/)"}
    reasons = []
    for key, why in names.items():
        have, need = provenance.get(key), want[key]
        if key == "pretrain_config" and isinstance(have, dict):
            have = training_config({**ADDED_OFF, **have})
        # a knob newer than the provenance: CorpusMix's default
        if key == "corpus" and isinstance(have, dict):
            have = {**corpus_knobs(CorpusMix()), **have}
        if have != need:
            if isinstance(need, dict) and isinstance(have, dict):
                diff = {k: (have.get(k), v) for k, v in need.items() if have.get(k) != v}
                why += f": {diff} (shipped, now)"
            reasons.append(why)
    return reasons


def package(ckpt: dict, seconds: float, path: str, preset: str = PRESET) -> dict:
    """The shipped form of a finished pretraining checkpoint: weights, configs and provenance,
    nothing else."""
    expected = expected_provenance(preset)
    made_with = {k: v for k, v in ckpt["config"].items()
                 if k in expected["pretrain_config"] and k != "preset"}
    made_on = ckpt.get("corpus", expected["corpus"])
    if (any(expected["pretrain_config"][k] != v for k, v in made_with.items())
            or made_on != expected["corpus"]):
        raise SystemExit(f"error: this checkpoint was not pretrained as the {preset!r} preset: "
                         f"{made_with}, "
                         f"corpus {made_on}")  # the provenance would not be true
    provenance = {**expected, "command": f"python -m nanor1.pretrain --preset={preset}",
                  "rebuild": rebuild_command(preset), "torch": str(torch.__version__),
                  "threads": torch.get_num_threads(), "precision": ckpt.get("precision", "fp32"),
                  "seconds_pretrain": round(seconds, 1),
                  "made": time.strftime("%Y-%m-%d")}
    payload = {"model": {k: v.float().contiguous() for k, v in ckpt["model"].items()},
               "model_config": ckpt["model_config"], "kind": "base", "provenance": provenance}
    save_checkpoint(path, payload)
    return payload


def load_shipped(device="cpu", path: str | None = None, preset: str = PRESET):
    """The shipped base of a preset as a model, after checking that it still matches the code; a
    stale or missing base stops with one message that says how to rebuild it."""
    path = path or shipped_path(preset)
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}; rebuild it with `{rebuild_command(preset)}`") from None
    reasons = stale_reasons(ckpt.get("provenance", {}), preset)
    if reasons:
        raise SystemExit(f"error: the shipped base {path} is stale: " + "; ".join(reasons) +
                         f". Rebuild it with `{rebuild_command(preset)}`, or pass --base=scratch / "
                         "--base=<checkpoint>")
    return build_model(ckpt, path, device), ckpt


def resolve_base(choice: str, pretrain_preset: str, root: str, device="cpu") -> str:
    """The checkpoint path of a --base choice, shared by train_zero.py and train_r1.py: "shipped"
    (the preset's committed base, SHIPPED, checked against the code first), "scratch"
    (<root>/base_<pretrain_preset>, pretrained or resumed if not finished, nanor1/pretrain.py) or a
    checkpoint path."""
    if choice == "shipped":
        path = shipped_path(pretrain_preset)
        print(f"stage 0: the shipped base {path}")
        # a stale or missing base stops here, with how to rebuild it
        load_shipped(device, preset=pretrain_preset)
        return path
    if choice == "scratch":
        return ensure_base(pretrain_preset, os.path.join(root, f"base_{pretrain_preset}"), device)
    return choice


def max_weight_diff(a: dict, b: dict) -> float:
    if a.keys() != b.keys():
        return float("inf")
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@dataclass
class BaseConfig:
    preset: str = PRESET         # which shipped base: cpu (nanor1/base.pt) | student
                                 # (nanor1/student_base.pt)
    rebuild: bool = False        # pretrain the base again from scratch and compare it with the
                                 # shipped one
    ship: bool = False           # with --rebuild: write the rebuilt base over the shipped one
    out_dir: str = ""            # "": out/base_rebuild (cpu), out/base_rebuild_<preset> (others)
    eval_n_per_cell: int = 12    # the comparison's evaluation when the two differ in their weights


def main(argv):
    cfg = parse_overrides(BaseConfig(), argv)
    target = shipped_path(cfg.preset)
    cfg.out_dir = cfg.out_dir or ("out/base_rebuild"
                                  + ("" if cfg.preset == PRESET else f"_{cfg.preset}"))
    shipped = load_checkpoint(target) if os.path.exists(target) else None
    if shipped is not None:
        prov = shipped.get("provenance", {})
        print(f"{target}: made {prov.get('made')} by `{prov.get('command')}` with torch "
              f"{prov.get('torch')}, "
              f"{prov.get('threads')} threads, {prov.get('seconds_pretrain')} s of pretraining"
              + (f" in {prov['precision']}" if "precision" in prov else ""))
        reasons = stale_reasons(prov, cfg.preset)
        print("status: " + ("current (tokenizer, model config, preset and corpus match the code)"
                            if not reasons else "STALE: " + "; ".join(reasons)))
    if not cfg.rebuild:
        return
    t0 = time.time()
    path = pretrain(PretrainConfig(preset=cfg.preset, out_dir=cfg.out_dir))
    rebuilt = package(load_checkpoint(path), time.time() - t0, os.path.join(cfg.out_dir, "base.pt"),
                      cfg.preset)
    if shipped is not None:
        diff = max_weight_diff(shipped["model"], rebuilt["model"])
        print(f"rebuilt vs shipped: max |weight difference| {diff:.3g}"
              + (" (bit-identical)" if diff == 0 else ""))
        if diff != 0:  # another thread count or torch build: compare what the two models do instead
            tok = get_tokenizer()
            for name, ck in (("shipped", shipped), ("rebuilt", rebuilt)):
                res = evaluate(build_model(ck), tok, n_per_cell=cfg.eval_n_per_cell,
                               max_new_tokens=400)
                print(f"\n{name}:\n{format_table(res)}")
    if cfg.ship:
        save_checkpoint(target, rebuilt)
        print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
