"""The one config system: typed dataclasses, loaded from YAML, overridden from the command line.

    cfg = config.load(GraphConfig, "launch/demo.yaml", overrides=["nodes.0.parameters.rate_hz=60"])

Every problem becomes a `ConfigError` whose message is one line naming the file and the key
(`launch/demo.yaml: nodes[1].restart: expected one of 'never', 'on-failure', 'always', got 'x'`),
so the CLI can print it and exit 2 without a traceback.

Supported field types: bool, int, float, str, pathlib.Path, typing.Any, Optional[X], X | None,
Literal[...], Enum subclasses, list[X], tuple[X, ...], dict[str, X] and nested dataclasses.
A dataclass may define `validate(self)` raising ValueError for cross-field checks; the message is
reported with the dataclass's key path.
"""
from __future__ import annotations

import dataclasses
import enum
import math
import pathlib
import re
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

T = TypeVar("T")


_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)$")


class ConfigError(ValueError):
    """A bad configuration. str(error) is one line that names the problem and the key."""


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass `cls` from plain data (as parsed from YAML), strictly: unknown keys,
    missing required keys and wrong types are errors naming the key path."""
    return _convert(cls, data, path)


def _convert(tp: Any, value: Any, path: str) -> Any:
    where = path or "<root>"
    if tp is Any or tp is object:
        return value
    origin = get_origin(tp)

    if origin is Union or origin is types.UnionType:
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        non_none = [o for o in options if o is not type(None)]
        errors = []
        for option in non_none:
            try:
                return _convert(option, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(non_none) == 1:
            raise ConfigError(errors[0])
        names = " or ".join(_type_name(o) for o in non_none)
        raise ConfigError(f"{where}: expected {names}, got {_describe(value)}")

    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed or type(value) is not type(allowed[allowed.index(value)]):
            listed = ", ".join(repr(a) for a in allowed)
            raise ConfigError(f"{where}: expected one of {listed}, got {_describe(value)}")
        return value

    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, path)

    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            listed = ", ".join(repr(m.value) for m in tp)
            raise ConfigError(f"{where}: expected one of {listed}, got {_describe(value)}") from None

    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_describe(value)}")
        args = get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(a, v, _join(path, i)) for i, (a, v) in enumerate(zip(args, value)))
        item_tp = args[0] if args else Any
        items = [_convert(item_tp, v, _join(path, i)) for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items

    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        return {
            _convert(key_tp, k, path): _convert(val_tp, v, _join(path, str(k))) for k, v in value.items()
        }

    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT.match(value.strip()):
            value = float(value)   # YAML 1.1 reads 1e9 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_describe(value)}")
        return value
    if tp is pathlib.Path:
        if not isinstance(value, (str, pathlib.Path)):
            raise ConfigError(f"{where}: expected a path, got {_describe(value)}")
        return pathlib.Path(value)
    raise TypeError(f"config field {where} has unsupported type {tp!r}")


def _convert_dataclass(cls: Any, value: Any, path: str) -> Any:
    where = path or "<root>"
    if isinstance(value, cls):
        return value
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in value if k not in fields]
    if unknown:
        known = ", ".join(fields)
        raise ConfigError(f"{_join(path, str(unknown[0]))}: unknown key (known keys: {known})")
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            given = value[name]
            if isinstance(given, dict) and field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
                if dataclasses.is_dataclass(default):
                    # a partial mapping overrides the field's own default, not the nested class's:
                    # `bc: {steps: 50}` keeps the rest of what `bc` defaults to here
                    given = _deep_merge(to_dict(default), given)
            kwargs[name] = _convert(hints[name], given, _join(path, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_join(path, name)}: required key is missing")
    try:
        obj = cls(**kwargs)
        validate = getattr(obj, "validate", None)
        if callable(validate):
            validate()
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
    return obj


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def to_dict(obj: Any) -> Any:
    """Plain data (YAML/JSON-ready) from a config dataclass."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, pathlib.Path):
        return str(obj)
    return obj


def load_yaml(path: str | pathlib.Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a one-line ConfigError."""
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.__class__.__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None


def apply_overrides(data: Any, overrides: typing.Iterable[str]) -> Any:
    """Apply `dotted.key=value` overrides (value parsed as YAML; list items by index: nodes.0.x=1)."""
    data = {} if data is None else data
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node = data
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {key}: {part!r} is not an index of a {len(node)}-item list")
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"override {key}: {'.'.join(parts[:depth])} is not a mapping or list")
    return data


def load(cls: type[T], path: str | pathlib.Path | None, overrides: typing.Iterable[str] = ()) -> T:
    """Load dataclass `cls` from a YAML file (or defaults when path is None) plus overrides."""
    data = load_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    prefix = f"{path}: " if path is not None else ""
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None
