"""Encoders (a registry by name) and the multi-task model that joins them to task heads.

Importing this package registers every built-in encoder.
"""

from sertool.models import sa_cnn_blstm  # noqa: F401  (registers "sa_cnn_blstm")
from sertool.models.registry import build_encoder, encoder_names, register_encoder

__all__ = ["build_encoder", "encoder_names", "register_encoder"]
