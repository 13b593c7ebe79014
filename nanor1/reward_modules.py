"""Your own rewards from the command line: --rewards loads reward modules before --reward_weights
is checked.

    python train_zero.py --rewards=my_rewards.py --reward_weights=accuracy=1,format=0.25,mine=0.1
    python train_zero.py --rewards=experiments/rewards/brevity.py,mypkg.rewards --reward_weights=...

Each entry of --rewards is a .py file (imported under a stable module name,
nanor1_rewards_<stem>_<hash of its path>) or a dotted module name (imported as `import` would from
the current directory). GRPOConfig.resolved() calls resolve() before it parses the weights, so a run
that cannot score stops at once, with one line naming the file and the function: a missing file, a
module that fails to import, a weighted name that no module provides, a function that cannot be
called as a reward. Loading is idempotent (resolved() runs several times): a file or module already
loaded is not imported again, so its rewards are registered once. provenance() records what was
loaded (path, sha256 of the source) for summary.json.

A name in --reward_weights that is not registered but is a module-level function of a loaded module
is registered under its own name, in one of two forms:
  nanor1  reward(completion, problem) -> float, as @register_reward (nanor1/rewards.py) takes it:
          used as is.
  TRL     reward(prompts, completions, **kwargs) -> list[float], as TRL's GRPOTrainer calls it
          (any function with a `completions` parameter and **kwargs): called once per completion,
            prompts=[format_prompt(problem)]  the R1-Zero prompt the model saw
            completions=[completion]          the completion text (TRL's standard format)
            family=[...], difficulty=[...], lang=[...], question=[...], answer=[...], data=[...]
                                              the Problem's fields, as TRL passes dataset columns
          and element 0 of the list it returns is the reward; None (TRL's "does not apply") is 0.0.
          TRL's completion_ids and trainer_state are not passed: a function must not require them
          (nor any other column). A function written for TRL's conversational format
          (completion[0]["content"]) is recognised at load, by one call on a well-formed response
          that fails on the text and succeeds on messages; it then gets
          [{"role": "assistant", "content": completion}] (prompts: [{"role": "user", ...}]).
A registered reward in the TRL form is wrapped the same way. Rewards must never raise;
combined_reward counts one that does as 0 and logs it (error/<name>), wrapped ones included.
"""
import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import os
import random
import re
import sys
import traceback

from nanor1.rewards import REWARDS, register_reward
from nanor1.tasks import format_prompt, sample_problem

_LOADED: dict[str, dict] = {}  # real path of a file, or a dotted name -> its record (see load())


def fail(message: str):
    raise SystemExit(f"error: {message}")


def entries(rewards: str) -> list[str]:
    return [e.strip() for e in rewards.split(",") if e.strip()]


def is_path(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry or os.sep in entry


def load(rewards: str) -> list[dict]:
    """Import each entry of --rewards once; [{"entry", "module", "file", "sha256"}, ...]."""
    return [_load_one(entry) for entry in entries(rewards)]


def _load_one(entry: str) -> dict:
    key = os.path.realpath(entry) if is_path(entry) else entry
    if key in _LOADED:
        return _LOADED[key]
    module = _import_file(entry, key) if is_path(entry) else _import_dotted(entry)
    path = getattr(module, "__file__", None)
    digest = None
    if path and os.path.isfile(path):  # hashed now: the code that runs, even if the file changes
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    _LOADED[key] = {"entry": entry, "module": module, "file": path, "sha256": digest}
    return _LOADED[key]


def _import_file(entry: str, real: str):
    if not os.path.isfile(real):
        fail(f"--rewards: no such file: {entry}")
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(real))[0])
    name = f"nanor1_rewards_{stem}_{hashlib.sha1(real.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, real)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: dataclasses and pickle look a module up by name
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # a module that calls sys.exit() fails to import too
        del sys.modules[name]
        fail(f"--rewards: {entry} failed to import: {_one_line(e, real)}")
    return module


def _import_dotted(entry: str):
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # `python elsewhere/train_zero.py` puts the script's folder on sys.path, not cwd
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(entry)
    except (Exception, SystemExit) as e:
        hint = (f" (a file? give its path: {entry.replace('.', '/')}.py)"
                if isinstance(e, ModuleNotFoundError) else "")
        fail(f"--rewards: module {entry} failed to import: {_one_line(e)}{hint}")
    finally:
        if added:
            sys.path.remove(cwd)


def _one_line(e: BaseException, path: str | None = None) -> str:
    """"NameError: name 'x' is not defined (line 3)": the first line of the exception, and the
    line of `path` it came from."""
    text = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
             if path and os.path.realpath(f.filename) == path]
    return text + (f" (line {lines[-1]})" if lines else "")


def provenance(rewards: str) -> list[dict]:
    """What --rewards loaded, for summary.json: [{"entry", "file", "sha256"}, ...]."""
    return [{k: r[k] for k in ("entry", "file", "sha256")} for r in load(rewards)]


