"""Building blocks shared by encoders and task heads: padding masks, packed RNNs, pooling.

Encoders (:mod:`sertool.models`) and heads (:mod:`sertool.tasks`) both build on these, so they
live below both and neither package imports the other's internals.
"""
