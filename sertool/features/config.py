"""Settings of the features stage: dataclasses filled from YAML, unknown keys refused.

Every extractor, the augmenter and the stored random-resampling variants own a config
dataclass whose defaults follow the papers. :func:`build_config` fills one from a mapping
(a YAML section), checking names and value types, so a typo in ``--config`` is one clear
error instead of a silently ignored setting.

The ``--config`` YAML of ``sertool features`` has one section per extractor name plus the
shared sections (all optional)::

    fbank:                 # fields of FbankConfig
      num_mel_bins: 80
    pitch:
      method: harvest
    augment:               # fields of AugmentConfig (speecheq.txt §2.5)
      copies: 2
      pitch_shift: [-3, 3]
    random_resample:       # fields of RandomResampleConfig (stored variants)
      copies: 1
    shard_size: 100        # utterances per HDF5 shard

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Conf:
    ...     bins: int = 80
    ...     window: str = "hamming"
    >>> build_config(Conf, {"bins": 40}, "fbank")
    Conf(bins=40, window='hamming')
    >>> build_config(Conf, {"binz": 40}, "fbank")
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: unknown fbank setting 'binz' (known: bins, window)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from sertool.errors import SertoolError

C = TypeVar("C")

#: Top-level keys of the ``--config`` YAML besides extractor names.
SHARED_SECTIONS = ("augment", "random_resample", "shard_size")

DEFAULT_SHARD_SIZE = 100


def load_yaml(path: str | Path | None) -> dict[str, Any]:
    """Read a YAML mapping (``{}`` for ``None``); unreadable or non-mapping files raise."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise SertoolError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SertoolError(f"cannot parse {path}: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SertoolError(f"{path} must hold a mapping of settings, got {type(data).__name__}")
    return data


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Check ``value`` against the type of the field's default (YAML gives ints for floats)."""
    if default is None:
        return value  # optional fields accept any value; the config's validate() checks it
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SertoolError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SertoolError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SertoolError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SertoolError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise SertoolError(f"{where} must be a list of {len(default)} values, got {value!r}")
        return tuple(_coerce(v, d, where) for v, d in zip(value, default))
    return value


def build_config(cls: type[C], overrides: Mapping[str, Any] | None, where: str) -> C:
    """Instantiate dataclass ``cls`` with ``overrides`` on top of its defaults.

    ``where`` names the section in error messages. A ``validate()`` method on the
    dataclass, when present, checks value ranges after construction.
    """
    overrides = dict(overrides or {})
    if not isinstance(overrides, dict):
        raise SertoolError(f"{where} settings must be a mapping, got {overrides!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise SertoolError(f"unknown {where} setting {unknown[0]!r} (known: {', '.join(fields)})")
    values = {}
    for name, value in overrides.items():
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        values[name] = _coerce(value, default, f"{where}.{name}")
    conf = cls(**values)
    validate = getattr(conf, "validate", None)
    if validate is not None:
        validate()
    return conf


def config_dict(conf: Any) -> dict[str, Any]:
    """A dataclass as a plain YAML/JSON-friendly dict (tuples become lists)."""

    def plain(v: Any) -> Any:
        return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v

    return {k: plain(v) for k, v in dataclasses.asdict(conf).items()}


def require(condition: bool, message: str) -> None:
    """Raise :class:`SertoolError` with ``message`` unless ``condition`` holds (for validate())."""
    if not condition:
        raise SertoolError(message)
