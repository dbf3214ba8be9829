"""The features stage: skip/force, resume after a kill, refusing bad output, combinations, --jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sertool.errors import SertoolError
from sertool.features.pipeline import extract_features
from sertool.features.spectral import FbankExtractor, LogMelExtractor
from sertool.features.storage import FeatureReader
from sertool.testing.audio import make_corpus


def values(feats_dir: Path) -> dict:
    reader = FeatureReader(feats_dir)
    return {(u, a): reader.read(u, a) for u in reader.ids() for a in reader.augmentations(u)}


def assert_same_values(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def shard_bytes(feats_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(feats_dir.glob("feats-*.h5"))}


@pytest.fixture()
def corpus(tmp_path) -> tuple[Path, Path]:
    conf = tmp_path / "conf.yaml"
    conf.write_text("shard_size: 2\n")
    return make_corpus(tmp_path / "data", num_utts=7, speakers=2), conf


def crash_on_fifth_utterance(monkeypatch) -> None:
    """Make the fbank extractor fail on its fifth utterance, as a crash midway through a run."""
    calls = {"n": 0}
    original = FbankExtractor.compute

    def crash_on_fifth(self, wave):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("simulated crash")
        return original(self, wave)

    monkeypatch.setattr(FbankExtractor, "compute", crash_on_fifth)


def test_done_marker_skips_and_force_redoes(corpus, tmp_path):
    manifest, conf = corpus
    out = tmp_path / "feats"
    extract_features([manifest], out, "fbank", config=conf)
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("feats-*.h5")}
    table = extract_features([manifest], out, "fbank", config=conf)
    assert "nothing to compute" in table.title
    assert {p: p.stat().st_mtime_ns for p in out.glob("feats-*.h5")} == mtimes
    before = values(out)
    extract_features([manifest], out, "fbank", config=conf, force=True)
    assert any(p.stat().st_mtime_ns != m for p, m in mtimes.items())
    assert_same_values(before, values(out))


def test_changed_settings_recompute_without_force(corpus, tmp_path):
    manifest, conf = corpus
    out = tmp_path / "feats"
    extract_features([manifest], out, "fbank", config=conf)
    conf.write_text("shard_size: 2\nfbank: {num_mel_bins: 40}\n")
    extract_features([manifest], out, "fbank", config=conf)
    assert FeatureReader(out).dims == 40 and all(v.shape[1] == 40 for v in values(out).values())


def test_resume_after_deleting_a_shard_gives_identical_values(corpus, tmp_path):
    manifest, conf = corpus
    out = tmp_path / "feats"
    extract_features([manifest], out, "logmel", config=conf)
    before, raw = values(out), shard_bytes(out)
    (out / "feats-00001.h5").unlink()
    (out / ".done").unlink()
    extract_features([manifest], out, "logmel", config=conf)
    assert_same_values(before, values(out))
    assert shard_bytes(out) == raw  # the rewritten shard is byte-identical too


def test_crash_midway_keeps_finished_shards_and_resumes(corpus, tmp_path, monkeypatch):
    manifest, conf = corpus
    clean = tmp_path / "clean"
    extract_features([manifest], clean, "fbank", config=conf)
    out = tmp_path / "feats"
    crash_on_fifth_utterance(monkeypatch)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features([manifest], out, "fbank", config=conf)
    finished = shard_bytes(out)
    assert sorted(finished) == ["feats-00000.h5", "feats-00001.h5"]  # shard 2 died half-written
    assert not (out / ".done").exists() and not list(out.glob(".feats-*"))  # no complete-looking temp

    monkeypatch.undo()  # the extractor works again
    extract_features([manifest], out, "fbank", config=conf)
    after = shard_bytes(out)
    assert all(after[name] == data for name, data in finished.items())  # finished shards untouched
    assert_same_values(values(clean), values(out))


def test_killed_cli_process_resumes(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=16, speakers=2, seconds=(0.6, 0.8))
    conf = tmp_path / "conf.yaml"
    conf.write_text("shard_size: 1\npitch: {method: harvest}\n")  # harvest: slow enough to be killed midway
    out = tmp_path / "feats"
    cmd = [sys.executable, "-m", "sertool", "features", str(manifest), str(out), "-e", "logmel+pitch",
           "--config", str(conf)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while len(list((out / "logmel" / ".parts").glob("feats-*.json"))) < 2 and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "logmel" / ".done").exists() and not (out / "pitch" / ".done").exists()
    finished = {p.name: p.read_bytes() for p in (out / "logmel").glob("feats-*.h5")
                if (out / "logmel" / ".parts" / p.name.replace(".h5", ".json")).exists()}
    assert 2 <= len(finished) < 16

    extract_features([manifest], out, "logmel+pitch", config=conf)
    after = shard_bytes(out / "logmel")
    assert all(after[name] == data for name, data in finished.items())  # finished shards untouched
    clean = tmp_path / "clean"
    extract_features([manifest], clean, "logmel+pitch", config=conf, jobs=2)
    for name in ("logmel", "pitch"):
        assert len(FeatureReader(out / name).ids()) == 16 and (out / name / ".done").is_file()
        assert_same_values(values(clean / name), values(out / name))


def test_nan_output_is_refused_naming_the_utterance(corpus, tmp_path, monkeypatch):
    manifest, conf = corpus
    original = LogMelExtractor.compute

    def nan_for_third(self, wave):
        out = original(self, wave)
        if abs(wave.size - nan_for_third.target) == 0:
            out[3, 5] = np.nan
        return out

    from sertool.data.manifest import read_manifest

    third = read_manifest(manifest)[2]
    nan_for_third.target = round(third.duration * 16000)
    monkeypatch.setattr(LogMelExtractor, "compute", nan_for_third)
    with pytest.raises(SertoolError, match=f"logmel features of {third.id} contain NaN or Inf"):
        extract_features([manifest], tmp_path / "feats", "logmel", config=conf)


def test_too_short_audio_is_refused_naming_the_utterance(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=2, speakers=1, seconds=(0.01, 0.02))
    with pytest.raises(SertoolError, match="fbank features of synthetic/utt0000 are empty"):
        extract_features([manifest], tmp_path / "feats", "fbank")


def test_combination_writes_one_directory_per_extractor_and_jobs_agree(corpus, tmp_path):
    manifest, conf = corpus
    combo = tmp_path / "combo"
    table = extract_features([manifest], combo, "fbank+pitch+waveform", config=conf, jobs=2)
    assert table.row_count == 3
    for name, dims in (("fbank", 80), ("pitch", 4), ("waveform", 1)):
        reader = FeatureReader(combo / name)
        assert reader.dims == dims and len(reader.ids()) == 7
        assert (combo / name / "config.yaml").is_file() and (combo / name / "cmvn.json").is_file()
        single = tmp_path / f"single-{name}"
        extract_features([manifest], single, name, config=conf, jobs=1)
        assert_same_values(values(single), values(combo / name))
    assert not (combo / "pitch" / ".stage").exists()


def test_empty_and_bad_inputs(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=1, speakers=1)
    with pytest.raises(SertoolError, match="unknown extractor"):
        extract_features([manifest], tmp_path / "f", "mfcc")
    bad = tmp_path / "bad.yaml"
    bad.write_text("fbnak: {num_mel_bins: 40}\n")
    with pytest.raises(SertoolError, match="unknown section 'fbnak'"):
        extract_features([manifest], tmp_path / "f", "fbank", config=bad)
    bad.write_text("shard_size: 0\n")
    with pytest.raises(SertoolError, match="shard_size"):
        extract_features([manifest], tmp_path / "f", "fbank", config=bad)
    Path(manifest).write_text("")
    with pytest.raises(SertoolError, match="no utterances"):
        extract_features([manifest], tmp_path / "f", "fbank")


def summary_rows(table) -> dict[str, dict[str, str]]:
    """The summary table's cells by extractor directory name and column header."""
    columns = {c.header: list(c.cells) for c in table.columns}
    return {Path(d).name: {h: cells[i] for h, cells in columns.items()} for i, d in enumerate(columns["directory"])}


