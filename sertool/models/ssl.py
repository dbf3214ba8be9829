"""Self-supervised speech encoders (wav2vec 2.0, HuBERT, WavLM) built with torchaudio's model builders.

Three registry names, one class: ``wav2vec2``, ``hubert`` and ``wavlm``. ``model`` names the
architecture (:data:`ARCHS`: ``wav2vec2_base``, ``wav2vec2_large``, ``wav2vec2_large_lv60k``,
``hubert_base``, ``hubert_large``, ``wavlm_base``, ``wavlm_base_plus``, ``wavlm_large``), built by
``torchaudio.models.wav2vec2_model`` / ``wavlm_model`` with the keyword arguments of torchaudio's
named builder (``wav2vec2_base()`` …); ``arch_conf`` overrides any of them (dropouts, or a tiny
configuration for tests: ``encoder_embed_dim``, ``encoder_num_layers``, ``encoder_num_heads``,
``encoder_ff_interm_features``, ``extractor_conv_layer_config`` …).

``weights`` is one of

- a torchaudio bundle name (``WAV2VEC2_BASE``, ``HUBERT_BASE``, ``WAVLM_BASE_PLUS`` …), read from
  ``$TORCH_HOME/hub/checkpoints/<file>`` (torch.hub's cache, where ``bundle.get_model()`` puts it)
  with ``torch.load(..., weights_only=True)``; downloaded there first only when the machine
  reaches download.pytorch.org (never with ``SERTOOL_OFFLINE=1``); otherwise a one-line error
  names the missing file, where it is expected and its URL;
- a local Hugging Face model directory (``config.json`` + ``model.safetensors`` or
  ``pytorch_model.bin``) of a ``Wav2Vec2``/``Hubert``/``WavLM`` ``Model``, ``…ForCTC`` or
  ``…ForSequenceClassification`` (the inner model is taken, heads are dropped), converted with
  ``torchaudio.models.wav2vec2.utils.import_huggingface_model`` (needs ``transformers``);
- a file holding a state dict of the torchaudio model (``model.state_dict()``).

A model bundle stores the encoder's :meth:`~SSLEncoder.portable_conf`: no ``weights``, the full
builder keywords in ``arch_conf``, and ``initialised_from`` recording where the weights came from;
``eval`` and ``infer`` need no weights file.

The architecture comes from the weights where they say it (the bundle's or the HF config's); a
``model`` given beside them must agree. With no weights the encoder is randomly initialised as
fairseq does for pre-training (torchaudio's HuBERT pre-training initialisation: Kaiming-normal
convolutions, N(0, 0.02) linear layers).

What the encoder computes, through torchaudio's components (``feature_extractor`` →
``encoder.feature_projection`` → ``encoder.transformer``):

1. waveform normalisation per utterance over its valid samples, where the checkpoint expects it
   (``normalize_waveform``: the large "LV-60k"-style models, or the HF preprocessor's ``do_normalize``);
2. the convolutional feature encoder, on each clip alone when its normalisation is a group norm
   over time (``exact_padding``, base models), so a clip's features never depend on the padding of
   the batch it is in; clips shorter than the receptive field (400 samples) are zero-padded to it;
3. the feature projection; during training only, SpecAugment-style masking as in wav2vec 2.0
   fine-tuning (``mask_time_prob``/``mask_time_length``: spans of frames replaced by a learned
   mask embedding; ``mask_channel_prob``/``mask_channel_length``: channels zeroed), with
   torchaudio's ``MaskGenerator``; padded frames are never masked and are zeroed;
4. the transformer layers with padded frames masked out of the attention (WavLM takes a key
   padding mask: torchaudio's own ``extract_features`` refuses lengths for WavLM); layer drop
   during training as the checkpoint's builder sets it;
5. ``layer``: ``last`` takes Hugging Face's ``last_hidden_state`` (torchaudio's ``forward``), an
   integer ``k`` in 0..L Hugging Face's ``hidden_states[k]`` (0: the transformer's input; layers
   above k are not run and are frozen), ``weighted`` a learnable softmax-weighted sum of all L + 1
   ``hidden_states`` (SUPERB / s3prl's Featurizer);
6. mean pooling over each utterance's valid frames only.

``freeze``: ``cnn`` (default) freezes the convolutional feature encoder (run without gradients);
``all`` freezes the whole pretrained model (kept in eval mode: no dropout; a ``weighted`` sum's
layer weights still learn); ``none`` fine-tunes everything.

Outputs: ``pooled`` ``(N, E)``, ``frames`` ``(N, T', E)`` at 50 frames per second
(``frame_stride`` 320 samples at 16 kHz), ``frame_lengths`` ``(N,)``.

Example:
    >>> enc = build_encoder("wav2vec2", {"model": "wav2vec2_base", "arch_conf": TINY_ARCH}).eval()
    >>> enc.inputs, enc.sample_rate, enc.frame_stride, enc.output_dims
    ({'waveform': 'audio'}, 16000, 320, {'pooled': 32, 'frames': 32})
    >>> out = enc(waveform=torch.randn(2, 16000), waveform_lengths=torch.tensor([16000, 9600]))
    >>> out["pooled"].shape, out["frames"].shape, out["frame_lengths"].tolist()
    (torch.Size([2, 32]), torch.Size([2, 49, 32]), [49, 29])
    >>> [p.requires_grad for p in (enc.ssl.feature_extractor.parameters())][:1]   # freeze: cnn
    [False]
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any, ClassVar

import torch
import torchaudio
from torch import nn
from torchaudio.models.wav2vec2 import components
from torchaudio.models.wav2vec2 import model as ta_model

from sertool.errors import SertoolError
from sertool.layers.masking import lengths_to_mask
from sertool.models.registry import Encoder, build_encoder, register_encoder  # noqa: F401  (doctest)

FAMILIES = ("wav2vec2", "hubert", "wavlm")

#: Architecture name → (family, torchaudio builder, the torchaudio bundle of its pretrained weights).
ARCHS: dict[str, tuple[str, str, str]] = {
    "wav2vec2_base": ("wav2vec2", "wav2vec2_base", "WAV2VEC2_BASE"),
    "wav2vec2_large": ("wav2vec2", "wav2vec2_large", "WAV2VEC2_LARGE"),
    "wav2vec2_large_lv60k": ("wav2vec2", "wav2vec2_large_lv60k", "WAV2VEC2_LARGE_LV60K"),
    "hubert_base": ("hubert", "hubert_base", "HUBERT_BASE"),
    "hubert_large": ("hubert", "hubert_large", "HUBERT_LARGE"),
    "wavlm_base": ("wavlm", "wavlm_base", "WAVLM_BASE"),
    "wavlm_base_plus": ("wavlm", "wavlm_base", "WAVLM_BASE_PLUS"),
    "wavlm_large": ("wavlm", "wavlm_large", "WAVLM_LARGE"),
}
DEFAULT_ARCH = {"wav2vec2": "wav2vec2_base", "hubert": "hubert_base", "wavlm": "wavlm_base_plus"}

#: A tiny configuration of the same structure (tests, examples, the synthetic recipe): 7 conv
#: layers of 32 channels with wav2vec 2.0's kernels and strides (320 samples per frame), 2
#: transformer layers of width 32 with 2 heads.
TINY_ARCH: dict[str, Any] = {
    "extractor_conv_layer_config": [[32, 10, 5]] + [[32, 3, 2]] * 4 + [[32, 2, 2]] * 2,
    "encoder_embed_dim": 32, "encoder_num_layers": 2, "encoder_num_heads": 2, "encoder_ff_interm_features": 64,
    "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 2, "encoder_num_buckets": 32,
    "encoder_max_distance": 64,
}

WAVLM_ONLY = ("encoder_num_buckets", "encoder_max_distance")
DOWNLOAD_ROOT = "https://download.pytorch.org/torchaudio/models/"
FREEZE = ("none", "cnn", "all")
_LOG = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- architectures


def _bundle(name: str) -> Any:
    bundle = getattr(torchaudio.pipelines, name, None) if name.isupper() else None
    if bundle is None or not hasattr(bundle, "_params") or not hasattr(bundle, "_path"):
        known = sorted(n for n in dir(torchaudio.pipelines)
                       if n.startswith(("WAV2VEC2", "HUBERT", "WAVLM")) and "XLARGE" not in n)
        raise SertoolError(f"unknown torchaudio bundle {name!r} (known: {', '.join(known)})")
    return bundle


def _bundle_family(name: str) -> str:
    return "wavlm" if name.startswith("WAVLM") else "hubert" if name.startswith("HUBERT") else "wav2vec2"


def _listed(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Builder kwargs as YAML/bundle-safe values (the conv config as lists of lists)."""
    out = dict(kwargs)
    if out.get("extractor_conv_layer_config") is not None:
        out["extractor_conv_layer_config"] = [list(map(int, c)) for c in out["extractor_conv_layer_config"]]
    return out


