"""A built-in emotional speech corpus, synthesised with eSpeak NG: no download needed.

Each speaker is an eSpeak NG voice variant (``m1``…``m8``, ``f1``…``f5``) speaking one language
(English voice ``en``, Mandarin voice ``cmn``). Every speaker says emotionally neutral sentences
(:mod:`sertool.corpora.sentences`) as neutral, happy, angry and sad speech; the emotion lives only
in the prosody, as in acted corpora with fixed sentences (RAVDESS, CREMA-D). The audio is made in
three steps:

1. eSpeak NG speaks the sentence at a speaking rate set by emotion, intensity and speaker.
2. WORLD (pyworld: DIO + StoneMask F0, CheapTrick envelope, a fixed aperiodicity curve) resynthesises
   it with a new F0 contour (level shift, range scaling around the median, a rising or falling
   slope, a slow undulation for lively speech, frame-level irregularity for tense speech) and a
   new spectral envelope and source (per-speaker vocal-tract warp, formant shift, spectral tilt for
   vocal effort, breathy or pressed voicing).
3. The loudness is set (active speech level in dBFS), and the ``telephone`` channel style band-limits
   to 300–3400 Hz at 8 kHz with compression, line noise and G.711 µ-law coding; ``studio`` adds only
   a faint noise floor. Files are 16 kHz 16-bit WAV.

Emotions follow the vocal-emotion literature (Scherer 2003; Juslin & Laukka 2003; Banse & Scherer
1996; Tartter 1980 for the formant rise of smiled speech): angry = loud, fast, raised and
wide-ranged pitch, shallow spectral tilt and pressed voicing (tense), irregular F0, falling;
happy = the highest pitch, wide range, rising and undulating contour, somewhat fast and loud,
raised formants (smiling); sad = low pitch, narrow range, slow, quiet, falling, steep tilt (soft)
and breathy; neutral between them with a plain declining contour. The table is
:data:`EMOTION_DELTAS`. Intensity (low/medium/high) scales an emotion's deviation from neutral; every
parameter is also jittered per utterance and offset per speaker, so a classifier has to generalise
across speakers, while the emotion effect stays larger than the jitter.

Speakers and languages: speaker ``i`` uses the ``i``-th variant of ``m1 f1 m2 f2 m3 f3 m4 f4 m5 f5
m6 m7 m8`` (genders alternate while both last). With two languages, speaker ``i`` speaks language
``(i + i // 2) % 2`` (en, zh, zh, en, en, zh, …), so each language gets whole speakers (as in ESD,
where each speaker records one language) and, from four speakers on, both genders. Speaker ids
are ``synthetic/<lang>-<variant>`` (``synthetic/en-m1``); utterance ids
``synthetic/<lang>-<variant>-<emotion>-<l|m|h|n>-<NNNN>``.

Everything is drawn from random generators seeded by ``(seed, speaker, emotion, index)``, never by
worker order, so the corpus is identical for any ``jobs`` and an utterance does not change when
``speakers`` or ``per_class`` grow.

Example::

    report = prepare_synthetic(Path("data/synthetic"), speakers=8, per_class=30, jobs=2)
    report.kept, report.classes   # (960, {'angry': 240, 'happy': 240, 'neutral': 240, 'sad': 240})
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import numpy as np

from sertool.audio import write_audio
from sertool.corpora.common import PrepReport, finish_prep
from sertool.corpora.sentences import SENTENCES
from sertool.data.labels import eis_from_level, unify
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

#: Bumped whenever the rendering changes, so `sertool prep synthetic` regenerates the corpus.
GENERATOR_VERSION = 1

CORPUS = "synthetic"
SAMPLE_RATE = 16000
EMOTIONS = ("neutral", "happy", "angry", "sad")
LEVELS = ("low", "medium", "high")
LANGUAGES = {"en": "en", "zh": "cmn"}  # ISO 639-1 code → eSpeak NG voice
CHANNELS = ("studio", "telephone")
# Alternate genders while both last; eSpeak NG ships 8 male and 5 female variants.
VARIANTS = ("m1", "f1", "m2", "f2", "m3", "f3", "m4", "f4", "m5", "f5", "m6", "m7", "m8")

_FRAME_MS = 10.0  # WORLD frame period: 10 ms halves the analysis cost of 5 ms, still smooth contours
_FFT_SIZE = 512  # CheapTrick/synthesis FFT at 16 kHz
_ESPEAK_RATE = 165  # words per minute of neutral speech (eSpeak's default is 175)
_ACTIVE_LEVEL_DB = -28.0  # active speech level of neutral speech, dBFS (leaves room for angry)


@dataclass(frozen=True)
class Style:
    """Prosody of an utterance, as deviations from a speaker's neutral voice.

    pitch: F0 level shift (semitones); range: log2 of the F0 range factor around the median;
    rate: log2 of the speaking-rate factor; gain: loudness (dB); slope: F0 change from the start
    to the end of the utterance (semitones); wave: amplitude of a slow F0 undulation (semitones);
    jitter: standard deviation of frame-level F0 irregularity (semitones); tilt: spectral tilt
    (dB per octave around 1 kHz; positive = more high-frequency energy, as in raised effort);
    breath: aperiodicity of voiced frames (dB; positive = breathy, negative = pressed);
    formant: log2 of a formant-frequency factor (positive = higher formants, as when smiling).
    """

    pitch: float = 0.0
    range: float = 0.0
    rate: float = 0.0
    gain: float = 0.0
    slope: float = 0.0
    wave: float = 0.0
    jitter: float = 0.0
    tilt: float = 0.0
    breath: float = 0.0
    formant: float = 0.0

    def plus(self, other: Style, scale: float = 1.0) -> Style:
        """``self + scale * other``, field by field."""
        return Style(**{k: getattr(self, k) + scale * getattr(other, k) for k in self.__dataclass_fields__})


# Neutral speech: declining contour (declination), nothing else.
NEUTRAL = Style(slope=-1.5)
# Each emotion's deviation from neutral at medium intensity.
EMOTION_DELTAS: dict[str, Style] = {
    "neutral": Style(),
    "happy": Style(pitch=5.0, range=0.9, rate=0.10, gain=2.5, slope=4.5, wave=2.0, jitter=0.05, tilt=1.0,
                   formant=0.05),
    "angry": Style(pitch=2.0, range=0.5, rate=0.26, gain=9.0, slope=-2.0, wave=0.1, jitter=0.6, tilt=5.0,
                   breath=-6.0),
    "sad": Style(pitch=-2.5, range=-1.2, rate=-0.36, gain=-7.0, slope=-0.5, tilt=-3.5, breath=12.0,
                 formant=-0.02),
}
# How far each intensity level moves away from neutral (medium = the deltas above).
INTENSITY_SCALE = {"low": 0.6, "medium": 1.0, "high": 1.45}
# Per-utterance jitter (standard deviations) of every parameter: smaller than the emotion effects.
UTTERANCE_SD = Style(pitch=0.7, range=0.12, rate=0.06, gain=1.5, slope=0.8, wave=0.2, jitter=0.04, tilt=0.6,
                     breath=2.0, formant=0.01)


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an eSpeak NG voice and its own random offsets."""

    index: int
    variant: str
    language: str
    offsets: Style  # added to every utterance's prosody
    warp: float  # vocal-tract length factor applied to the spectral envelope (>1 = shorter tract)
    expressiveness: float  # how strongly this speaker acts emotions (scales the emotion deltas)

    @property
    def name(self) -> str:
        return f"{self.language}-{self.variant}"

    @property
    def gender(self) -> str:
        return "M" if self.variant.startswith("m") else "F"

    @property
    def voice(self) -> str:
        return f"{LANGUAGES[self.language]}+{self.variant}"


