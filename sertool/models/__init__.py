"""Encoders (a registry by name) and the multi-task model that joins them to task heads.

Importing this package registers every built-in encoder: ``sa_cnn_blstm`` (sa_cnn_blstm.txt),
``ecapa_tdnn`` (SpeechEQ's backbone, speecheq.txt), ``blstm_attention`` (selective_mtl.txt) and the
self-supervised ``wav2vec2``, ``hubert`` and ``wavlm`` (torchaudio's models, ssl_mtl.txt), and the
decomposed-speech ``decomposition``, ``speech_autoencoder``, ``decomposition_ssl`` and ``autoencoder_ssl``
(decomposed_speech_mtl.txt).
"""

from sertool.models import blstm_attention, decomposed, ecapa_tdnn, sa_cnn_blstm, ssl  # noqa: F401  (register the encoders)
from sertool.models.registry import ENCODERS, Encoder, build_encoder, encoder_class, register_encoder

__all__ = ["ENCODERS", "Encoder", "build_encoder", "encoder_class", "register_encoder"]