def arch_kwargs(model: str) -> dict[str, Any]:
    """Every keyword of ``wav2vec2_model``/``wavlm_model`` for architecture ``model``.

    The structure is that of the architecture's torchaudio bundle, the dropouts the defaults of
    its named builder (``torchaudio.models.wav2vec2_base`` …, the values for fine-tuning).

    Example:
        >>> kw = arch_kwargs("wavlm_base_plus")
        >>> kw["encoder_embed_dim"], kw["encoder_num_layers"], kw["encoder_layer_drop"], kw["extractor_mode"]
        (768, 12, 0.1, 'group_norm')
    """
    if model not in ARCHS:
        raise SertoolError(f"unknown SSL model {model!r} (known: {', '.join(ARCHS)})")
    _, builder, bundle = ARCHS[model]
    defaults = {k: p.default for k, p in inspect.signature(getattr(torchaudio.models, builder)).parameters.items()}
    return _listed({**_bundle(bundle)._params, **defaults})


def _structure(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _listed(kwargs).items() if "drop" not in k and k != "aux_num_out"}


def build_ssl_model(family: str, kwargs: dict[str, Any]) -> torchaudio.models.Wav2Vec2Model:
    """The torchaudio model of ``family`` from builder keywords (no auxiliary head)."""
    kwargs = {**kwargs, "aux_num_out": None}
    if family == "wavlm":
        return torchaudio.models.wavlm_model(**kwargs)
    return torchaudio.models.wav2vec2_model(**{k: v for k, v in kwargs.items() if k not in WAVLM_ONLY})