# -----------------------------------------------------------------------------
# the weighted names: registered, found in a loaded module, or a clear error

def resolve(rewards: str, reward_weights: str, flag: str = "--reward_weights") -> None:
    """Load the modules of --rewards, register what they provide under the names that
    reward_weights weights, and check that every weighted reward can be called as
    reward(completion, problem). Without modules, an unknown name is left to
    nanor1.rewards.parse_weights (its message lists the registered rewards)."""
    modules = load(rewards)
    for name in [p.partition("=")[0].strip() for p in reward_weights.split(",") if p.strip()]:
        if name in REWARDS:
            REWARDS[name] = as_reward(REWARDS[name], name, _where(REWARDS[name]), flag)
        elif modules:
            fn, source = _find(name, modules)
            if fn is None:
                fail(f"{flag}: unknown reward {name!r}: not registered (registered: "
                     f"{', '.join(sorted(REWARDS))}) and no function {name} in "
                     f"{', '.join(m['entry'] for m in modules)}")
            register_reward(name)(as_reward(fn, name, source, flag))


def _find(name: str, modules: list[dict]):
    for m in modules:
        fn = getattr(m["module"], name, None)
        if inspect.isfunction(fn):
            return fn, m["entry"]
    return None, None


def _where(fn) -> str:
    """The file that defines fn, as --rewards named it when it is a loaded one."""
    path = getattr(getattr(fn, "__code__", None), "co_filename", None)
    if not path:
        return "?"
    for m in _LOADED.values():
        if m["file"] and os.path.realpath(m["file"]) == os.path.realpath(path):
            return m["entry"]
    return os.path.relpath(path)


def as_reward(fn, name: str, source: str, flag: str = "--reward_weights"):
    """fn if it takes (completion, problem); a wrapper if it has TRL's form; else an error."""
    label = f"{flag}: reward {name!r} ({source}, function {getattr(fn, '__name__', fn)})"
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        fail(f"{label}: not a function")
    if is_trl_form(sig):  # first: (prompts, completions, **kwargs) also binds two arguments
        return trl_reward(fn, sig, label)
    try:
        sig.bind("completion", "problem")
    except TypeError:
        fail(f"{label}: {fn.__name__}{sig} cannot be called as reward(completion, problem), "
             "nor has it TRL's form (prompts, completions, **kwargs)")
    return fn


def is_trl_form(sig: inspect.Signature) -> bool:
    kinds = {p.kind for p in sig.parameters.values()}
    return "completions" in sig.parameters and inspect.Parameter.VAR_KEYWORD in kinds


# -----------------------------------------------------------------------------
# TRL's form: one call per completion, the problem's fields as one-element columns

def problem_columns(problem) -> dict:
    """{"family": [...], ...}: each field of the Problem as a list of one (a dataset column)."""
    if dataclasses.is_dataclass(problem):
        return {f.name: [getattr(problem, f.name)] for f in dataclasses.fields(problem)}
    return {k: [v] for k, v in vars(problem).items()} if hasattr(problem, "__dict__") else {}


def trl_reward(fn, sig: inspect.Signature, label: str):
    """reward(completion, problem) that calls the TRL-form fn; the completion format (text or
    messages) is decided here, once (module docstring)."""
    probe = sample_problem(random.Random(0), "arithmetic", 1)
    given = {"prompts", "completions", *problem_columns(probe)}
    needed = [p.name for p in sig.parameters.values() if p.default is p.empty
              and p.name not in given and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if needed:
        fail(f"{label}: needs {', '.join(needed)}, which nanor1 does not pass (it passes prompts, "
             f"completions and the Problem fields {', '.join(problem_columns(probe))})")

    def call(completion, problem, conversational: bool) -> float:
        prompt = format_prompt(problem)
        if conversational:
            prompt = [{"role": "user", "content": prompt}]
            completion = [{"role": "assistant", "content": completion}]
        value = fn(prompts=[prompt], completions=[completion], **problem_columns(problem))[0]
        return 0.0 if value is None else float(value)  # None: TRL's "this reward does not apply"

    well_formed = f"<think> {probe.question} </think> <answer> {probe.answer} </answer>"
    try:
        call(well_formed, probe, conversational=False)
        conversational = False
    except Exception as on_text:
        try:
            call(well_formed, probe, conversational=True)
            conversational = True
        except Exception:
            where = os.path.realpath(fn.__code__.co_filename) if hasattr(fn, "__code__") else None
            fail(f"{label}: raised on a well-formed response: {_one_line(on_text, where)}")

    def reward(completion, problem) -> float:
        return call(completion, problem, conversational)
    reward.__name__, reward.__doc__ = fn.__name__, fn.__doc__
    # the original as an attribute, not __wrapped__: inspect.signature would follow that one
    reward.trl_function, reward.conversational = fn, conversational
    return reward
