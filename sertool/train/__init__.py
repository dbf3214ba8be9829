"""Experiment configuration, data loading, the trainer, checkpoints and the fold runner."""