# ----------------------------------------------------------------------------- weights


def bundle_file(name: str) -> tuple[Path, str]:
    """Where torch.hub caches torchaudio bundle ``name``'s weights, and their URL."""
    path = _bundle(name)._path
    url = path if path.startswith("https://") else DOWNLOAD_ROOT + path
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(path).name, url


def _network_available(url: str, timeout: float = 3.0) -> bool:
    if os.environ.get("SERTOOL_OFFLINE", "") not in ("", "0"):
        return False
    host = url.split("/")[2]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _torch_load(path: Path, what: str) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, or a pickle of objects other than tensors: never unpickled
        raise SertoolError(f"cannot load {what} {path}: {str(e).splitlines()[0][:200]}") from None
    if not isinstance(state, dict):
        raise SertoolError(f"{what} {path} does not hold a state dict")
    return state


def load_bundle_state(name: str) -> dict[str, Any]:
    """The state dict of torchaudio bundle ``name`` from torch.hub's cache (downloaded if online)."""
    path, url = bundle_file(name)
    if not path.is_file():
        if not _network_available(url):
            raise SertoolError(f"weights of {name} not found: {path} is missing and this machine cannot download "
                               f"it; fetch {url} into {path.parent} (or set TORCH_HOME)")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=True)  # writes a temporary file, then renames
    return _torch_load(path, f"{name} weights")


