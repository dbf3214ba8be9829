"""User-facing errors.

A :class:`SertoolError` is an expected failure caused by input (a missing file, a malformed
label line, an unknown option value). The CLI prints its message as one line and exits
non-zero; any other exception is a bug and shows a traceback with ``SERTOOL_DEBUG=1``.

Example:
    >>> raise SertoolError("manifest not found: data/x/manifest.jsonl")
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: manifest not found: data/x/manifest.jsonl
"""


class SertoolError(Exception):
    """An error the user can fix; its message is shown as one line."""
