"""The decomposed-speech model (decomposed_speech_mtl.txt): SpeechSplit's encoders plus a timbre encoder.

Four encoders split a SpeechSplit spectrogram (80 bands, 16 ms hop) and its 257-way one-hot pitch
contour into rhythm, content, pitch and timbre codes, and a decoder rebuilds the spectrogram from
them (§2.2, Figures 1–2; the widths are SpeechSplit's released ``hparams.py``):

- ``E_R`` rhythm: the raw spectrogram → one conv block (80 → 128, kernel 5, GroupNorm, ReLU) →
  BiLSTM with a bottleneck of 1 unit per direction (``Encoder_t``);
- ``E_C`` content: the randomly resampled spectrogram → 3 conv blocks of 512 → 2-layer BiLSTM,
  bottleneck 8 per direction; ``E_F`` pitch: the resampled one-hot pitch → 3 conv blocks of 256 →
  BiLSTM, bottleneck 32 (``Encoder_7``). Random resampling (:class:`~sertool.layers.resample.InterpLnr`)
  is applied to the inputs and after each conv block, one plan for both streams so they stay aligned;
- ``E_T`` timbre (the paper's addition): the raw spectrogram → a conv block → BiLSTM, mean-pooled
  over the utterance into ``Z_T``, the vector a speaker classifier reads (eq. 4);
- codes are down-sampled by 8 (the forward state at the end and the backward state at the start of
  each block of 8 frames, time padded to a multiple of 8, as SpeechSplit) and up-sampled back by
  repetition; the decoder is a 3-layer BiLSTM of 512 on ``[Z_R, Z_C, Z_F, Z_T]`` (``Decoder_3``; its
  linear layer → 80 bands is the ``reconstruction`` task's, ``lstm_units: null``).

GroupNorm statistics are taken over each utterance's valid frames only and every recurrent layer
runs on each sequence's own length (:class:`StackedBiLSTM`), so an utterance's codes never depend
on the padding of its batch (in eval mode).

Outputs (:class:`Decomposition`): ``rhythm``, ``content``, ``pitch``, ``timbre`` (the codes
mean-pooled per utterance), ``pooled`` (their concatenation), ``decoder`` ``(N, L, 1024)`` the
decoder's states with ``decoder_lengths`` (also as ``frames``/``frame_lengths``), and the code
sequences ``codes_<name>`` with ``code_lengths_<name>``. During training the resampled streams may
be longer than the input; the decoder then runs over ``max(T, T')`` frames and the reconstruction
task compares the first ``T`` with the target.

The paper's fine-tuning model (§2.3) is :class:`DecompositionSSL` (``decomposition_ssl``): a
self-supervised encoder (:mod:`sertool.models.ssl`) on the waveform beside the decomposition on the
spectrogram and pitch; its ``pooled`` is the SSL encoder's mean-pooled output concatenated with the
pooled codes named in ``emotion_codes`` (Table 2: one at a time, or all four), ``frames`` the SSL
frames (the character CTC head), and it passes the decomposition's ``decoder`` and ``timbre`` on.
Table 3's M4 replaces the four encoders by one autoencoder (:class:`SpeechAutoencoder`,
``speech_autoencoder``; ``autoencoder_ssl`` beside an SSL encoder).

Example:
    >>> enc = build_encoder("decomposition", TINY).eval()
    >>> enc.inputs, enc.aligned_inputs
    ({'spectrogram': 'features', 'pitch': 'features'}, ('spectrogram', 'pitch'))
    >>> out = enc(spectrogram=torch.rand(2, 45, 80), spectrogram_lengths=torch.tensor([45, 30]),
    ...           pitch=torch.rand(2, 45, 257), pitch_lengths=torch.tensor([45, 30]))
    >>> out["decoder"].shape, out["decoder_lengths"].tolist(), out["codes_content"].shape   # 45 → 6 codes of 8
    (torch.Size([2, 48, 64]), [45, 30], torch.Size([2, 6, 4]))
    >>> out["pooled"].shape, enc.output_dims["pooled"]        # Z_R 2 + Z_C 4 + Z_F 4 + Z_T 8
    (torch.Size([2, 18]), 18)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from sertool.errors import SertoolError
from sertool.layers.masking import lengths_to_mask
from sertool.layers.resample import InterpLnr
from sertool.models.registry import Encoder, build_encoder, register_encoder

#: The code names, in the decoder's input order.
CODES = ("rhythm", "content", "pitch", "timbre")
#: SpeechSplit's down-sampling factor of the codes (``freq``, ``freq_2``, ``freq_3`` = 8).
CODE_RATE = 8
#: A narrow configuration for tests and examples.
TINY: dict[str, Any] = {"rhythm_channels": 16, "content_channels": 16, "pitch_channels": 16,
                        "timbre_channels": 16, "content_neck": 2, "pitch_neck": 2, "timbre_neck": 4,
                        "decoder_units": 32, "decoder_layers": 1, "group_channels": 8}
#: Narrow configurations by encoder name (tests shrink a recipe's model with them).
NARROW: dict[str, dict[str, Any]] = {
    "decomposition": TINY,
    "speech_autoencoder": {"channels": 16, "neck": 4, "decoder_units": 8, "decoder_layers": 1, "group_channels": 8},
}


class MaskedGroupNorm(nn.GroupNorm):
    """GroupNorm over ``(N, C, T)`` with statistics over each utterance's valid frames (``mask`` ``(N, T)``).

    Example:
        >>> gn = MaskedGroupNorm(2, 4)
        >>> x, mask = torch.randn(1, 4, 6), torch.tensor([[True] * 4 + [False] * 2])
        >>> torch.allclose(gn(x, mask)[..., :4], gn(x[..., :4], mask[:, :4]), atol=1e-6)
        True
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c, t = x.shape
        w = mask[:, None, None, :].to(x.dtype)  # (N, 1, 1, T)
        g = x.view(n, self.num_groups, c // self.num_groups, t)
        count = (w.sum(-1, keepdim=True) * g.shape[2]).clamp(min=1)  # (N, 1, 1, 1)
        mean = (g * w).sum((2, 3), keepdim=True) / count
        var = (((g - mean) * w) ** 2).sum((2, 3), keepdim=True) / count
        y = ((g - mean) / torch.sqrt(var + self.eps)).view(n, c, t)
        return (y * self.weight[:, None] + self.bias[:, None]) * mask[:, None, :].to(x.dtype)


class ConvBlock(nn.Module):
    """SpeechSplit's conv block on ``(N, T, C)``: Conv1d (kernel 5, same length), GroupNorm of
    ``channels / group_channels`` groups (``chs_grp`` 16), ReLU; padding stays zero."""

    def __init__(self, in_dim: int, channels: int, group_channels: int = 16):
        super().__init__()
        if channels % group_channels:
            raise SertoolError(f"decomposition: {channels} channels do not split into groups of {group_channels}")
        self.conv = nn.Conv1d(in_dim, channels, 5, padding=2)
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain("relu"))  # SpeechSplit's ConvNorm
        self.norm = MaskedGroupNorm(channels // group_channels, channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = lengths_to_mask(lengths, x.shape[1])
        x = x * mask[..., None].to(x.dtype)  # zeros past the end, as if the sequence were alone
        return torch.relu(self.norm(self.conv(x.transpose(1, 2)), mask)).transpose(1, 2)


def downsample_codes(states: torch.Tensor, lengths: torch.Tensor, rate: int = CODE_RATE) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
    """BiLSTM states ``(N, T, 2h)`` → codes ``(N, ⌈T/rate⌉, 2h)`` and their counts ``⌈length/rate⌉``.

    Block ``k`` takes the forward state at its last frame and the backward state at its first
    (SpeechSplit's ``out_forward[:, rate-1::rate]``, ``out_backward[:, ::rate]``); a sequence whose
    length is not a multiple of ``rate`` takes its last block's forward state at its last valid
    frame, not on padding.

    Example:
        >>> s = torch.arange(10.0)[None, :, None].repeat(1, 1, 2)       # forward = backward = t
        >>> codes, n = downsample_codes(s, torch.tensor([10]), rate=4)
        >>> codes[0].tolist(), n.tolist()
        ([[3.0, 0.0], [7.0, 4.0], [9.0, 8.0]], [3])
    """
    n, t, d = states.shape
    h = d // 2
    k = math.ceil(t / rate)
    blocks = torch.arange(k, device=states.device)[None, :]  # (1, K)
    last = (lengths - 1).clamp(min=0)[:, None]
    fwd = torch.minimum(blocks * rate + rate - 1, last)  # (N, K)
    bwd = torch.minimum(blocks * rate, last)
    codes = torch.cat([torch.gather(states[..., :h], 1, fwd[..., None].expand(-1, -1, h)),
                       torch.gather(states[..., h:], 1, bwd[..., None].expand(-1, -1, d - h))], -1)
    counts = (lengths + rate - 1) // rate
    return codes * lengths_to_mask(counts, k)[..., None].to(codes.dtype), counts


def upsample_codes(codes: torch.Tensor, frames: int, rate: int = CODE_RATE) -> torch.Tensor:
    """Codes ``(N, K, D)`` repeated ``rate`` times along time, cut or zero-padded to ``frames``."""
    up = codes.repeat_interleave(rate, dim=1)[:, :frames]
    return nn.functional.pad(up, (0, 0, 0, frames - up.shape[1]))


def requantise_onehot(y: torch.Tensor) -> torch.Tensor:
    """A resampled one-hot pitch contour ``(N, T, 257)`` made one-hot again, as SpeechSplit quantises
    after resampling (its solver warps the continuous contour, then ``quantize_f0_torch``).

    Linear resampling mixes two neighbouring frames' one-hots; the bin of the mix is the mixed bin
    index rounded (the bin of the interpolated contour), and unvoiced (bin 0) where either frame is
    unvoiced (the released code's unvoiced value −1e10 swamps any interpolation). Rows of zeros
    (padding) stay zero.

    Example:
        >>> y = torch.zeros(1, 3, 257)
        >>> y[0, 0, 10], y[0, 0, 13] = 0.75, 0.25        # 3/4 of bin 10, 1/4 of bin 13
        >>> y[0, 1, 0], y[0, 1, 40] = 0.1, 0.9           # touches an unvoiced frame
        >>> requantise_onehot(y)[0].argmax(-1).tolist(), float(requantise_onehot(y)[0, 2].sum())
        ([11, 0, 0], 0.0)
    """
    total = y.sum(-1, keepdim=True)
    voiced = y[..., 1:]
    bins = torch.arange(1, y.shape[-1], device=y.device, dtype=y.dtype)
    mean_bin = (voiced * bins).sum(-1) / voiced.sum(-1).clamp(min=1e-12)
    idx = torch.where(y[..., 0] > 0, torch.zeros_like(mean_bin), torch.round(mean_bin)).long()
    return nn.functional.one_hot(idx, y.shape[-1]).to(y.dtype) * (total > 0).to(y.dtype)


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` ``(N, T, D)`` over each sequence's valid steps: ``(N, D)``."""
    mask = lengths_to_mask(lengths.clamp(min=1), x.shape[1])[..., None].to(x.dtype)
    return (x * mask).sum(1) / mask.sum(1)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each sequence of ``x`` ``(N, T, C)`` reversed within its length; padding stays where it was.

    Example:
        >>> reverse_padded(torch.arange(4.0)[None, :, None].repeat(2, 1, 1), torch.tensor([4, 2]))[..., 0].tolist()
        [[3.0, 2.0, 1.0, 0.0], [1.0, 0.0, 2.0, 3.0]]
    """
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (N, T)
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[2]))


class StackedBiLSTM(nn.Module):
    """Bidirectional LSTM layers run on padded batches without mixing padding into valid steps.

    Each layer is a forward and a backward one-way LSTM; the backward one runs on every sequence
    reversed within its own length, so it starts on the sequence's last valid frame. Padded steps
    come out as zeros. This is what a packed ``nn.LSTM(bidirectional=True)`` computes, without
    packing: PyTorch's CPU LSTM on packed sequences slices its input per step, and the backward of
    each slice writes a zero tensor the size of the whole input, quadratic in the length (a BiLSTM
    of 32 on 16 × 260 frames: about 10 s forward and backward on two cores, against 0.3 s for the
    fused unpacked kernel this runs twice).

    Example:
        >>> lstm = StackedBiLSTM(3, 4, layers=2)
        >>> x, n = torch.randn(2, 5, 3), torch.tensor([5, 2])
        >>> y = lstm(x, n)
        >>> y.shape, lstm.dim, torch.allclose(y[1:, :2], lstm(x[1:, :2], n[1:]), atol=1e-6)
        (torch.Size([2, 5, 8]), 8, True)
    """

    def __init__(self, in_dim: int, units: int, layers: int = 1):
        super().__init__()
        self.forward_layers = nn.ModuleList(nn.LSTM(in_dim if i == 0 else 2 * units, units, batch_first=True)
                                            for i in range(layers))
        self.backward_layers = nn.ModuleList(nn.LSTM(in_dim if i == 0 else 2 * units, units, batch_first=True)
                                             for i in range(layers))
        self.dim = 2 * units

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.clamp(min=1)
        mask = lengths_to_mask(lengths, x.shape[1])[..., None].to(x.dtype)
        for fwd, bwd in zip(self.forward_layers, self.backward_layers):
            back = reverse_padded(bwd(reverse_padded(x, lengths))[0], lengths)
            x = torch.cat([fwd(x)[0], back], -1) * mask
        return x


class _Stream(nn.Module):
    """Conv blocks and a BiLSTM; the caller runs the blocks (resampling between them) and the LSTM."""

    def __init__(self, in_dim: int, channels: int, blocks: int, neck: int, lstm_layers: int, group_channels: int):
        super().__init__()
        self.convs = nn.ModuleList(ConvBlock(in_dim if i == 0 else channels, channels, group_channels)
                                   for i in range(blocks))
        self.lstm = StackedBiLSTM(channels, neck, lstm_layers)
        self.dim = 2 * neck

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x, lengths)
        return self.lstm(x, lengths)


class _Decoder(nn.Module):
    """Codes up-sampled to the frame rate, concatenated, through a BiLSTM (``Decoder_3`` without its linear layer)."""

    def __init__(self, in_dim: int, units: int, layers: int):
        super().__init__()
        self.lstm = StackedBiLSTM(in_dim, units, layers)
        self.dim = 2 * units

    def forward(self, codes: list[torch.Tensor], vectors: list[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
        """``codes``: down-sampled code sequences; ``vectors``: utterance vectors given to every frame."""
        frames = max(CODE_RATE * c.shape[1] for c in codes)
        parts = [upsample_codes(c, frames) for c in codes]
        parts += [v[:, None, :].expand(-1, frames, -1) for v in vectors]
        return self.lstm(torch.cat(parts, -1), lengths)


class _DecoderOutputs:
    """The shared tail of both autoencoders' outputs."""

    @staticmethod
    def outputs(states: torch.Tensor, lengths: torch.Tensor,
                pooled: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**pooled, "pooled": torch.cat(list(pooled.values()), -1), "decoder": states,
                "decoder_lengths": lengths, "frames": states, "frame_lengths": lengths}


@register_encoder("decomposition")
class Decomposition(Encoder, _DecoderOutputs):
    """Rhythm, content, pitch and timbre encoders and the decoder (module docstring).

    Widths default to SpeechSplit's (``dim_enc_2`` 128, ``dim_enc`` 512, ``dim_enc_3`` 256,
    ``dim_neck_2`` 1, ``dim_neck`` 8, ``dim_neck_3`` 32, decoder 3 × 512, ``chs_grp`` 16); the
    timbre encoder's (one conv block of 256, bottleneck 32 per direction: ``Z_T`` of 64) are
    sertool's reading, the paper stating only "convolutional layers, normalization layers, and a
    bi-LSTM" (docs/protocols.md). ``resample``: the random resampling's ``segment`` and ``factor``
    (``{}``: none, the content and pitch encoders then see the raw inputs). ``pitch_onehot``: the
    pitch input is a one-hot contour, made one-hot again after resampling (:func:`requantise_onehot`).
    """

    inputs: ClassVar[dict[str, str]] = {"spectrogram": "features", "pitch": "features"}
    aligned_inputs: ClassVar[tuple[str, ...]] = ("spectrogram", "pitch")

    def __init__(self, spectrogram_dim: int = 80, pitch_dim: int = 257, rhythm_channels: int = 128,
                 rhythm_neck: int = 1, content_channels: int = 512, content_blocks: int = 3, content_neck: int = 8,
                 content_lstm_layers: int = 2, pitch_channels: int = 256, pitch_blocks: int = 3, pitch_neck: int = 32,
                 timbre_channels: int = 256, timbre_neck: int = 32, decoder_units: int = 512, decoder_layers: int = 3,
                 group_channels: int = 16, resample: dict[str, Any] | None = None, pitch_onehot: bool = True):
        super().__init__()
        self.spectrogram_dim, self.pitch_dim = int(spectrogram_dim), int(pitch_dim)
        self.pitch_onehot = bool(pitch_onehot)
        g = int(group_channels)
        self.rhythm = _Stream(spectrogram_dim, rhythm_channels, 1, rhythm_neck, 1, g)
        self.content = _Stream(spectrogram_dim, content_channels, content_blocks, content_neck, content_lstm_layers, g)
        self.pitch = _Stream(pitch_dim, pitch_channels, pitch_blocks, pitch_neck, 1, g)
        self.timbre = _Stream(spectrogram_dim, timbre_channels, 1, timbre_neck, 1, g)
        if content_blocks != pitch_blocks:
            raise SertoolError("decomposition: content_blocks and pitch_blocks must be equal (they are resampled "
                               "together after each block)")
        rr = {"segment": [19, 32], "factor": [0.5, 1.5]} if resample is None else resample
        self.resample = InterpLnr(**rr) if rr else None
        dims = {name: getattr(self, name).dim for name in CODES}
        self.decoder = _Decoder(sum(dims.values()), decoder_units, decoder_layers)
        self.output_dims = {**dims, "pooled": sum(dims.values()), "decoder": self.decoder.dim,
                            "frames": self.decoder.dim}

    @property
    def input_dims(self) -> dict[str, int]:
        return {"spectrogram": self.spectrogram_dim, "pitch": self.pitch_dim}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.decoder.lstm.parameters())

    def _warp(self, xs: list[torch.Tensor], lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        return self.resample(xs, lengths) if self.resample is not None else (xs, lengths)

    def forward(self, spectrogram: torch.Tensor, spectrogram_lengths: torch.Tensor, pitch: torch.Tensor,
                pitch_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        lengths = torch.minimum(spectrogram_lengths, pitch_lengths).clamp(min=1)  # aligned inputs: equal lengths
        t = min(spectrogram.shape[1], pitch.shape[1])
        spec, f0 = spectrogram[:, :t], pitch[:, :t]
        codes, counts = {}, {}
        for name, x in (("rhythm", spec), ("timbre", spec)):
            states = getattr(self, name)(x, lengths)
            if name == "timbre":
                timbre = masked_mean(states, lengths)  # Z_T: the utterance vector (eq. 4's speaker classifier)
            else:
                codes[name], counts[name] = downsample_codes(states, lengths)
        # E_C and E_F: one resampling plan for both streams at the input and after each conv block
        # (SpeechSplit's Encoder_7 warps the concatenated streams, solver.py the input)
        (c, f), warped = self._warp([spec, f0], lengths)
        if self.pitch_onehot and self.training and self.resample is not None:
            f = requantise_onehot(f)  # the resampled contour quantised again, as SpeechSplit's solver does
        for conv_c, conv_f in zip(self.content.convs, self.pitch.convs):
            (c, f), warped = self._warp([conv_c(c, warped), conv_f(f, warped)], warped)
        for name, x in (("content", c), ("pitch", f)):
            states = getattr(self, name).lstm(x, warped)
            codes[name], counts[name] = downsample_codes(states, warped)
        dec_lengths = torch.maximum(lengths, warped)
        states = self.decoder([codes[n] for n in ("rhythm", "content", "pitch")], [timbre], dec_lengths)
        pooled = {n: masked_mean(codes[n], counts[n]) for n in ("rhythm", "content", "pitch")}
        pooled["timbre"] = timbre
        out = self.outputs(states, dec_lengths, pooled)
        for n in ("rhythm", "content", "pitch"):
            out[f"codes_{n}"], out[f"code_lengths_{n}"] = codes[n], counts[n]
        return out


@register_encoder("speech_autoencoder")
class SpeechAutoencoder(Encoder, _DecoderOutputs):
    """Table 3's M4: one encoder (conv blocks, BiLSTM bottleneck, codes down-sampled by 8) and the
    decoder on the raw spectrogram, no decomposition and no resampling (decomposed_speech_mtl.txt §3.3).

    The paper gives no sizes; by default the encoder is the content encoder's (3 blocks of 512) and
    the bottleneck (41 per direction) the four codes' total per direction (1 + 8 + 32, timbre aside).

    Example:
        >>> ae = build_encoder("speech_autoencoder", NARROW["speech_autoencoder"]).eval()
        >>> out = ae(spectrogram=torch.rand(2, 20, 80), spectrogram_lengths=torch.tensor([20, 9]))
        >>> out["decoder"].shape, out["pooled"].shape
        (torch.Size([2, 24, 16]), torch.Size([2, 8]))
    """

    inputs: ClassVar[dict[str, str]] = {"spectrogram": "features"}

    def __init__(self, spectrogram_dim: int = 80, channels: int = 512, blocks: int = 3, neck: int = 41,
                 lstm_layers: int = 2, decoder_units: int = 512, decoder_layers: int = 3, group_channels: int = 16):
        super().__init__()
        self.input_dim = int(spectrogram_dim)
        self.encoder = _Stream(spectrogram_dim, channels, blocks, neck, lstm_layers, int(group_channels))
        self.decoder = _Decoder(self.encoder.dim, decoder_units, decoder_layers)
        self.output_dims = {"code": self.encoder.dim, "pooled": self.encoder.dim, "decoder": self.decoder.dim,
                            "frames": self.decoder.dim}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.decoder.lstm.parameters())

    def forward(self, spectrogram: torch.Tensor, spectrogram_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        lengths = spectrogram_lengths.clamp(min=1)
        codes, counts = downsample_codes(self.encoder(spectrogram, lengths), lengths)
        states = self.decoder([codes], [], lengths)
        out = self.outputs(states, lengths, {"code": masked_mean(codes, counts)})
        out["codes_code"], out["code_lengths_code"] = codes, counts
        return out


class _WithSSL(Encoder):
    """A self-supervised speech encoder on the waveform beside an autoencoder on feature inputs
    (decomposed_speech_mtl.txt §2.3, Figure 1)."""

    autoencoder: ClassVar[str] = "decomposition"
    codes: ClassVar[tuple[str, ...]] = CODES
    # frames are the SSL encoder's (CTC); the decoder reconstructs the spectrogram frame for frame,
    # so the stride heads see for the feature inputs is 1 (the waveform's is the SSL encoder's own)
    frame_stride = 1

    def __init__(self, ssl: str = "wav2vec2", ssl_conf: dict[str, Any] | None = None,
                 decomposition: dict[str, Any] | None = None, emotion_codes: list[str] | None = None):
        super().__init__()
        self.speech = build_encoder(ssl, ssl_conf or {})
        if dict(self.speech.inputs) != {"waveform": "audio"}:
            raise SertoolError(f"encoder {ssl!r} does not read a waveform; {type(self).__name__} needs an SSL encoder")
        self.decomposition = build_encoder(self.autoencoder, decomposition or {})
        self.emotion_codes = list(self.codes if emotion_codes is None else emotion_codes)
        unknown = set(self.emotion_codes) - set(self.codes)
        if unknown:
            raise SertoolError(f"emotion_codes: unknown code(s) {', '.join(sorted(unknown))} "
                               f"(known: {', '.join(self.codes)})")
        d = self.decomposition.output_dims
        self.output_dims = {**{k: v for k, v in d.items() if k not in ("pooled", "frames")},
                            "pooled": self.speech.output_dims["pooled"] + sum(d[c] for c in self.emotion_codes),
                            "frames": self.speech.output_dims["frames"]}
        self.sample_rate = self.speech.sample_rate

    @property
    def input_dims(self) -> dict[str, int]:
        return {"waveform": 1, **self.decomposition.input_dims}

    @property
    def skips_parameters(self) -> bool:
        return bool(getattr(self.speech, "skips_parameters", False))

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.speech.shared_parameters()

    def portable_conf(self, conf: dict[str, Any]) -> dict[str, Any]:
        return {**conf, "ssl_conf": self.speech.portable_conf(dict(conf.get("ssl_conf") or {}))}

    def forward(self, waveform: torch.Tensor, waveform_lengths: torch.Tensor,
                **features: torch.Tensor) -> dict[str, torch.Tensor]:
        speech = self.speech(waveform=waveform, waveform_lengths=waveform_lengths)
        parts = self.decomposition(**features)
        # the 20 ms SSL frames and the 16 ms spectrogram frames are pooled each on its own (§2.3)
        pooled = torch.cat([speech["pooled"], *(parts[c] for c in self.emotion_codes)], -1)
        out = {k: v for k, v in parts.items() if k not in ("pooled", "frames", "frame_lengths")}
        return {**out, "pooled": pooled, "frames": speech["frames"], "frame_lengths": speech["frame_lengths"]}


@register_encoder("decomposition_ssl")
class DecompositionSSL(_WithSSL):
    """wav2vec 2.0 (or HuBERT, WavLM) and the four decomposition encoders: the paper's system (§2.3).

    ``ssl``/``ssl_conf``: the SSL encoder and its settings (:mod:`sertool.models.ssl`);
    ``decomposition``: the :class:`Decomposition`'s settings; ``emotion_codes``: the pooled codes
    concatenated to the SSL vector for the emotion head (all four by default; Table 2 one each).
    A pre-trained decomposition is loaded with ``init_from`` (map ``encoder.decomposition.`` to
    ``encoder.``).

    Example:
        >>> from sertool.models.ssl import TINY_ARCH
        >>> enc = build_encoder("decomposition_ssl", {"ssl_conf": {"arch_conf": TINY_ARCH}, "decomposition": TINY,
        ...                                           "emotion_codes": ["rhythm", "pitch"]}).eval()
        >>> out = enc(waveform=torch.randn(2, 8000), waveform_lengths=torch.tensor([8000, 6000]),
        ...           spectrogram=torch.rand(2, 32, 80), spectrogram_lengths=torch.tensor([32, 24]),
        ...           pitch=torch.rand(2, 32, 257), pitch_lengths=torch.tensor([32, 24]))
        >>> out["pooled"].shape, out["frames"].shape, out["decoder"].shape, out["timbre"].shape   # 32 + 2 + 4
        (torch.Size([2, 38]), torch.Size([2, 24, 32]), torch.Size([2, 32, 64]), torch.Size([2, 8]))
    """

    inputs: ClassVar[dict[str, str]] = {"waveform": "audio", "spectrogram": "features", "pitch": "features"}
    aligned_inputs: ClassVar[tuple[str, ...]] = ("spectrogram", "pitch")


@register_encoder("autoencoder_ssl")
class AutoencoderSSL(_WithSSL):
    """Table 3's M4: an SSL encoder and one spectrogram autoencoder (:class:`SpeechAutoencoder`)."""

    inputs: ClassVar[dict[str, str]] = {"waveform": "audio", "spectrogram": "features"}
    autoencoder = "speech_autoencoder"
    codes = ("code",)
