"""Manifests, labels, tokens, folds and datasets: the contracts between stages."""
