"""Command-line overrides for config dataclasses: `--key=value`, validated, with clear errors.

    cfg = parse_overrides(TrainConfig(), sys.argv[1:])
    cfg, explicit = parse_with_preset(PretrainConfig(), sys.argv[1:], PRESETS)  # flags first, then
                                                                                  the preset

Every knob of every script is a dataclass field with a real default and a one-line `# comment` (what
--help prints). A flag must name an existing field and parse as that field's type; otherwise the
script exits with status 2 and a message naming the key (a typo such as `--lr_rate=1e-3` must never
be silently ignored). Values are parsed by type, never evaluated as code. A preset is a dict of
field values chosen by the config's `preset` field: it fills every field that no flag set.
"""
import dataclasses
import inspect
import io
import sys
import textwrap
import tokenize
import typing


class ConfigError(SystemExit):
    """Raised for a bad flag; as a SystemExit it ends a script with status 2 and the message on
    stderr."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message

    def __str__(self):
        return self.message


def _fail(message: str):
    print(message, file=sys.stderr)  # an uncaught SystemExit(2) prints nothing itself
    raise ConfigError(message)


def _parse_value(key: str, text: str, kind):
    origin = typing.get_origin(kind)
    # Optional[X] / X | None
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _parse_value(key, text, args[0])
    if kind is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        _fail(f"error: --{key}={text!r}: expected a boolean (true/false)")
    if kind in (int, float):
        try:
            return kind(text) if kind is float else int(text.replace("_", ""))
        except ValueError:
            _fail(f"error: --{key}={text!r}: expected {kind.__name__}")
    if kind is str:
        return text
    if origin is tuple or kind is tuple:
        inner = (typing.get_args(kind) or (str,))[0]
        return tuple(_parse_value(key, t.strip(), inner) for t in text.split(",") if t.strip())
    _fail(f"error: --{key}: unsupported field type {kind}")


def field_comments(cls) -> dict[str, str]:
    """{field: the trailing `# comment` of its line} from the dataclass's source and its dataclass
    bases' (a subclass's comment wins; {} where the source is missing)."""
    comments = {}
    for c in reversed(cls.__mro__):
        if dataclasses.is_dataclass(c):
            comments.update(_own_field_comments(c))
    return comments


def _own_field_comments(cls) -> dict[str, str]:
    try:
        tokens = list(tokenize.generate_tokens(
            io.StringIO(textwrap.dedent(inspect.getsource(cls))).readline))
    except (OSError, TypeError, SyntaxError, tokenize.TokenError):
        return {}
    names, comments, line, last = {f.name for f in dataclasses.fields(cls)}, {}, [], None
    for tok in tokens:
        text = tok.string.lstrip("#").strip()
        if tok.type in (tokenize.NEWLINE, tokenize.NL):
            line = []
        elif tok.type == tokenize.COMMENT and len(line) > 1 and line[0] in names and line[1] == ":":
            last = line[0]
            comments.setdefault(last, text)
        # a comment line continuing the field's
        elif tok.type == tokenize.COMMENT and not line and last:
            comments[last] += " " + text
        elif tok.type not in (tokenize.INDENT, tokenize.DEDENT, tokenize.COMMENT):
            line.append(tok.string)
            last = None
    return comments


def help_text(cfg, preset: dict | None = None, preset_name: str | None = None) -> str:
    """One line per field: flag, type, value (the preset's where it sets one, else cfg's) and
    description. preset_name: the header's name of the preset (default: cfg.preset)."""
    hints, about = typing.get_type_hints(type(cfg)), field_comments(type(cfg))
    name = preset_name or getattr(cfg, "preset", "")
    values = f"preset {name}" if preset is not None else "defaults"
    lines = [f"options for {type(cfg).__name__} (--key=value; values: {values}):"]
    for f in dataclasses.fields(cfg):
        kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
        default = getattr(cfg, f.name)
        value = (preset or {}).get(f.name, default)
        shown = repr(value) + (f" (default {default!r})" if value != default else "")
        lines.append(f"  --{f.name:<20} {kind:<6} {shown:<22} {about.get(f.name, '')}".rstrip())
    return "\n".join(lines)


