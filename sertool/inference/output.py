"""Writing ``sertool infer``'s records: JSON lines (stdout or a file) or CSV, chosen by the file's extension.

JSON lines: one strict JSON object a line (:func:`sertool.inference.records.dumps`). CSV: one
row a record, with the columns fixed from the start (so the file streams): ``file`` (and ``id``
from a manifest), ``segment, start, end, segments`` when segmenting, ``emotion``, one
``prob_<label>`` column per class, each other head (its label and ``<head>_prob_<label>``
columns, or its number), ``windows``, ``silent_windows``, ``warning``, ``skipped`` when
segmenting, and ``error``. A record leaves the columns it has no value for empty.

Example:
    >>> import io
    >>> example = {"emotion": "sad", "probabilities": {"happy": 0.25, "sad": 0.75}, "gender": "F",
    ...            "gender_probabilities": {"F": 0.9, "M": 0.1}}
    >>> columns = csv_columns(example)
    >>> columns
    ['file', 'emotion', 'prob_happy', 'prob_sad', 'gender', 'gender_prob_F', 'gender_prob_M', 'windows',
     'silent_windows', 'warning', 'error']
    >>> out = io.StringIO()
    >>> w = CsvWriter(out, columns)
    >>> w.write({"file": "a.wav", **example}); w.write({"file": "b.wav", "error": "too short"})
    >>> print(out.getvalue().replace("\\r", ""), end="")
    file,emotion,prob_happy,prob_sad,gender,gender_prob_F,gender_prob_M,windows,silent_windows,warning,error
    a.wav,sad,0.25,0.75,F,0.9,0.1,,,,
    b.wav,,,,,,,,,,too short
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any, TextIO

from sertool.inference.records import dumps


def _flat_name(key: str, label: str) -> str:
    return f"prob_{label}" if key == "probabilities" else f"{key.removesuffix('_probabilities')}_prob_{label}"


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """A record as one CSV row: probability dicts spread over ``prob_<label>`` columns."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            row.update({_flat_name(key, str(k)): v for k, v in value.items()})
        else:
            row[key] = value
    return row


def csv_columns(example: dict[str, Any], segmented: bool = False, ids: bool = False) -> list[str]:
    """The CSV header for answers shaped like ``example`` (see the module docstring)."""
    head = ["file"] + (["id"] if ids else []) + (["segment", "start", "end", "segments"] if segmented else [])
    tail = ["windows", "silent_windows", "warning"] + (["skipped"] if segmented else []) + ["error"]
    return head + list(flatten(example)) + tail


class JsonLinesWriter:
    """Records as JSON lines."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(dumps(record) + "\n")


class CsvWriter:
    """Records as CSV rows under a fixed header (written at once)."""

    def __init__(self, stream: TextIO, columns: list[str]):
        self.writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        self.writer.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        self.writer.writerow(flatten(record))


def is_csv(path: str | Path | None) -> bool:
    return path is not None and str(path) != "-" and Path(path).suffix.lower() == ".csv"


def open_output(path: str | Path | None) -> TextIO:
    """The stream for ``path`` (created with its folders; ``None`` or ``-``: standard output)."""
    if path is None or str(path) == "-":
        return sys.stdout
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", encoding="utf-8", newline="" if is_csv(path) else None)