def _load_hf(path: Path) -> tuple[str, dict[str, Any], dict[str, torch.Tensor], bool | None, torch.Tensor | None]:
    """(family, builder kwargs, torchaudio state dict, do_normalize, mask embedding) of an HF model directory."""
    try:
        import transformers
    except ImportError:
        raise SertoolError(f"loading the Hugging Face model in {path} needs the transformers package "
                           "(pip install transformers safetensors)") from None
    from torchaudio.models.wav2vec2.utils import import_huggingface as ta_hf

    try:
        config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise SertoolError(f"{path} is not a Hugging Face model directory: {str(e).splitlines()[0]}") from None
    family = {"wav2vec2": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm"}.get(config.model_type)
    if family is None:
        raise SertoolError(f"{path} holds a {config.model_type!r} model; sertool's SSL encoders read wav2vec2, "
                           "hubert and wavlm models")
    arch = (config.architectures or [f"{type(config).__name__.removesuffix('Config')}Model"])[0]
    cls = getattr(transformers, arch, None) or transformers.AutoModel
    hf_log = transformers.utils.logging
    verbosity, bars = hf_log.get_verbosity(), hf_log.is_progress_bar_enabled()
    hf_log.set_verbosity_error()
    hf_log.disable_progress_bar()
    try:
        hf = cls.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise SertoolError(f"cannot load the Hugging Face model in {path}: {str(e).splitlines()[0]}") from None
    finally:
        hf_log.set_verbosity(verbosity)
        if bars:
            hf_log.enable_progress_bar()
    inner = hf.base_model  # Wav2Vec2Model / HubertModel / WavLMModel inside …ForCTC, …ForSequenceClassification
    ta_logger = logging.getLogger(ta_hf.__name__)
    level = ta_logger.level
    ta_logger.setLevel(logging.ERROR)  # "lm_head is not imported": sertool never wants it
    try:
        imported = ta_hf.import_huggingface_model(inner)
    finally:
        ta_logger.setLevel(level)
    kwargs = (ta_hf._get_config_wavlm if family == "wavlm" else ta_hf._get_config)(inner.config)
    normalize = None
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        normalize = bool(json.loads(pre.read_text(encoding="utf-8")).get("do_normalize", False))
    mask_emb = getattr(inner, "masked_spec_embed", None)
    return family, _listed(kwargs), imported.state_dict(), normalize, None if mask_emb is None else mask_emb.detach()


def _load_state_file(path: Path) -> dict[str, Any]:
    state = _torch_load(path, "weights file")
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    for prefix in ("module.", "encoder.ssl."):  # DDP-wrapped, or a sertool model's encoder
        if any(k.startswith(prefix) for k in state):
            state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    return state


def _fit_state(model: nn.Module, state: dict[str, Any], what: str, arch: str) -> None:
    """Load ``state`` strictly (an ASR head, ``aux.*``, is dropped); a mismatch is one line."""
    state = {k: v for k, v in state.items() if not k.startswith("aux.")}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{len(x)} {label} (e.g. {x[0]})" for x, label in
                 ((missing, "missing"), (unexpected, "unexpected"), (shapes, "of another shape")) if x]
        raise SertoolError(f"weights {what} do not fit the {arch} architecture: {'; '.join(parts)} "
                           "(check model and arch_conf)")
    model.load_state_dict(state)


# ----------------------------------------------------------------------------- the encoder


