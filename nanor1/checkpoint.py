"""Checkpoints: written atomically, loaded safely, with errors a user can act on.

A checkpoint is one torch file holding plain data only (tensors, numbers, strings, lists, dicts), so
it loads with `torch.load(weights_only=True)`: loading a checkpoint never runs code from it. Layout:
    model         state_dict of the GPT
    model_config  ModelConfig as a dict (the model is rebuilt from it)
    optimizer     optimizer state_dict (optional: training checkpoints)
    step, rng     training position and RNG states (python, torch, cuda) for an exact resume
    ...           anything else the writer adds (config dict, data position, metrics)
Writes go to `path.tmp` first and are renamed over `path`, so a kill mid-write leaves the old file
intact. Under torchrun only rank 0 writes (the ranks hold the same weights); the others return at
once. An RL trainer's whole state (GRPOTrainer, and PPOTrainer of baselines/) goes through
save_training_checkpoint / load_training_checkpoint at the bottom of this file.
"""
import os
import random
from dataclasses import asdict

import torch

from nanor1.distributed import is_main, world
from nanor1.model import GPT, ModelConfig


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(path: str, payload: dict) -> None:
    if not is_main():
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        torch.save(payload, tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)  # a failed write (disk full, Ctrl-C) leaves no half file behind
        raise
    os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one, never half of
                           # one


def load_checkpoint(path: str, map_location="cpu") -> dict:
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    # truncated, empty, not a torch file, or a pickle asking for objects weights_only refuses
    except Exception:
        # torch's own message is not passed on: for a refused pickle it advises loading with
        # weights_only=False, which would run whatever code the file holds
        raise CheckpointError(f"cannot read checkpoint {path}: the file is corrupt or not a nanor1 "
                              "checkpoint") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise CheckpointError(f"{path} is a torch file but not a nanor1 checkpoint (no "
                              "'model'/'model_config')")
    return ckpt


def build_model(ckpt: dict, path: str = "checkpoint", device="cpu",
                expect: ModelConfig | None = None) -> GPT:
    """Rebuild the GPT stored in a loaded checkpoint; `expect` checks it is the architecture the
    caller wants."""
    try:
        cfg = ModelConfig(**ckpt["model_config"])
    except TypeError as e:
        raise CheckpointError(
            f"{path}: model_config does not match this version of nanor1 ({e})") from None
    if expect is not None and cfg != expect:
        diff = {k: (v, getattr(expect, k)) for k, v in cfg.to_dict().items()
                if getattr(expect, k) != v}
        raise CheckpointError(f"{path} holds a different model than configured: {diff} "
                              "(checkpoint, expected)")
    model = GPT(cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError) as e:  # TypeError: "model" is not a dict
        # torch puts the missing/unexpected keys on later lines
        detail = " ".join(str(e).split())[:300]
        raise CheckpointError(f"{path}: weights do not fit the model config: {detail}") from None
    return model.to(device)


def load_model(path: str, device="cpu") -> tuple[GPT, dict]:
    """The language model of any checkpoint the project writes (base, SFT, GRPO training state); not
    a reward model."""
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") == "reward_model":
        raise CheckpointError(f"{path} is a reward model (a scorer with a value head), not a "
                              "language model")
    return build_model(ckpt, path, device), ckpt


def rng_state() -> dict:
    state = {"python": list(_tuplify(random.getstate())), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(state):
    version, internal, gauss = state
    return version, list(internal), gauss


# ----------------------------------------------------------------------------- RL trainers
# (nanor1/grpo.py)

def save_training_checkpoint(path, trainer, extra: dict) -> None:
    """A GRPO (or PPO) trainer's whole state: model, optimizer, step, RNG, config, reference model;
    + extra."""
    m = trainer.model
    payload = {"model": m.state_dict(), "model_config": m.cfg.to_dict(),
               "optimizer": trainer.optimizer.state_dict(),
               "step": trainer.step, "rng": rng_state(), "grpo_config": asdict(trainer.cfg),
               "world_size": world(), **extra}
    if trainer.ref_model is not None:
        payload["ref_model"] = trainer.ref_model.state_dict()
    save_checkpoint(path, payload)


def load_training_checkpoint(path, trainer) -> dict:
    """Restore what save_training_checkpoint wrote into `trainer` (same model config); returns the
    checkpoint."""
    ckpt = load_checkpoint(path, map_location=trainer.device)
    trainer.model.load_state_dict(
        build_model(ckpt, path, trainer.device, expect=trainer.model.cfg).state_dict())
    trainer.optimizer.load_state_dict(ckpt["optimizer"])
    if trainer.ref_model is not None and "ref_model" in ckpt:
        trainer.ref_model.load_state_dict(ckpt["ref_model"])
    trainer.step = ckpt["step"]
    # each rank samples with its own seed: other ranks, other samples
    if ckpt.get("world_size", 1) != world():
        print(f"note: {path} was written by {ckpt.get('world_size', 1)} processes and resumes with "
              f"{world()}: "
              "a valid run, but not the samples the original one would have drawn")
    set_rng_state(ckpt["rng"])
    # rows logged after this checkpoint will be logged again
    trainer.log.truncate_after(trainer.step)
    return ckpt
