"""Feature directories: index/cmvn/config contracts, FeatureReader (also in DataLoader workers), CMVN pooling."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sertool.audio import read_audio
from sertool.data.manifest import read_manifest
from sertool.errors import SertoolError
from sertool.features import storage
from sertool.features.cmvn import Cmvn
from sertool.features.extractors import get_extractor, load_extractor
from sertool.features.pipeline import extract_features
from sertool.features.storage import INDEX_FIELDS, FeatureReader, dataset_key
from sertool.processes import one_thread
from sertool.testing.audio import make_corpus


@pytest.fixture(scope="module")
def fbank_dir(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fbank")
    manifest = make_corpus(root / "data", num_utts=7, speakers=3)
    conf = root / "conf.yaml"
    conf.write_text("shard_size: 3\n")
    extract_features([manifest], root / "feats", "fbank", config=conf)
    return manifest, root / "feats"


def test_directory_layout_and_index_contract(fbank_dir):
    manifest, feats = fbank_dir
    assert sorted(p.name for p in feats.glob("feats-*.h5")) == ["feats-00000.h5", "feats-00001.h5", "feats-00002.h5"]
    lines = [json.loads(line) for line in (feats / "index.jsonl").read_text().splitlines()]
    utts = read_manifest(manifest)
    assert [line["id"] for line in lines] == [u.id for u in utts]  # manifest order
    for i, line in enumerate(lines):
        assert tuple(line) == INDEX_FIELDS
        assert line["shard"] == f"feats-{i // 3:05d}.h5"
        assert line["key"] == dataset_key(line["id"], None)
        assert (line["dims"], line["frame_shift"], line["aug"]) == (80, 0.01, None)
        n = round(utts[i].duration * 16000)
        assert line["frames"] == 1 + (n - 400) // 160
    assert (feats / ".done").is_file()


def test_reader_matches_extractor_and_config_rebuilds_it(fbank_dir):
    manifest, feats = fbank_dir
    reader = FeatureReader(feats)
    ext = load_extractor(feats)
    assert ext.name == "fbank" and ext.conf_dict() == get_extractor("fbank").conf_dict()
    saved = yaml.safe_load((feats / "config.yaml").read_text())
    assert saved["extractor"] == "fbank" and saved["shard_size"] == 3
    assert (reader.dims, reader.frame_shift) == (80, 0.01)
    for u in read_manifest(manifest):
        x = reader.read(u.id)
        assert x.dtype == np.float32 and x.shape == (reader.frames(u.id), 80)
        with one_thread():  # workers compute with one BLAS thread; more threads change the last bits
            np.testing.assert_array_equal(x, ext(*read_audio(u.audio)))
        assert reader.augmentations(u.id) == [None]
    with pytest.raises(SertoolError, match="not in"):
        reader.read("synthetic/nope")


def test_cmvn_contract_and_exact_pooling(fbank_dir):
    manifest, feats = fbank_dir
    data = json.loads((feats / "cmvn.json").read_text())
    assert data["dims"] == 80 and set(data["global"]) == {"count", "mean", "var"}
    assert set(data["speakers"]) == {"synthetic/s0", "synthetic/s1", "synthetic/s2"}
    assert all(set(s) == {"count", "mean", "var"} for s in data["speakers"].values())

    reader, cmvn = FeatureReader(feats), Cmvn.load(feats)
    utts = read_manifest(manifest)
    for chosen in (["synthetic/s0", "synthetic/s2"], ["synthetic/s1"], None):
        frames = np.concatenate([reader.read(u.id) for u in utts if chosen is None or u.speaker in chosen])
        mean, std = cmvn.pooled(chosen)
        assert mean.dtype == np.float32 and mean.shape == (80,)
        np.testing.assert_allclose(mean, frames.astype(np.float64).mean(0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(std, frames.astype(np.float64).std(0), rtol=1e-4, atol=1e-5)
    assert cmvn.moments(["synthetic/s0", "synthetic/s2"]).count == sum(
        reader.frames(u.id) for u in utts if u.speaker != "synthetic/s1")
    with pytest.raises(SertoolError, match="no CMVN statistics for speaker"):
        cmvn.pooled(["synthetic/unknown"])


def test_std_is_floored(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=1, speakers=1)
    extract_features([manifest], tmp_path / "wav", "waveform")
    mean, std = Cmvn.load(tmp_path / "wav").pooled(std_floor=10.0)
    assert std.tolist() == [10.0]


class _Frames(torch.utils.data.Dataset):
    def __init__(self, reader: FeatureReader) -> None:
        self.reader, self.ids = reader, reader.ids()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        return i, torch.from_numpy(self.reader.read(self.ids[i])).mean(0)


def test_reader_in_dataloader_workers_and_pickle(fbank_dir):
    _, feats = fbank_dir
    reader = FeatureReader(feats)
    reader.read(reader.ids()[0])  # open a shard in the parent before the workers fork
    clone = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(clone.read(reader.ids()[1]), reader.read(reader.ids()[1]))
    loader = torch.utils.data.DataLoader(_Frames(reader), batch_size=2, num_workers=2)
    got = {int(i): m for idx, means in loader for i, m in zip(idx, means)}
    assert sorted(got) == list(range(len(reader.ids())))
    for i, utt in enumerate(reader.ids()):
        torch.testing.assert_close(got[i], torch.from_numpy(reader.read(utt)).mean(0))


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SertoolError, match="no index.jsonl"):
        FeatureReader(tmp_path)
    with pytest.raises(SertoolError, match="CMVN statistics not found"):
        Cmvn.load(tmp_path)
    with pytest.raises(SertoolError, match="no config.yaml"):
        load_extractor(tmp_path)


def test_finished_shards_are_dropped_from_the_page_cache(tmp_path, monkeypatch):
    advised = []

    def fadvise(fd, offset, length, advice):
        advised.append((os.readlink(f"/proc/self/fd/{fd}"), advice))

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    monkeypatch.setattr(storage, "DROP_BEHIND", storage.DropBehind())  # no shard of another test pending
    manifest = make_corpus(tmp_path / "corpus", num_utts=4, speakers=2, seconds=(1.0, 1.5))
    conf = tmp_path / "conf.yaml"
    conf.write_text("shard_size: 2\n")
    extract_features([manifest], tmp_path / "feats", "fbank", config=conf, jobs=1)
    shards = [str(tmp_path / "feats" / f"feats-0000{i}.h5") for i in range(2)]
    # each finished shard: writeback started at once, dropped again after the next one
    assert advised == [(shards[0], os.POSIX_FADV_DONTNEED), (shards[1], os.POSIX_FADV_DONTNEED),
                       (shards[0], os.POSIX_FADV_DONTNEED)]
