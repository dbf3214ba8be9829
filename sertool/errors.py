"""User-facing errors.

A :class:`SertoolError` is an expected failure caused by input (a missing file, a malformed
label line, an unknown option value). The CLI prints its message as one line and exits
non-zero, as it does for an :class:`OSError` (the file system refused: :func:`os_error_line`);
any other exception is a bug and shows a traceback with ``SERTOOL_DEBUG=1``.

Example:
    >>> raise SertoolError("manifest not found: data/x/manifest.jsonl")
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: manifest not found: data/x/manifest.jsonl
"""


class SertoolError(Exception):
    """An error the user can fix; its message is shown as one line."""


def os_error_line(e: OSError) -> str:
    """One line for a file-system failure: what was refused, on which path, and why.

    Example:
        >>> os_error_line(IsADirectoryError(21, "Is a directory", "exp/fold-1/checkpoints"))
        'cannot write or read exp/fold-1/checkpoints: Is a directory'
    """
    what = e.strerror or type(e).__name__
    paths = " → ".join(str(p) for p in (e.filename, e.filename2) if p)
    return f"cannot write or read {paths}: {what}" if paths else f"file system error: {what}"
