"""Utilities sertool's tests and examples use to generate small fixtures, like ``numpy.testing``.

Everything here is generated on the spot (seeded, a few kilobytes to a few megabytes), never
downloaded:

- :mod:`sertool.testing.audio`: synthetic signals, WAV files and a small WAV corpus with its manifest.
- :mod:`sertool.testing.corpora`: reading back and checking the outputs of ``sertool prep``.
- :mod:`sertool.testing.experiments`: tiny experiment configurations on those corpora.

Running the command line in-process lives in the CLI package's own ``testing`` module (only the CLI imports the CLI).
"""
