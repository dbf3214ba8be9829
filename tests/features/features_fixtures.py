"""The features tests' generators, kept importable by path for ``tests/test_inference.py``.

They live in :mod:`sertool.testing.audio`; remove this file once that test imports them from there.
"""

from sertool.testing.audio import harmonic_tone, make_corpus

__all__ = ["harmonic_tone", "make_corpus"]
