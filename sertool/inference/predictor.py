"""The :class:`Predictor`: a trained model answering for audio files, waveforms, batches and long recordings.

A model bundle (:mod:`sertool.train.bundle`) is self-contained: every named input is computed
from the audio as the features stage computed it for training, normalised with the statistics
training fitted (a known ``speaker`` uses its own where the model was trained with
``cmvn: speaker``), and passed to the model. Any sample rate or channel count soundfile reads is
accepted: audio is down-mixed and resampled to each input's rate.

Nothing is cut silently: a clip longer than the model's training length (``data.max_seconds``)
is answered from equal windows covering all of it (the answer says ``"windows": n``), and a
clip shorter than the model's shortest input, silent, or holding NaN or Inf samples is refused
with the reason. :meth:`Predictor.predict_file` and :meth:`Predictor.predict_wave` raise
:class:`~sertool.errors.SertoolError` for those; :meth:`Predictor.predict_files` and
:meth:`Predictor.predict_batch`, which answer many, give an error record in their place.

Example::

    predictor = Predictor.load("exp/sa_cnn_blstm")          # the fold with the best dev UA
    predictor.predict_file("clip.wav")
    # {'file': 'clip.wav', 'emotion': 'angry', 'probabilities': {'neutral': 0.02, ...}, 'intensity': 2.7,
    #  'gender': 'F', ...}
    predictor.predict_wave(wave, 8000)                        # a mono numpy waveform at 8 kHz
    predictor.predict_batch([w1, w2, w3], 16000)             # one batch of the model, in order
    for record in predictor.predict_files(["clips/", "@more.txt"], batch_size=32):
        ...                                                  # answers and error records, in input order
    predictor.predict_segments("meeting.flac", segment=4.0, hop=2.0)
    # [{'file': 'meeting.flac', 'segment': 1, 'start': 0.0, 'end': 4.0, 'emotion': ...}, ...,
    #  {'file': 'meeting.flac', 'start': 0.0, 'end': 3600.0, 'segments': 1799, 'emotion': ...}]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sertool.audio import resample
from sertool.errors import SertoolError
from sertool.inference.plan import ClipPlan, Limits, Segmenting, frame_levels, plan_units, speech_parts
from sertool.train.bundle import Bundle, find_bundle

__all__ = ["Predictor", "find_bundle"]

#: Window length for a model trained without a crop length (``data.max_seconds: null``): long
#: recordings are still read a window at a time.
UNCROPPED_WINDOW_SECONDS = 30.0


def resolve_device(name: str) -> torch.device:
    """``auto`` → the GPU when CUDA is available, else the CPU (one-line errors for the rest)."""
    from sertool.train.distributed import resolve_device as resolve

    return resolve(name)


def _first(count, need: int, hi: int) -> int:
    """The smallest n in [1, hi] with count(n) >= need (count non-decreasing); hi if none."""
    lo = 1
    while lo < hi:
        mid = (lo + hi) // 2
        if count(mid) >= need:
            hi = mid
        else:
            lo = mid + 1
    return lo


class Predictor:
    """A bundle's model and the preparation of its inputs from audio (see the module docstring)."""

    def __init__(self, bundle: Bundle, device: torch.device, path: str | Path | None = None):
        self.bundle, self.device = bundle, device
        self.path = None if path is None else Path(path)
        self.model, self.cfg, self.main = bundle.model, bundle.cfg, bundle.main_task
        self.specs = bundle.specs
        self.rates = {name: spec.audio_rate for name, spec in bundle.specs.items()}

    @classmethod
    def load(cls, path: str | Path, fold: str | None = None, device: str = "auto") -> Predictor:
        """The model of an experiment directory (the fold with the best dev UA, or ``fold``) or of a ``.pt``."""
        dev = resolve_device(device)
        bundle_path = find_bundle(path, fold)
        return cls(Bundle.load(bundle_path, dev), dev, bundle_path)

    # ------------------------------------------------------------------ what the model takes
    @property
    def labels(self) -> list[str]:
        """The main task's classes, in the model's order."""
        return list(self.bundle.raw["tasks"][self.main].get("labels", []))

    @functools.cached_property
    def limits(self) -> Limits:
        """The shortest clip the model answers and the longest window it reads, in seconds.

        The shortest is what every input needs for the encoder to make one output frame
        (``frame_stride`` input frames), checked by running the model on noise of that length
        (doubled until the model answers); the longest is the training length: each input's crop
        length ``max_len`` (``data.max_seconds`` in whole frames, or samples), or
        :data:`UNCROPPED_WINDOW_SECONDS` for a model trained on whole clips.
        """
        stride = max(1, int(getattr(self.model.encoder, "frame_stride", 1)))
        shortest, longest = [], []
        for spec in self.specs.values():
            rate = self.rates[spec.name]
            if spec.source == "audio":
                shortest.append(stride / rate)
                if spec.max_len is not None:
                    longest.append(spec.max_len / rate)
                continue
            count = spec._built_extractor().num_frames  # the frames the features stage makes of n samples
            shortest.append(_first(count, stride, 60 * rate) / rate)
            if spec.max_len is not None:
                longest.append(spec.max_len * spec.frame_shift)
        max_seconds = min(longest) if longest else UNCROPPED_WINDOW_SECONDS
        min_seconds = max(shortest)
        while not self._answers_noise(min_seconds):
            if min_seconds >= max_seconds:
                raise SertoolError(f"the model answers no clip of up to {max_seconds:.2f} s (its training length)")
            min_seconds = min(2 * min_seconds, max_seconds)
        return Limits(min_seconds=math.ceil(round(min_seconds * 1000, 6)) / 1000, max_seconds=max_seconds)

    def _answers_noise(self, seconds: float) -> bool:
        rate = max(self.rates.values())
        n = max(1, int(math.ceil(seconds * rate)))
        wave = (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
        try:
            from sertool.inference.records import is_finite

            answer = self.answer_batch(self._inputs_of([(wave, rate, None)]), retry=False)[0]
        except Exception:
            return False
        if isinstance(answer, Exception) or not is_finite(answer):
            return False
        self._example = answer
        return True

    @property
    def example_answer(self) -> dict[str, Any]:
        """The model's answer for a little noise: the keys (and label orders) every answer has."""
        self.limits  # noqa: B018  (the probe that finds the limits keeps its answer)
        return self._example

    @property
    def min_seconds(self) -> float:
        return self.limits.min_seconds

    @property
    def max_seconds(self) -> float | None:
        return self.limits.max_seconds

    # ------------------------------------------------------------------ the model on inputs
    def inputs(self, waves: dict[int, np.ndarray], speaker: str | None = None) -> dict[str, torch.Tensor]:
        """The batch (of one) of named inputs from the clip resampled to each rate the model needs.

        The whole clip is used (crop to the training length as training did): the low-level path
        under :meth:`predict_wave`, which first splits a long clip into windows.
        """
        out: dict[str, torch.Tensor] = {}
        for name, spec in self.specs.items():
            rate = self.rates[name]
            x = torch.from_numpy(spec.from_audio(waves[rate], rate, speaker))
            out[name] = x[None].to(self.device)
            out[f"{name}_lengths"] = torch.tensor([x.shape[0]], device=self.device)
        return out

    def _inputs_of(self, windows: list[tuple[np.ndarray, int, str | None]]) -> dict[str, torch.Tensor]:
        from sertool.inference.pipeline import collate

        items = []
        for wave, rate, speaker in windows:
            waves = {r: resample(wave, rate, r) for r in set(self.rates.values())}
            items.append({name: spec.from_audio(waves[self.rates[name]], self.rates[name], speaker)
                          for name, spec in self.specs.items()})
        return collate(items)

    @torch.inference_mode()
    def _answers(self, inputs: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
        inputs = {k: v.to(self.device, non_blocking=True) for k, v in inputs.items()}
        preds = self.model(**inputs)
        n = next(iter(inputs.values())).shape[0]
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        for name, task in self.model.tasks.items():
            for item, answer in zip(out, task.answer(preds[name])):
                if name == self.main:
                    item["emotion"] = answer[name]
                    item["probabilities"] = answer[f"{name}_probabilities"]
                elif task.kind == "intensity" and "intensity" not in item:
                    item["intensity"] = answer[name]
                else:
                    item.update(answer)
        # the main task first, whatever the order of the heads
        first = ("emotion", "probabilities")
        return [{**{k: a[k] for k in first if k in a}, **{k: v for k, v in a.items() if k not in first}} for a in out]

    def predict_inputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Answers of every head that has one for a batch of one: the main task as ``emotion`` and
        ``probabilities``, an intensity head as ``intensity``, other classifiers (``gender``, …) by
        task name."""
        return self._answers(inputs)[0]

    def answer_batch(self, inputs: dict[str, torch.Tensor], retry: bool = True) -> list[dict[str, Any] | Exception]:
        """Each item's answer for a padded batch (as :func:`~sertool.inference.pipeline.collate` makes it).

        When the model fails on the batch, each item is run alone (``retry``): an item that still
        fails gets its exception in place of an answer, the others their answers.
        """
        try:
            return list(self._answers(inputs))
        except Exception as e:
            n = next(iter(inputs.values())).shape[0]
            if not retry or n == 1:
                return [e] * n
        out: list[dict[str, Any] | Exception] = []
        names = [k for k in inputs if not k.endswith("_lengths")]
        for i in range(n):
            one = {}
            for name in names:
                length = int(inputs[f"{name}_lengths"][i])
                one[name] = inputs[name][i: i + 1, :length]
                one[f"{name}_lengths"] = inputs[f"{name}_lengths"][i: i + 1]
            try:
                out.append(self._answers(one)[0])
            except Exception as e:
                out.append(e)
        return out

    # ------------------------------------------------------------------ waveforms
    def _wave_plan(self, wave: np.ndarray, sample_rate: int, mode: Segmenting) -> tuple[ClipPlan, np.ndarray]:
        x = np.asarray(wave, dtype=np.float32)
        if x.ndim == 2:  # (samples, channels), as soundfile reads: down-mixed
            x = x.mean(axis=1, dtype=np.float32)
        if x.ndim != 1:
            raise SertoolError(f"expected a mono waveform (samples,) or (samples, channels), got shape {x.shape}")
        plan = ClipPlan(0, None, sample_rate=int(sample_rate), frames=int(x.size), segmented=mode.active)
        limits = self.limits
        mode.check(limits)
        if x.size == 0:
            raise SertoolError("the waveform has no samples")
        if not np.isfinite(x).all():
            bad = int(np.argmin(np.isfinite(x)))
            raise SertoolError(f"non-finite samples (NaN or Inf) at {bad / sample_rate:.2f} s")
        if plan.duration < limits.min_seconds:
            raise SertoolError(f"too short: {plan.duration:.3f} s, the model needs at least "
                               f"{limits.min_seconds:.3f} s of audio")
        parts = None
        if mode.split_on_silence:
            parts = speech_parts(frame_levels([x], plan.sample_rate), plan.frames, plan.sample_rate, limits)
        plan.units = plan_units(plan.frames, plan.sample_rate, limits, mode, parts)
        return plan, x

    def _answer_waves(self, waves: list[tuple[np.ndarray, int, str | None]], mode: Segmenting,
                      batch_size: int) -> list[list[dict[str, Any]]]:
        """Each waveform's records (errors as error records), computed in batches of ``batch_size`` windows."""
        from sertool.inference.pipeline import Job, WindowFeatures, collate
        from sertool.inference.records import clip_records, is_finite

        features = WindowFeatures(self.specs)
        plans: list[ClipPlan | None] = []
        errors: list[str | None] = []
        pending: list[tuple[int, Job, dict[str, np.ndarray]]] = []
        answers: list[dict[tuple[int, int], dict[str, Any]]] = [{} for _ in waves]
        for i, (wave, rate, speaker) in enumerate(waves):
            try:
                plan, x = self._wave_plan(wave, rate, mode)
                jobs = [Job(i, u, w, a, b) for u, unit in enumerate(plan.units)
                        for w, (a, b) in enumerate(unit.windows)]
                whole = len(jobs) == 1 and not mode.active
                done, inputs, _ = features.compute(x, plan.sample_rate, 0, jobs, speaker, whole=whole)
                pending.extend((i, j, inp) for j, inp in zip(done, inputs))
                plans.append(plan)
                errors.append(None)
            except SertoolError as e:
                plans.append(None)
                errors.append(str(e))
        for k in range(0, len(pending), batch_size):
            chunk = pending[k: k + batch_size]
            for (i, job, _), answer in zip(chunk, self.answer_batch(collate([c[2] for c in chunk]))):
                if isinstance(answer, Exception):
                    errors[i] = errors[i] or f"the model failed on this clip: {type(answer).__name__}: {answer}"
                elif not is_finite(answer):
                    errors[i] = errors[i] or "the model's answer is not finite (NaN or Inf)"
                else:
                    answers[i][(job.unit, job.window)] = answer
        out = []
        for plan, error, got in zip(plans, errors, answers):
            out.append([{"error": error}] if plan is None else clip_records(plan, got, error))
        return out

    def predict_wave(self, wave: np.ndarray, sample_rate: int, speaker: str | None = None) -> dict[str, Any]:
        """Predict from a waveform at ``sample_rate`` (mono, or ``(samples, channels)``, down-mixed).

        A waveform longer than the training length is answered from windows covering it
        (``"windows": n``). Raises :class:`SertoolError` for one too short, silent or not finite.
        """
        record = self._answer_waves([(wave, sample_rate, speaker)], Segmenting(), 16)[0][-1]
        if "error" in record:
            raise SertoolError(record["error"])
        return record

    def predict_batch(self, waves: Iterable[np.ndarray], sample_rate: int | Iterable[int],
                      speakers: Iterable[str | None] | None = None, batch_size: int = 16) -> list[dict[str, Any]]:
        """One answer per waveform, in order; an ``{"error": ...}`` record for a waveform that has none.

        ``sample_rate`` is the rate of all of them, or one rate per waveform. Windows of all the
        waveforms are run through the model together, ``batch_size`` at a time.
        """
        waves = list(waves)
        rates = [int(sample_rate)] * len(waves) if isinstance(sample_rate, (int, np.integer)) else list(sample_rate)
        spk = [None] * len(waves) if speakers is None else list(speakers)
        if not len(rates) == len(spk) == len(waves):
            raise SertoolError(f"{len(waves)} waveforms but {len(rates)} sample rates and {len(spk)} speakers")
        return [r[-1] for r in self._answer_waves(list(zip(waves, rates, spk)), Segmenting(), batch_size)]

    # ------------------------------------------------------------------ files
    def plan(self, sources: Iterable[Any], segment: float | None = None, hop: float | None = None,
             split_on_silence: bool = False) -> list[ClipPlan]:
        """The plan of each source (a path or a :class:`~sertool.inference.sources.Source`): units, windows, errors."""
        from sertool.inference.plan import plan_clip
        from sertool.inference.sources import Source

        mode = Segmenting(segment, hop, split_on_silence)
        mode.check(self.limits)
        return [plan_clip(i, s if isinstance(s, Source) else Source(str(s)), self.limits, mode)
                for i, s in enumerate(sources)]

    def run(self, plans: list[ClipPlan], batch_size: int = 16, workers: int | None = None,
            threads: int | None = None) -> Iterator[tuple[ClipPlan, list[dict[str, Any]]]]:
        """Each planned clip with its records, in order (see :func:`sertool.inference.pipeline.run_plans`)."""
        from sertool.inference.pipeline import run_plans

        return run_plans(self, plans, batch_size=batch_size, workers=workers, threads=threads)

    def predict_files(self, inputs: Iterable[str | Path], batch_size: int = 16, workers: int | None = None,
                      segment: float | None = None, hop: float | None = None,
                      split_on_silence: bool = False) -> Iterator[dict[str, Any]]:
        """Records for every clip the inputs name (files, directories, ``@lists``, ``.jsonl`` manifests), in order.

        A clip that cannot be answered gets ``{"file", "error"}``; decoding and features run in
        ``workers`` processes (None: chosen from the cores and the amount of work).
        """
        from sertool.inference.sources import expand_inputs

        plans = self.plan(expand_inputs(inputs), segment, hop, split_on_silence)
        for _, records in self.run(plans, batch_size, workers):
            yield from records

    def predict_file(self, path: str | Path, speaker: str | None = None) -> dict[str, Any]:
        """Read any audio file soundfile supports and predict; errors are one-line SertoolErrors.

        A file longer than the training length is read a window at a time and answered from
        windows covering it (``"windows": n``).
        """
        from sertool.inference.sources import Source

        plans = self.plan([Source(str(path), speaker=speaker)])
        ((_, records),) = list(self.run(plans, workers=0))
        record = records[-1]
        if "error" in record:
            raise SertoolError(record["error"])
        return record

    def predict_segments(self, audio: str | Path | np.ndarray, sample_rate: int | None = None,
                         segment: float | None = None, hop: float | None = None, split_on_silence: bool = False,
                         speaker: str | None = None, batch_size: int = 16,
                         workers: int | None = 0) -> list[dict[str, Any]]:
        """A long recording (a file, read in blocks, or a waveform) answered segment by segment.

        ``segment``/``hop`` seconds give sliding windows, ``split_on_silence`` the parts between
        pauses (by energy). Returns one record per segment (``segment``, ``start``, ``end`` and the
        answer, or ``skipped`` for silence), then the summary (``segments``: how many were
        answered; their duration-weighted mean). Raises :class:`SertoolError` when nothing can be
        answered.
        """
        if segment is None and not split_on_silence:
            raise SertoolError("give segment (seconds) or split_on_silence=True")
        mode = Segmenting(segment, hop, split_on_silence)
        if isinstance(audio, (str, Path)):
            from sertool.inference.sources import Source

            plans = self.plan([Source(str(audio), speaker=speaker)], segment, hop, split_on_silence)
            ((_, records),) = list(self.run(plans, batch_size, workers))
        else:
            if sample_rate is None:
                raise SertoolError("a waveform needs its sample_rate")
            records = self._answer_waves([(audio, sample_rate, speaker)], mode, batch_size)[0]
        if "error" in records[-1]:
            raise SertoolError(records[-1]["error"])
        return records

    # ------------------------------------------------------------------ the model card
    def card(self) -> dict[str, Any]:
        """What the model is: labels, heads, inputs, training data and scores (see :mod:`sertool.inference.card`)."""
        from sertool.inference.card import model_card

        return model_card(self)
