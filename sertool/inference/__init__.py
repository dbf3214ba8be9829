"""Running a trained model on new audio: ``sertool infer`` and the :class:`Predictor`.

- :mod:`~sertool.inference.predictor`: the :class:`Predictor` (a file, a waveform, a batch, many
  files, a long recording in segments, the model card);
- :mod:`~sertool.inference.sources`: files, directories, ``@lists`` and manifests as clips;
- :mod:`~sertool.inference.plan`: which windows of a recording the model reads (never cut);
- :mod:`~sertool.inference.pipeline`: batches, worker processes, in-order answers;
- :mod:`~sertool.inference.records` and :mod:`~sertool.inference.output`: the records, as JSON
  lines or CSV;
- :mod:`~sertool.inference.card`: the model card (``sertool infer EXP --info``).

Example::

    from sertool import Predictor
    predictor = Predictor.load("exp/sa_cnn_blstm")
    predictor.predict_file("clip.wav")["emotion"]            # 'angry'
"""

from sertool.inference.predictor import Predictor, find_bundle

__all__ = ["Predictor", "find_bundle"]
