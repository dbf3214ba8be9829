"""The model card: what a trained model is, for ``sertool infer EXP --info`` and :meth:`Predictor.card`.

Everything comes from the bundle and the files beside it: labels and heads, the named inputs
(extractor, rate, normalisation, training length) and the clip lengths answered, the training
corpora and fold protocol (read from the manifests and ``folds.json`` the configuration names,
when they are still there), the chosen fold and its dev UA, the test scores of ``EXP/scores.json``
when ``sertool eval`` wrote one, and the sertool version and commit that trained the model and
that runs it.

Example::

    print(format_card(model_card(Predictor.load("exp/tiny"))))
    # model       exp/tiny/fold-1/checkpoints/best.pt (fold 1 of 4, best dev UA; epoch 12)
    # labels      neutral, happy, angry, sad
    # ...
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from sertool.version import provenance


def _experiment_dir(bundle_path: Path | None) -> Path | None:
    """EXP for EXP/fold-<name>/checkpoints/best.pt (None for a bundle elsewhere)."""
    if bundle_path is None:
        return None
    fold_dir = bundle_path.parent.parent
    return fold_dir.parent if fold_dir.name.startswith("fold-") else None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _corpora(manifest: Path) -> dict[str, Any]:
    """Utterances and speakers per corpus of a manifest (or that it is not here)."""
    if not manifest.is_file():
        return {"manifest": str(manifest), "found": False}
    utts: Counter[str] = Counter()
    speakers: dict[str, set[str]] = {}
    with open(manifest, encoding="utf-8") as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            corpus = str(d.get("corpus", "?"))
            utts[corpus] += 1
            speakers.setdefault(corpus, set()).add(str(d.get("speaker")))
    return {"manifest": str(manifest), "found": True,
            "corpora": {c: {"utterances": n, "speakers": len(speakers[c])} for c, n in utts.items()}}


def model_card(predictor: Any) -> dict[str, Any]:
    """The card of a :class:`~sertool.inference.Predictor`'s model, as plain data."""
    from sertool.data.folds import read_folds
    from sertool.errors import SertoolError

    bundle, cfg = predictor.bundle, predictor.cfg
    raw = bundle.raw
    exp = _experiment_dir(predictor.path)
    folds_here = sorted(p.parent.parent.name.removeprefix("fold-") for p in exp.glob("fold-*/checkpoints/best.pt")) \
        if exp else []
    heads = {}
    for name, d in raw["tasks"].items():
        head = {"type": d.get("type", name)}
        if "labels" in d:
            head["labels"] = list(d["labels"])
        if "range" in d:
            head["range"] = list(d["range"])
        heads[name] = head
    inputs = {}
    for name, spec in predictor.specs.items():
        conf = cfg.data.inputs.get(name) if cfg.data.inputs else None
        entry: dict[str, Any] = {"source": spec.source, "sample_rate": predictor.rates[name], "dims": spec.dims}
        if spec.source == "features":
            entry["extractor"] = spec.extractor.get("name") if spec.extractor else None
            entry["frame_shift_ms"] = None if spec.frame_shift is None else round(1000 * spec.frame_shift, 3)
            entry["cmvn"] = (getattr(conf, "cmvn", None) or cfg.data.cmvn)
            if spec.transform:
                entry["transform"] = dict(spec.transform)
        if spec.max_len is not None:
            entry["max_len"] = spec.max_len
        inputs[name] = entry
    protocol: dict[str, Any] = {}
    if cfg.data.folds:
        try:
            name, folds = read_folds(cfg.data.folds)
            protocol = {"name": name, "folds": len(folds), "file": cfg.data.folds}
        except SertoolError:
            protocol = {"file": cfg.data.folds, "found": False}
    scores = _read_json(exp / "scores.json") if exp else None
    test = None
    if scores and isinstance(scores.get("mean"), dict):
        folds_scored = scores.get("folds") or {}
        test = {"split": scores.get("split", "test"), "folds": len(folds_scored),
                "complete": scores.get("complete", True),
                "mean": {k: scores["mean"][k] for k in ("ua", "wa", "macro_f1") if k in scores["mean"]},
                "std": {k: scores["std"][k] for k in ("ua", "wa", "macro_f1") if k in scores.get("std", {})},
                "this_fold": {k: folds_scored[bundle.fold][k] for k in ("ua", "wa")
                              if bundle.fold in folds_scored and k in folds_scored[bundle.fold]} or None}
        protocol.setdefault("name", scores.get("protocol"))
        if scores.get("speaker_independent") is not None:
            protocol["speaker_independent"] = scores["speaker_independent"]
    limits = predictor.limits
    dev = bundle.dev_ua
    return {
        "model": str(predictor.path) if predictor.path else None,
        "experiment": str(exp) if exp else None,
        "fold": bundle.fold,
        "folds_trained": folds_here,
        "epoch": bundle.epoch,
        "dev_ua": None if math.isnan(dev) else dev,
        "main_task": predictor.main,
        "labels": predictor.labels,
        "heads": heads,
        "encoder": {"name": cfg.model.encoder, "conf": dict(cfg.model.encoder_conf),
                    "parameters": sum(p.numel() for p in predictor.model.parameters())},
        "inputs": inputs,
        "clips": {"min_seconds": limits.min_seconds, "max_seconds": limits.max_seconds,
                  "training_seconds": cfg.data.max_seconds},
        "training": {"sources": [_corpora(Path(s.path)) for s in cfg.data.sources()],
                     "speakers": len(bundle.train_speakers), "epochs": cfg.train.epochs},
        "protocol": protocol or None,
        "test": test,
        "trained_with": raw.get("sertool"),
        "running": provenance(),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _sertool(p: dict[str, Any] | None) -> str:
    if not p:
        return "unknown (a bundle written before sertool recorded it)"
    return f"sertool {p.get('version')}" + (f" (commit {p['commit']})" if p.get("commit") else "")


def format_card(card: dict[str, Any]) -> str:
    """The card as aligned ``key  value`` lines."""
    rows: list[tuple[str, str]] = []
    chosen = f"fold {card['fold']}"
    if len(card["folds_trained"]) > 1:
        chosen += f" of {len(card['folds_trained'])} trained, the best dev UA"
    rows.append(("model", f"{card['model']} ({chosen}; epoch {card['epoch']})"))
    rows.append(("labels", ", ".join(card["labels"]) + f"  ({card['main_task']})"))
    heads = []
    for name, h in card["heads"].items():
        what = ", ".join(h["labels"]) if "labels" in h else (f"{h['range'][0]}–{h['range'][1]}" if "range" in h else "")
        heads.append(f"{name} ({h['type']}{': ' + what if what else ''})")
    rows.append(("heads", "; ".join(heads)))
    enc = card["encoder"]
    rows.append(("encoder", f"{enc['name']}, {enc['parameters']:,} parameters"))
    for name, i in card["inputs"].items():
        if i["source"] == "features":
            text = (f"{i['extractor']} features, {i['dims']} dims every {i['frame_shift_ms']:g} ms from "
                    f"{i['sample_rate']} Hz audio, cmvn {i['cmvn']}")
            if i.get("transform"):
                text += f", transform {i['transform'].get('name')}"
        else:
            text = f"audio samples at {i['sample_rate']} Hz"
        rows.append((f"input {name}", text))
    clips = card["clips"]
    train = clips["training_seconds"]
    text = f"at least {clips['min_seconds']:g} s"
    text += (f"; trained on clips cut to {train:g} s, longer ones are answered from windows of up to "
             f"{clips['max_seconds']:.2f} s" if train else f"; longer than {clips['max_seconds']:g} s: windows")
    rows.append(("clips", text))
    for src in card["training"]["sources"]:
        if src["found"]:
            text = "; ".join(f"{c} ({v['utterances']} utterances, {v['speakers']} speakers)"
                             for c, v in src["corpora"].items())
            rows.append(("trained on", f"{text}  [{src['manifest']}]"))
        else:
            rows.append(("trained on", f"{src['manifest']} (not found here)"))
    rows.append(("training", f"{card['training']['speakers']} speakers in this fold's training set, "
                             f"{card['training']['epochs']} epochs"))
    prot = card["protocol"]
    if prot:
        text = str(prot.get("name") or "unknown")
        if prot.get("folds"):
            text += f", {prot['folds']} folds"
        if prot.get("speaker_independent") is not None:
            text += ", speaker-independent" if prot["speaker_independent"] else ", SPEAKER-DEPENDENT"
        rows.append(("protocol", text))
    rows.append(("dev UA", f"{_pct(card['dev_ua'])} (fold {card['fold']}, epoch {card['epoch']})"))
    test = card["test"]
    if test:
        mean, std = test["mean"], test["std"]
        text = ", ".join(f"{k.upper()} {_pct(mean[k])} ± {100 * std.get(k, 0):.1f}" for k in ("ua", "wa") if k in mean)
        text += f" over {test['folds']} folds ({test['split']} sets"
        text += ", PARTIAL)" if test["complete"] is False else ")"
        if test["this_fold"]:
            text += f"; fold {card['fold']}: UA {_pct(test['this_fold'].get('ua'))}"
        rows.append(("test", text))
    else:
        rows.append(("test", "not scored (run `sertool eval EXP` to write EXP/scores.json)"))
    rows.append(("trained with", _sertool(card["trained_with"])))
    rows.append(("running", _sertool(card["running"])))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
