"""Features: extractors by name, pitch, random resampling, augmentation, HDF5 shards, CMVN.

Modules:

* :mod:`~sertool.features.extractors` — :func:`get_extractor`, :func:`load_extractor`, the registry
  (``fbank``, ``logmel``, ``spectrogram``, ``speechsplit`` in :mod:`~sertool.features.spectral`, ``pitch`` in
  :mod:`~sertool.features.pitch`, ``waveform`` in :mod:`~sertool.features.waveform`)
* :mod:`~sertool.features.pipeline` — :func:`extract_features`, the ``sertool features`` stage;
  :mod:`~sertool.features.jobs` — its per-shard work in worker processes
* :mod:`~sertool.features.storage` — shards, ``index.jsonl``, :class:`FeatureReader`
* :mod:`~sertool.features.cmvn` — ``cmvn.json``, :class:`Cmvn` (exact pooling over speakers)
* :mod:`~sertool.features.random_resample` — SpeechSplit random resampling (online and stored)
* :mod:`~sertool.features.augment` — speed, pitch shift, reverberation, noise copies
* :mod:`~sertool.features.config` — YAML sections into config dataclasses

A feature directory holds ``feats-NNNNN.h5`` shards, ``index.jsonl``, ``cmvn.json``,
``config.yaml`` (extractor name + resolved settings, read by :func:`load_extractor`) and
``.done``; ``pitch`` adds ``speaker_f0.json``. Frames per extractor, ``N`` = samples after
resampling to 16 kHz: fbank ``1 + (N - 400) // 160`` (Kaldi ``snip_edges``; 0 below 400
samples, refused); logmel ``1 + N // 400``; spectrogram and speechsplit ``1 + N // 256``; pitch
``1 + int(N / 160)`` (10 ms; RAPT at ``frame_period_ms: 16``: ``1 + N // 256``); waveform ``N``.

Example::

    from sertool.features.storage import FeatureReader
    FeatureReader("feats/fbank").read("ravdess/03-01-05-01-01-01-01").shape   # (312, 80)
"""