def _key(arg: str) -> str:
    """The field a `--key=value` flag names: '--out-dir=a' -> 'out_dir'."""
    return arg[2:].partition("=")[0].replace("-", "_")


def flag_keys(argv: list[str]) -> set[str]:
    """The fields the command line sets (whatever config they belong to)."""
    return {_key(arg) for arg in argv if arg.startswith("--")}


def parse_overrides(cfg, argv: list[str], allow_positional: bool = False):
    """Apply `--key=value` flags from argv to the dataclass instance cfg (in place) and return
    it."""
    hints = typing.get_type_hints(type(cfg))
    names = {f.name for f in dataclasses.fields(cfg)}
    for arg in argv:
        if arg in ("-h", "--help"):
            print(help_text(cfg))
            raise SystemExit(0)
        if not arg.startswith("--"):
            if allow_positional:
                continue
            _fail(f"error: unexpected argument {arg!r}; options are --key=value (see --help)")
        key = _key(arg)
        _, eq, value = arg.partition("=")
        if key not in names:
            close = [n for n in names if n.startswith(key[:3])]
            hint = f" (did you mean {', '.join('--' + c for c in sorted(close))}?)" if close else ""
            _fail(f"error: unknown option --{key}{hint}; see --help")
        if not eq:
            if hints[key] is bool:
                value = "true"
            else:
                _fail(f"error: --{key} needs a value: --{key}=...")
        setattr(cfg, key, _parse_value(key, value, hints[key]))
    return cfg


def parse_overrides_multi(cfgs: list, argv: list[str]) -> list:
    """Like parse_overrides, for several dataclasses at once: each --key goes to the first that has
    the field."""
    fields_of = [{f.name for f in dataclasses.fields(c)} for c in cfgs]
    per_cfg = [[] for _ in cfgs]
    for arg in argv:
        if arg in ("-h", "--help"):
            print("\n\n".join(help_text(c) for c in cfgs))
            raise SystemExit(0)
        key = _key(arg) if arg.startswith("--") else None
        owner = next((i for i, names in enumerate(fields_of) if key in names), 0)
        per_cfg[owner].append(arg)  # unknown keys go to the first config, which reports them
    return [parse_overrides(c, a) for c, a in zip(cfgs, per_cfg)]


def apply_preset(cfg, presets: dict, explicit: set | None = None):
    """cfg, changed in place: presets[cfg.preset]'s value in every field not in `explicit` (the
    fields a command line set). The preset's keys that are no fields (a model name, say) are the
    caller's. explicit=None, for a config built in code: the fields that differ from their defaults,
    so a value equal to its default is the preset's to replace."""
    if cfg.preset not in presets:
        raise SystemExit(f"error: --preset={cfg.preset!r}: choose one of {sorted(presets)}")
    if explicit is None:
        default = type(cfg)()
        explicit = {f.name for f in dataclasses.fields(cfg)
                    if getattr(cfg, f.name) != getattr(default, f.name)}
    return fill(cfg, presets[cfg.preset], explicit)


def fill(cfg, values: dict, explicit: set):
    """cfg, changed in place: values[field] in every field of cfg not in `explicit`; keys that are
    no fields of cfg are left to the caller."""
    names = {f.name for f in dataclasses.fields(cfg)}
    for key, value in values.items():
        if key in names and key not in explicit:
            setattr(cfg, key, value)
    return cfg


def parse_with_preset(cfg, argv: list[str], presets: dict):
    """parse_overrides, then apply_preset: the flags first, the chosen preset fills the rest.
    Returns (cfg, the fields the flags set). --help prints each field with the value the chosen
    preset (or the default one) gives."""
    explicit = flag_keys(argv)
    if "-h" in argv or "--help" in argv:
        chosen = parse_overrides(dataclasses.replace(cfg), [a for a in argv if _key(a) == "preset"])
        print(help_text(chosen, presets.get(chosen.preset)))
        raise SystemExit(0)
    return apply_preset(parse_overrides(cfg, argv), presets, explicit), explicit