def _normalise(wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per utterance over its valid samples; padding stays zero."""
    mask = lengths_to_mask(lengths, wave.shape[1]).to(wave.dtype)  # (N, S)
    n = mask.sum(1, keepdim=True).clamp(min=1)
    mean = (wave * mask).sum(1, keepdim=True) / n
    var = (((wave - mean) * mask) ** 2).sum(1, keepdim=True) / n
    return (wave - mean) / torch.sqrt(var + 1e-7) * mask


@contextlib.contextmanager
def _onednn(enabled: bool):
    """``torch.backends.mkldnn.enabled`` set to ``enabled`` inside (its other flags untouched)."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


class SSLEncoder(Encoder):
    """A pretrained (or randomly initialised) wav2vec 2.0 / HuBERT / WavLM model (module docstring)."""

    inputs: ClassVar[dict[str, str]] = {"waveform": "audio"}
    family: ClassVar[str] = "wav2vec2"
    sample_rate = 16000

    def __init__(self, model: str | None = None, weights: str | None = None, arch_conf: dict[str, Any] | None = None,
                 freeze: str = "cnn", layer: str | int = "last", normalize_waveform: bool | None = None,
                 exact_padding: bool = True, mask_time_prob: float = 0.0, mask_time_length: int = 10,
                 mask_channel_prob: float = 0.0, mask_channel_length: int = 10, initialised_from: str | None = None):
        super().__init__()
        if freeze not in FREEZE:
            raise SertoolError(f"encoder {self.family}: freeze must be one of {', '.join(FREEZE)}, got {freeze!r}")
        if model is not None and model not in ARCHS:
            raise SertoolError(f"unknown SSL model {model!r} (known: {', '.join(ARCHS)})")
        if model is not None and ARCHS[model][0] != self.family:
            raise SertoolError(f"encoder {self.family}: model {model!r} is a {ARCHS[model][0]} model "
                               f"(use encoder: {ARCHS[model][0]})")
        for name, p in (("mask_time_prob", mask_time_prob), ("mask_channel_prob", mask_channel_prob)):
            if not 0 <= p < 1:
                raise SertoolError(f"encoder {self.family}: {name} must be in [0, 1), got {p}")
        self.model_name, kwargs, state, what, norm_default, mask_emb = self._resolve(model, weights)
        unknown = set(arch_conf or {}) - set(kwargs) - set(WAVLM_ONLY)
        if unknown:
            raise SertoolError(f"encoder {self.family}: arch_conf has unknown key(s) {', '.join(sorted(unknown))} "
                               f"(known: {', '.join(sorted(kwargs))})")
        kwargs.update(arch_conf or {})
        if self.family != "wavlm":
            kwargs = {k: v for k, v in kwargs.items() if k not in WAVLM_ONLY}
        self.arch = _listed(kwargs)
        self.ssl = build_ssl_model(self.family, self.arch)
        if state is not None:
            _fit_state(self.ssl, state, what, self.model_name or self.family)
        else:  # training from scratch: fairseq's initialisation, as torchaudio's HuBERT pre-training builder does
            self.ssl.apply(ta_model._init_hubert_pretrain_model)
        self.weights = weights

        embed = int(self.arch["encoder_embed_dim"])
        # wav2vec 2.0 fine-tuning's masking (torchaudio's MaskGenerator: static spans, min 2 time masks)
        self.mask_generator = components.MaskGenerator(
            embed, mask_time_prob, "static", 0.0, int(mask_time_length), False, 1,
            mask_channel_prob, "static", 0.0, int(mask_channel_length), False, 1)
        if mask_emb is not None:
            self.mask_generator.mask_embedding.data.copy_(mask_emb)
        self.mask_generator.mask_embedding.requires_grad_(mask_time_prob > 0)

        self.normalize_waveform = bool(norm_default if normalize_waveform is None else normalize_waveform)
        self.exact_padding = bool(exact_padding) and self.arch["extractor_mode"] == "group_norm"
        convs = self.arch["extractor_conv_layer_config"]
        self.frame_stride = 1
        self.receptive_field = 1
        for _, kernel, stride in convs:
            self.receptive_field += (kernel - 1) * self.frame_stride
            self.frame_stride *= stride
        self.num_layers = int(self.arch["encoder_num_layers"])
        self.layer = self._check_layer(layer)
        self.layer_weights = nn.Parameter(torch.zeros(self.num_layers + 1)) if self.layer == "weighted" else None
        self.freeze = freeze
        self.output_dims = {"pooled": embed, "frames": embed}
        self._onednn_restore: bool | None = None
        self._apply_freeze()

    # -- construction ------------------------------------------------------------------------
    def _resolve(self, model: str | None, weights: str | None):
        """(architecture name or None, builder kwargs, state dict or None, its description, normalise?,
        HF mask embedding)."""
        if weights is None:
            arch = model or DEFAULT_ARCH[self.family]
            return arch, arch_kwargs(arch), None, "", self._normalises(arch), None
        weights = str(weights)
        path = Path(weights).expanduser()
        if path.is_dir():
            family, kwargs, state, normalize, mask_emb = _load_hf(path)
            if family != self.family:
                raise SertoolError(f"{path} holds a {family} model; use encoder: {family}")
            self._check_agrees(model, kwargs, str(path))
            normalize = normalize if normalize is not None else self._normalises(model)
            return model, kwargs, state, str(path), normalize, mask_emb
        if path.is_file():
            arch = model or DEFAULT_ARCH[self.family]
            return arch, arch_kwargs(arch), _load_state_file(path), str(path), self._normalises(arch), None
        if weights.isupper() and "/" not in weights:
            bundle = _bundle(weights)
            if _bundle_family(weights) != self.family:
                raise SertoolError(f"bundle {weights} holds a {_bundle_family(weights)} model; "
                                   f"use encoder: {_bundle_family(weights)}")
            arch = model or next((a for a, (_, _, b) in ARCHS.items() if b == weights), None)
            kwargs = arch_kwargs(arch) if arch else _listed(bundle._params)
            self._check_agrees(model, _listed(bundle._params), weights)
            return arch, kwargs, load_bundle_state(weights), weights, bool(bundle._normalize_waveform), None
        raise SertoolError(f"weights not found: {weights} (a torchaudio bundle name such as WAV2VEC2_BASE, a Hugging "
                           "Face model directory, or a state-dict file)")

    @staticmethod
    def _normalises(arch: str | None) -> bool:
        return bool(arch and _bundle(ARCHS[arch][2])._normalize_waveform)

    @staticmethod
    def _check_agrees(model: str | None, kwargs: dict[str, Any], where: str) -> None:
        if model is None:
            return
        want, have = _structure(arch_kwargs(model)), _structure(kwargs)
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k) and k not in WAVLM_ONLY)
        if diff:
            raise SertoolError(f"model {model} does not match the architecture of {where} (differs in "
                               f"{', '.join(diff[:3])}); leave model unset to take the weights' own")

    def _check_layer(self, layer: str | int) -> str | int:
        if layer in ("last", "weighted"):
            return layer
        try:
            k = int(layer)
        except (TypeError, ValueError):
            k = -1
        if not 0 <= k <= self.num_layers or isinstance(layer, bool):
            raise SertoolError(f"encoder {self.family}: layer must be last, weighted or 0..{self.num_layers}, "
                               f"got {layer!r}")
        return k

    def _apply_freeze(self) -> None:
        ssl, tr = self.ssl, self.ssl.encoder.transformer
        if self.freeze in ("cnn", "all"):
            ssl.feature_extractor.requires_grad_(False)
        if self.freeze == "all":
            ssl.requires_grad_(False)
            self.mask_generator.requires_grad_(False)
        if isinstance(self.layer, int):  # layers above the one taken are never run
            for block in tr.layers[self.layer:]:
                block.requires_grad_(False)
        if self.layer != "last" and not tr.layer_norm_first:  # a pre-LN model's final layer norm: "last" only
            tr.layer_norm.requires_grad_(False)

    def portable_conf(self, conf: dict[str, Any]) -> dict[str, Any]:
        """The configuration that rebuilds this encoder with no weights file (its weights are in the bundle)."""
        return {**conf, "model": self.model_name, "weights": None, "arch_conf": dict(self.arch),
                "normalize_waveform": self.normalize_waveform,
                "initialised_from": self.weights or conf.get("initialised_from")}

    @property
    def skips_parameters(self) -> bool:
        """Layer drop leaves some layers out of some updates (DDP must look for unused parameters)."""
        return float(self.arch.get("encoder_layer_drop", 0.0)) > 0 and self.freeze != "all"

    def train(self, mode: bool = True) -> SSLEncoder:
        super().train(mode)
        if self.freeze == "all":
            self.ssl.eval()  # a frozen model: no dropout, no layer drop
        return self

    def shared_parameters(self) -> list[nn.Parameter]:
        if self.layer_weights is not None:
            return [self.layer_weights]
        k = self.num_layers if self.layer == "last" else self.layer
        params = [p for p in (self.ssl.encoder.transformer.layers[k - 1].parameters() if k > 0
                              else self.ssl.encoder.feature_projection.parameters()) if p.requires_grad]
        if not params:
            raise SertoolError(f"encoder {self.family}: nothing shared is trained (freeze: {self.freeze}); "
                               "gradnorm needs layer: weighted or a fine-tuned layer")
        return params

    # -- forward ------------------------------------------------------------------------------
    def _features(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolutional features ``(N, T, C)`` and frame counts."""
        fe = self.ssl.feature_extractor
        wave = wave * lengths_to_mask(lengths, wave.shape[1]).to(wave.dtype)  # padding is silence, whatever it held
        lengths = lengths.clamp(min=self.receptive_field)
        if wave.shape[1] < self.receptive_field:
            wave = nn.functional.pad(wave, (0, self.receptive_field - wave.shape[1]))
        if not self.exact_padding or wave.shape[0] == 1 or bool((lengths >= wave.shape[1]).all()):
            return fe(wave, lengths)
        outs = [fe(wave[i: i + 1, : int(n)], None)[0][0] for i, n in enumerate(lengths.tolist())]
        frames = torch.tensor([o.shape[0] for o in outs], device=wave.device)
        return nn.utils.rnn.pad_sequence(outs, batch_first=True), frames

    def _onednn_hooks(self, entry: torch.Tensor, before: bool) -> torch.Tensor:
        """Run this model's backward, as its forward, on PyTorch's native CPU convolutions.

        oneDNN (mkldnn) builds a kernel for every new input shape, and waveforms of varying length
        are new shapes at every batch; where the convolutional feature encoder is trained
        (``freeze: none``), building the kernels of its backward dominates: a training step of
        the synthetic recipe's tiny model is about 3.5 times faster on the native convolutions,
        the base model's feature encoder about 1.3 times. (With the feature encoder frozen, oneDNN is kept: the
        base model's step is then about 10 % faster with it.) The forward runs with
        ``torch.backends.mkldnn.enabled`` off; the backward is bracketed by two gradient hooks: one
        on the encoder's output switches oneDNN off when the backward reaches the model, one on
        ``entry`` (the waveform, made to require a gradient here) restores the setting when it
        leaves it.
        """
        entry = entry.detach().requires_grad_(True)
        entry.register_hook(lambda _g: setattr(torch.backends.mkldnn, "enabled", before))
        self._onednn_restore = before
        return entry

    def hidden_states(self, wave: torch.Tensor, lengths: torch.Tensor,
                      upto: int | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hugging Face's ``hidden_states`` (the first layer's input, then each layer's output), up to layer ``upto``.

        As in Hugging Face, a pre-LN model's final layer norm is not in them (it makes
        ``last_hidden_state``, which ``layer: last`` takes).
        """
        upto = self.num_layers if upto is None else upto
        frozen = self.freeze == "all" or not torch.is_grad_enabled()
        cnn_trains = self.freeze == "none" and not frozen
        native = wave.device.type == "cpu" and self.freeze == "none"  # see _onednn_hooks
        onednn = bool(torch.backends.mkldnn.enabled)
        with (torch.no_grad() if frozen else contextlib.nullcontext(),
              _onednn(False) if native else contextlib.nullcontext()):
            if self.normalize_waveform:
                wave = _normalise(wave, lengths)
            with torch.set_grad_enabled(cnn_trains):
                if native and cnn_trains:
                    wave = self._onednn_hooks(wave, onednn)
                feats, frame_lengths = self._features(wave, lengths)  # (N, T, C)
            frame_lengths = frame_lengths.clamp(min=1)
            enc, tr = self.ssl.encoder, self.ssl.encoder.transformer
            x = enc.feature_projection(feats)  # (N, T, E)
            pad = ~lengths_to_mask(frame_lengths, x.shape[1])  # (N, T), True on padding
            if self.training:
                x, _ = self.mask_generator(x, pad)  # SpecAugment-style masks (no-op at probabilities 0)
            x = x.masked_fill(pad[..., None], 0.0)
            x = x + tr.pos_conv_embed(x)
            x = tr.dropout(tr.layer_norm(x) if tr.layer_norm_first else x)  # post-LN models normalise here
            padded = bool(pad.any())  # without padding, no mask: attention takes its faster kernels
            if self.family == "wavlm":
                kw: dict[str, Any] = {"attention_mask": None,  # WavLM's attention adds it to its position bias
                                      "key_padding_mask": torch.zeros(pad.shape, dtype=x.dtype, device=x.device)
                                      .masked_fill(pad, float("-inf")) if padded else None}
            else:
                kw = {"attention_mask": (-10000.0 * pad[:, None, None, :].to(x.dtype)).expand(
                    -1, 1, x.shape[1], x.shape[1]) if padded else None}
            states, position_bias = [x], None
            for block in tr.layers[:upto]:
                if not (self.training and tr.layer_drop > 0 and torch.rand(1).item() <= tr.layer_drop):
                    x, position_bias = block(x, position_bias=position_bias, **kw)
                states.append(x)
        return states, frame_lengths

    def forward(self, waveform: torch.Tensor, waveform_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        upto = self.layer if isinstance(self.layer, int) else None
        states, frame_lengths = self.hidden_states(waveform, waveform_lengths, upto)
        if self.layer_weights is not None:
            w = torch.softmax(self.layer_weights, 0)  # (L + 1,)
            frames = (torch.stack(states, 0) * w[:, None, None, None].to(states[0].dtype)).sum(0)  # (N, T, E)
        else:
            frames = states[-1]
            tr = self.ssl.encoder.transformer
            if self.layer == "last" and not tr.layer_norm_first:  # last_hidden_state of a pre-LN model
                with torch.no_grad() if self.freeze == "all" else contextlib.nullcontext():
                    frames = tr.layer_norm(frames)
        if self._onednn_restore is not None and frames.requires_grad:  # the backward enters the model here
            frames.register_hook(lambda _g: setattr(torch.backends.mkldnn, "enabled", False))
        self._onednn_restore = None
        mask = lengths_to_mask(frame_lengths, frames.shape[1])[..., None].to(frames.dtype)  # (N, T, 1)
        pooled = (frames * mask).sum(1) / mask.sum(1)  # (N, E): mean over valid frames only
        return {"pooled": pooled, "frames": frames, "frame_lengths": frame_lengths}


@register_encoder("wav2vec2")
class Wav2Vec2Encoder(SSLEncoder):
    """wav2vec 2.0 (``wav2vec2_base``, ``wav2vec2_large``, ``wav2vec2_large_lv60k``)."""

    family = "wav2vec2"


@register_encoder("hubert")
class HuBERTEncoder(SSLEncoder):
    """HuBERT (``hubert_base``, ``hubert_large``)."""

    family = "hubert"


@register_encoder("wavlm")
class WavLMEncoder(SSLEncoder):
    """WavLM (``wavlm_base``, ``wavlm_base_plus``, ``wavlm_large``)."""

    family = "wavlm"