@dataclass(frozen=True)
class Plan:
    """Everything needed to render one utterance (picklable, sent to a worker)."""

    name: str  # native id, also the file name
    path: str
    text: str
    voice: str
    style: Style
    warp: float
    channel: str
    seed: tuple[int, ...]  # seeds the rendering's noise


def make_speakers(n: int, languages: tuple[str, ...], seed: int) -> list[Speaker]:
    """The first ``n`` speakers, each with offsets drawn from ``(seed, speaker index)``.

    Example:
        >>> [s.name for s in make_speakers(4, ("en", "zh"), seed=0)]
        ['en-m1', 'zh-f1', 'zh-m2', 'en-f2']
    """
    speakers = []
    for i in range(n):
        rng = np.random.default_rng([seed, 1, i])
        offsets = Style(
            pitch=float(np.clip(rng.normal(0.0, 1.5), -3.0, 3.0)),
            range=float(rng.normal(0.0, 0.15)),
            rate=float(rng.normal(0.0, 0.08)),
            gain=float(rng.normal(0.0, 1.5)),
            tilt=float(rng.normal(0.0, 0.8)),
        )
        speakers.append(
            Speaker(
                index=i,
                variant=VARIANTS[i],
                # en, zh, zh, en, ...: both languages get both genders from four speakers on.
                language=languages[(i + i // 2) % len(languages)],
                offsets=offsets,
                warp=float(rng.uniform(0.93, 1.07)),
                expressiveness=float(rng.uniform(0.85, 1.15)),
            )
        )
    return speakers


def _jittered(rng: np.random.Generator, style: Style) -> Style:
    """``style`` plus per-utterance noise; magnitudes that must stay non-negative are clipped."""
    noise = {k: float(rng.normal(0.0, getattr(UTTERANCE_SD, k))) for k in Style.__dataclass_fields__}
    s = style.plus(Style(**noise))
    return replace(s, wave=max(s.wave, 0.0), jitter=max(s.jitter, 0.0))


def plan_corpus(
    out_dir: Path, speakers: list[Speaker], per_class: int, channels: tuple[str, ...], seed: int
) -> list[tuple[Plan, Utterance]]:
    """Every utterance's rendering plan and manifest entry (audio duration filled in later)."""
    items = []
    for spk in speakers:
        sentences = SENTENCES[spk.language]
        for e, emotion in enumerate(EMOTIONS):
            # Each sentence once per speaker and emotion before any repeats, like RAVDESS's design.
            order_rng = np.random.default_rng([seed, 2, spk.index, e])
            reps = -(-per_class // len(sentences))
            order = np.concatenate([order_rng.permutation(len(sentences)) for _ in range(reps)])
            for k in range(per_class):
                rng = np.random.default_rng([seed, 3, spk.index, e, k])
                level = None if emotion == "neutral" else LEVELS[k % len(LEVELS)]
                scale = 0.0 if level is None else INTENSITY_SCALE[level] * spk.expressiveness
                style = _jittered(rng, NEUTRAL.plus(spk.offsets).plus(EMOTION_DELTAS[emotion], scale))
                channel = channels[int(rng.integers(len(channels)))]
                code = "n" if level is None else level[0]
                name = f"{spk.name}-{emotion}-{code}-{k:04d}"
                path = (out_dir / "audio" / spk.name / f"{name}.wav").resolve()
                text = sentences[int(order[k])]
                esc, eis = unify(emotion, eis_from_level(level, 3))
                plan = Plan(name, str(path), text, spk.voice, style, spk.warp, channel,
                            (seed, 4, spk.index, e, k))
                utt = Utterance(
                    id=f"{CORPUS}/{name}", corpus=CORPUS, audio=str(path), duration=0.0,
                    sample_rate=SAMPLE_RATE, speaker=f"{CORPUS}/{spk.name}", gender=spk.gender,
                    language=spk.language, session=None, style="synthetic", text=text,
                    emotion=emotion, emotion_raw=emotion, intensity=level, esc=esc, eis=eis,
                    split=None, extra={"channel": channel},
                )
                items.append((plan, utt))
    return items


# ---------------------------------------------------------------- rendering (runs in workers)

def _aperiodicity_curve(n_bins: int) -> np.ndarray:
    """Aperiodicity of voiced frames (linear, per FFT bin), in place of D4C's estimate.

    D4C costs more than the rest of the WORLD analysis; eSpeak's voiced sounds have a regular
    source, and this curve follows what D4C measures on them (about −55 dB at low frequencies,
    rising through 2–3 kHz to nearly 0 dB at Nyquist).
    """
    freqs = np.linspace(0.0, SAMPLE_RATE / 2, n_bins)
    db = np.interp(freqs, [0, 1000, 2000, 3000, 4000, 8000], [-55, -42, -24, -8, -5, 0])
    return 10.0 ** (db / 20.0)


def _active_rms(x: np.ndarray, frame: int = 320) -> float:
    """RMS over frames within 30 dB of the loudest one (speech, not pauses)."""
    n = x.size // frame
    if n == 0:
        return float(np.sqrt(np.mean(x**2)) + 1e-12)
    power = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = power[power > power.max() * 1e-3]
    return float(np.sqrt(np.mean(active)) + 1e-12)


def _new_f0(f0: np.ndarray, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Reshape the voiced part of an F0 track (Hz, 0 = unvoiced) in the semitone domain."""
    voiced = f0 > 0
    if voiced.sum() < 2:
        return f0
    st = 12.0 * np.log2(f0[voiced])
    centre = float(np.median(st))
    idx = np.flatnonzero(voiced)
    pos = (idx - idx[0]) / max(idx[-1] - idx[0], 1)  # 0 → 1 across the voiced span
    seconds = idx * _FRAME_MS / 1000.0
    wave = style.wave * np.sin(2 * np.pi * rng.uniform(2.0, 3.5) * seconds + rng.uniform(0, 2 * np.pi))
    # Irregularity: white noise lightly smoothed (3 frames) so it reads as unsteady, tense voicing.
    noise = np.convolve(rng.normal(0.0, 1.0, idx.size), np.ones(3) / np.sqrt(3), mode="same")
    new = centre + style.pitch + 2.0**style.range * (st - centre) + style.slope * (pos - 0.5) + wave
    new = new + style.jitter * noise
    out = f0.copy()
    out[voiced] = np.clip(2.0 ** (new / 12.0), 50.0, 700.0)
    return out


def _new_envelope(sp: np.ndarray, warp: float, tilt: float) -> np.ndarray:
    """Warp the spectral envelope's frequency axis (vocal-tract length) and apply a spectral tilt."""
    n_bins = sp.shape[1]
    bins = np.arange(n_bins)
    src = np.clip(bins / warp, 0, n_bins - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_bins - 1)
    frac = src - lo
    warped = sp[:, lo] * (1 - frac) + sp[:, hi] * frac
    freqs = np.maximum(bins * (SAMPLE_RATE / 2) / (n_bins - 1), 250.0)
    gain_db = tilt * np.log2(freqs / 1000.0)  # power spectrum: dB = 10 log10, so gain is 10^(dB/10)
    return np.ascontiguousarray(warped * 10.0 ** (gain_db / 10.0))


def _soft_limit(x: np.ndarray, threshold: float = 0.8) -> np.ndarray:
    """Leave samples under ``threshold`` alone; bend larger ones smoothly towards ±1."""
    mag = np.abs(x)
    over = mag > threshold
    if not over.any():
        return x
    y = x.copy()
    y[over] = np.sign(x[over]) * (threshold + (1 - threshold) * np.tanh((mag[over] - threshold) / (1 - threshold)))
    return y


def _telephone(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A narrowband telephone channel: 8 kHz, 300–3400 Hz, compression, line noise, µ-law; back at 16 kHz."""
    import soxr
    from scipy.signal import butter, sosfilt

    x8 = soxr.resample(x, SAMPLE_RATE, 8000)
    sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=8000, output="sos")
    x8 = sosfilt(sos, x8)
    # Mild compression (a handset's AGC/limiter): tanh with a random drive, level kept.
    level = _active_rms(x8, 160)
    drive = rng.uniform(1.0, 2.5)
    x8 = np.tanh(drive * x8 / (4 * level)) * (4 * level) / drive
    snr_db = rng.uniform(12.0, 30.0)
    noise = sosfilt(sos, rng.normal(0.0, 1.0, x8.size))
    noise *= _active_rms(x8, 160) / (np.sqrt(np.mean(noise**2)) + 1e-12) * 10.0 ** (-snr_db / 20.0)
    x8 = np.clip(x8 + noise, -1.0, 1.0)
    # G.711 µ-law: 8-bit logarithmic quantisation.
    mu = 255.0
    coded = np.sign(x8) * np.log1p(mu * np.abs(x8)) / np.log1p(mu)
    coded = np.round(coded * 127.0) / 127.0
    x8 = np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu
    return soxr.resample(x8, 8000, SAMPLE_RATE)


def render(plan: Plan) -> np.ndarray:
    """The 16 kHz waveform of one planned utterance (deterministic given the plan).

    Example:
        >>> plan = plan_corpus(Path("out"), make_speakers(2, ("en",), 0), 1, ("studio",), 0)[0][0]
        >>> render(plan).dtype
        dtype('float64')
    """
    import soxr

    from sertool.corpora.espeak import Prosody, get_engine

    pyworld = _import_pyworld()

    rng = np.random.default_rng(list(plan.seed))
    style = plan.style
    engine = get_engine()
    rate = int(round(_ESPEAK_RATE * 2.0**style.rate))
    raw = engine.synthesise(plan.text, plan.voice, Prosody(rate=rate), seed=int(rng.integers(2**31)))
    x = soxr.resample(raw, engine.sample_rate, SAMPLE_RATE).astype(np.float64)

    f0, t = pyworld.dio(x, SAMPLE_RATE, f0_floor=55.0, f0_ceil=500.0, frame_period=_FRAME_MS, speed=2)
    f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    # A 512-point FFT (32 ms; CheapTrick's own choice would be 1024) nearly halves the cost of
    # analysis and synthesis; only F0 under ~94 Hz gets a slightly short window.
    sp = pyworld.cheaptrick(x, f0, t, SAMPLE_RATE, fft_size=_FFT_SIZE)
    ap = np.ones_like(sp)
    voiced = f0 > 0
    breath = 10.0 ** (style.breath / 20.0)
    ap[voiced] = np.minimum(_aperiodicity_curve(sp.shape[1]) * breath, 1.0)
    envelope = _new_envelope(sp, plan.warp * 2.0**style.formant, style.tilt)
    y = pyworld.synthesize(_new_f0(f0, style, rng), envelope, ap, SAMPLE_RATE, _FRAME_MS)

    target = 10.0 ** ((_ACTIVE_LEVEL_DB + style.gain) / 20.0)
    y *= target / _active_rms(y)
    # Leading and trailing silence, as in recorded corpora.
    pad = rng.uniform(0.1, 0.35, size=2)
    y = np.concatenate([np.zeros(int(pad[0] * SAMPLE_RATE)), y, np.zeros(int(pad[1] * SAMPLE_RATE))])
    if plan.channel == "telephone":
        y = _telephone(y, rng)
    else:
        # A studio's faint noise floor, 45–60 dB under neutral speech (no digital silence).
        floor_db = _ACTIVE_LEVEL_DB - rng.uniform(45.0, 60.0)
        y = y + rng.normal(0.0, 10.0 ** (floor_db / 20.0), y.size)
    return _soft_limit(y)


def _render_and_write(plan: Plan) -> tuple[str, int]:
    """Worker task: render, write atomically, return (name, number of samples)."""
    y = render(plan)
    write_audio(plan.path, y, SAMPLE_RATE)
    return plan.name, int(y.size)


def _worker_init() -> None:
    # Made once per worker before the first task (a no-op for forked workers, which inherit it).
    from sertool.corpora.espeak import get_engine

    get_engine()


def _import_pyworld() -> ModuleType:
    """pyworld, imported without the deprecation warning its ``pkg_resources`` import prints."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import pyworld
    return pyworld


def _run(plans: list[Plan], jobs: int) -> dict[str, int]:
    """Render every plan with ``jobs`` processes; returns samples per utterance name."""
    from sertool.console import progress
    from sertool.corpora.espeak import get_engine

    # Load what every task needs before any worker starts: forked workers then inherit it.
    _import_pyworld()
    get_engine()
    if jobs <= 1:
        return dict(progress((_render_and_write(p) for p in plans), "synthesising", total=len(plans)))
    # Fork on Linux: workers start in milliseconds with everything loaded. Safe here because the
    # workers use no threads and every synthesis loads its own eSpeak instance. Spawn elsewhere.
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(jobs, initializer=_worker_init) as pool:
        results = pool.imap_unordered(_render_and_write, plans, chunksize=4)
        return dict(progress(results, "synthesising", total=len(plans)))


def prepare_synthetic(
    out_dir: Path,
    speakers: int = 8,
    per_class: int = 30,
    languages: tuple[str, ...] = ("en", "zh"),
    styles: tuple[str, ...] = ("studio", "telephone"),
    protocol: str = "speaker-kfold",
    k: int = 4,
    seed: int = 0,
    jobs: int = 2,
    dev: str = "speakers",
) -> PrepReport:
    """Synthesise the corpus into ``out_dir`` (audio under ``audio/``) and write its manifest and folds.

    ``speakers`` (2–13) eSpeak NG voices each speak ``per_class`` utterances of every emotion in
    one of ``languages``; each utterance goes through a channel chosen at random from ``styles``
    (``studio``, ``telephone``; recorded as ``extra.channel``). Same ``seed`` → same corpus,
    whatever ``jobs``. ``dev`` is ``speakers`` (dev speakers from the training side) or ``none``.

    Example::

        report = prepare_synthetic(Path("/tmp/syn"), speakers=4, per_class=3, languages=("en",), k=2)
        report.kept, report.leaking_folds()   # (48, [])
    """
    if not 2 <= speakers <= len(VARIANTS):
        # At least two: every fold protocol needs a speaker to test on and one to train on.
        raise SertoolError(f"synthetic: speakers must be 2–{len(VARIANTS)} (eSpeak NG voices), got {speakers}")
    if per_class < 1:
        raise SertoolError(f"synthetic: per_class must be at least 1, got {per_class}")
    if jobs < 1:
        raise SertoolError(f"synthetic: jobs must be at least 1, got {jobs}")
    for what, given, known in (("language", languages, tuple(LANGUAGES)), ("style", styles, CHANNELS)):
        if not given:
            raise SertoolError(f"synthetic: no {what} given (choose from {', '.join(known)})")
        unknown = [x for x in given if x not in known]
        if unknown:
            raise SertoolError(f"synthetic: unknown {what} {unknown[0]!r} (known: {', '.join(known)})")
        if len(set(given)) != len(given):
            raise SertoolError(f"synthetic: {what}s repeated in {', '.join(given)}")

    notes: list[str] = []
    if protocol == "speaker-kfold" and k > speakers:
        # A tiny corpus (a smoke test) still gets speaker-independent folds: one speaker per fold.
        notes.append(f"speaker-kfold: k lowered from {k} to {speakers}, the number of speakers")
        k = speakers

    out_dir = Path(out_dir)
    spk = make_speakers(speakers, tuple(languages), seed)
    items = plan_corpus(out_dir, spk, per_class, tuple(styles), seed)
    samples = _run([p for p, _ in items], min(jobs, len(items)))
    utts = []
    for plan, utt in items:
        utt.duration = samples[plan.name] / SAMPLE_RATE
        utts.append(utt)
    dev_option = {} if dev == "speakers" else {"dev": dev}  # recorded in folds.json only when not the default
    return finish_prep(out_dir, CORPUS, utts, Counter(), protocol, warnings=notes, k=k, seed=seed, **dev_option)
