"""Extractors by name: build one from a config mapping, or rebuild the one that wrote a directory.

Registered names: ``fbank``, ``logmel``, ``mel80`` (SpeechEQ), ``logfbank40`` (selective MTL),
``speechsplit`` (the decomposed-speech paper's SpeechSplit spectrogram),
``spectrogram``, ``pitch``, ``waveform`` (see
:mod:`sertool.features.spectral`, :mod:`sertool.features.pitch`,
:mod:`sertool.features.waveform`). Several names joined with ``+`` are computed in one pass
by the pipeline (:func:`parse_extractor_names`).

:func:`load_extractor` rebuilds the extractor that wrote a feature directory, so new clips get
the same features at inference.

Example:
    >>> import numpy as np
    >>> fb = get_extractor("fbank", {"num_mel_bins": 40})
    >>> fb.dims, fb.frame_shift, fb.sample_rate
    (40, 0.01, 16000)
    >>> fb(np.zeros(8000, np.float32), 8000).shape          # resampled to 16 kHz: 1 + (16000 − 400) // 160
    (98, 40)
    >>> parse_extractor_names("fbank+pitch")
    ['fbank', 'pitch']
    >>> get_extractor("fbank", {"num_bins": 40})
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: unknown fbank setting 'num_bins' (known: ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sertool.errors import SertoolError
from sertool.features import pitch, spectral, waveform  # noqa: F401  (registers the extractors)
from sertool.features.base import EXTRACTORS, Extractor
from sertool.features.config import build_config

#: File in a feature directory recording the extractor name and its resolved settings.
CONFIG_NAME = "config.yaml"


def extractor_names() -> list[str]:
    """All registered extractor names."""
    return EXTRACTORS.names()


def parse_extractor_names(spec: str) -> list[str]:
    """Split ``"fbank+pitch"`` into known, distinct names (``SertoolError`` otherwise)."""
    names = [n.strip() for n in spec.split("+")]
    for n in names:
        EXTRACTORS.get(n)  # a one-line error naming the known extractors
    if len(set(names)) != len(names):
        raise SertoolError(f"extractor named twice in {spec!r}")
    return names


def get_extractor(name: str, conf: Mapping[str, Any] | None = None) -> Extractor:
    """The extractor registered as ``name`` with ``conf`` overriding its paper defaults."""
    cls = EXTRACTORS.get(name)
    return cls(build_config(cls.Config, conf, name))


def load_extractor(feats_dir: str | Path) -> Extractor:
    """Rebuild the extractor that wrote ``feats_dir`` from its ``config.yaml``."""
    path = Path(feats_dir) / CONFIG_NAME
    if not path.is_file():
        raise SertoolError(f"no {CONFIG_NAME} in {feats_dir}: not a feature directory written by sertool")
    saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(saved, dict) or "extractor" not in saved:
        raise SertoolError(f"{path} does not name an extractor")
    return get_extractor(saved["extractor"], saved.get("conf") or {})
