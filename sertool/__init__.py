"""sertool: multi-task speech emotion recognition toolkit.

Stages (each a ``sertool`` sub-command and a library function):
``prep`` → ``features`` → ``train`` → ``eval`` → ``infer``.
"""

__version__ = "0.1.0"