def test_resumed_run_counts_the_shards_it_wrote(corpus, tmp_path, monkeypatch):
    """A run resumed after a crash says it wrote 2 of 4 shards, not that it wrote the directory."""
    manifest, conf = corpus  # 7 utterances in shards of 2: 4 shards
    out = tmp_path / "feats"
    crash_on_fifth_utterance(monkeypatch)
    with pytest.raises(RuntimeError):
        extract_features([manifest], out, "fbank", config=conf)
    monkeypatch.undo()  # the extractor works again

    table = extract_features([manifest], out, "fbank", config=conf)
    row = summary_rows(table)["feats"]
    assert (row["shards"], row["status"]) == ("2 of 4", "resumed (2 shards from before)")
    assert row["utts"] == "7"  # the directory's count: every utterance is there
    assert "s of audio" in table.title

    again = summary_rows(extract_features([manifest], out, "fbank", config=conf))["feats"]
    assert again["status"] == "up to date"
    fresh = summary_rows(extract_features([manifest], tmp_path / "fresh", "fbank", config=conf))["fresh"]
    assert (fresh["shards"], fresh["status"]) == ("4 of 4", "written")


def test_run_killed_after_its_last_shard_is_not_nothing_to_compute(corpus, tmp_path):
    """Every shard written but no .done (killed while merging): the rerun merges, and says so."""
    manifest, conf = corpus
    out = tmp_path / "feats"
    extract_features([manifest], out, "logmel+pitch", config=conf)
    for name in ("logmel", "pitch"):
        (out / name / ".done").unlink()
    table = extract_features([manifest], out, "logmel+pitch", config=conf)
    assert "nothing to compute" not in table.title and "finished from shards written before" in table.title
    rows = summary_rows(table)
    for name in ("logmel", "pitch"):
        assert (rows[name]["shards"], rows[name]["status"]) == ("0 of 4", "resumed (4 shards from before)")
