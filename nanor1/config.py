"""Command-line overrides for config dataclasses: `--key=value`, validated, with clear errors.

    cfg = parse_overrides(TrainConfig(), sys.argv[1:])

Every knob of every script is a dataclass field with a default. A flag must name an existing field and parse as
that field's type; otherwise the script exits with status 2 and a message naming the key (a typo such as
`--lr_rate=1e-3` must never be silently ignored). Values are parsed by type, never evaluated as code.
"""
import dataclasses
import sys
import typing


class ConfigError(SystemExit):
    """Raised for a bad flag; as a SystemExit it ends a script with status 2 and the message on stderr."""

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
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":  # Optional[X] / X | None
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


def help_text(cfg) -> str:
    hints = typing.get_type_hints(type(cfg))
    lines = [f"options for {type(cfg).__name__} (--key=value):"]
    for f in dataclasses.fields(cfg):
        kind = getattr(hints[f.name], "__name__", str(hints[f.name]))
        lines.append(f"  --{f.name:<28} {kind:<8} default {getattr(cfg, f.name)!r}")
    return "\n".join(lines)


def parse_overrides(cfg, argv: list[str], allow_positional: bool = False):
    """Apply `--key=value` flags from argv to the dataclass instance cfg (in place) and return it."""
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
        key, eq, value = arg[2:].partition("=")
        key = key.replace("-", "_")
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
    """Like parse_overrides, for several dataclasses at once: each --key goes to the first that has the field."""
    fields_of = [{f.name for f in dataclasses.fields(c)} for c in cfgs]
    per_cfg = [[] for _ in cfgs]
    for arg in argv:
        if arg in ("-h", "--help"):
            print("\n\n".join(help_text(c) for c in cfgs))
            raise SystemExit(0)
        key = arg[2:].partition("=")[0].replace("-", "_") if arg.startswith("--") else None
        owner = next((i for i, names in enumerate(fields_of) if key in names), 0)
        per_cfg[owner].append(arg)  # unknown keys go to the first config, which reports them
    return [parse_overrides(c, a) for c, a in zip(cfgs, per_cfg)]
