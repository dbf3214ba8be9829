"""Each task reads its label from the manifest, collates it, and scores its own predictions."""

import pytest
import torch

from sertool.data.manifest import Utterance
from sertool.data.tokens import get_inventory
from sertool.errors import SertoolError
from sertool.tasks import build_task, task_class
from sertool.tasks.classification import IGNORE_INDEX, SELECTED_OUT


def utt(emotion="angry", gender="F", speaker="d/s1", eis=2.5, language="en", phones=("K", "IH1", "D", "Z"),
        text="kids", style="acted", channel="studio", esc="anger"):
    return Utterance(id=f"d/{speaker}-{emotion}", corpus="d", audio="/x.wav", duration=1.0, sample_rate=16000,
                     speaker=speaker, gender=gender, language=language, session=None, style=style, text=text,
                     phones=list(phones) if phones else None, emotion=emotion, esc=esc, eis=eis,
                     extra={"channel": channel})


def test_classification_answers_are_probabilities():
    task = build_task("gender", "gender", {"pooled": 4}, {"gamma": 10.0})
    answer = task.answer(torch.tensor([[0.3, 2.0]]))[0]
    assert answer["gender"] == "M"
    assert sum(answer["gender_probabilities"].values()) == pytest.approx(1.0, abs=1e-12)


def test_emotion_over_seqm9_reads_esc():
    task = build_task("emotion", "emotion", {"pooled": 4}, {"label_set": "seqm9"})
    assert task.encode(utt(esc="anger")) == task.labels.index("anger")
    assert task.encode(utt(esc=None)) is None


def test_speaker_classes_come_from_the_training_utterances():
    conf = task_class("speaker").complete_conf({}, [utt(speaker="d/b"), utt(speaker="d/a")])
    assert conf == {"speakers": ["d/a", "d/b"]}
    task = build_task("speaker", "speaker", {"pooled": 4}, conf)
    assert [task.encode(utt(speaker=s)) for s in ("d/a", "d/b", "d/unseen")] == [0, 1, None]


def test_style_reads_a_mapped_field_and_selective_skips_neutral():
    conf = {"field": "extra.channel", "map": {"studio": "acted", "telephone": "spontaneous"}, "selective": True}
    task = build_task("style", "style", {"pooled": 4}, conf)
    assert task.encode(utt(channel="telephone")) == 1
    assert task.encode(utt(channel="studio")) == 0
    assert task.encode(utt(emotion="neutral", channel="telephone")) == SELECTED_OUT
    assert task.encode(utt(channel="landline")) is None  # no style at all: not counted either
    plain = build_task("style", "style", {"pooled": 4}, {})
    assert plain.encode(utt(style="spontaneous")) == 1 and plain.encode(utt(style="synthetic")) is None


def test_selective_style_loss_is_zero_for_neutral_utterances():
    task = build_task("style", "style", {"pooled": 4}, {"selective": True})
    batch = [utt(emotion="neutral"), utt(emotion="angry", style="spontaneous"), utt(emotion="neutral"),
             utt(emotion="sad", style="synthetic")]  # the last has no style label
    labels = task.collate([task.encode(u) for u in batch])
    assert labels["target"].tolist() == [IGNORE_INDEX, 1, IGNORE_INDEX, IGNORE_INDEX]
    logits = torch.randn(4, 2, requires_grad=True)
    loss = task.loss(logits, labels)
    # (1 − λ_i) · loss_i averaged over the utterances that have a style, with λ_i = 1 (a zero) for neutral
    ce = torch.nn.functional.cross_entropy(logits[1:2], torch.tensor([1]))
    assert torch.allclose(loss, ce / 3)
    loss.backward()
    assert torch.all(logits.grad[[0, 2, 3]] == 0)
    neutral_only = task.collate([task.encode(u) for u in batch[::2]])
    assert task.loss(logits[:2], neutral_only) is None  # no style loss at all for an all-neutral batch


def test_class_weights_give_neutral_lambda_one_on_the_emotion_loss():
    task = build_task("emotion", "emotion", {"pooled": 4}, {"class_weights": {"neutral": 1.25}})
    logits = torch.randn(2, 4)
    labels = task.collate([0, 2])  # neutral, angry
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2]), reduction="none")
    assert torch.allclose(0.8 * task.loss(logits, labels), (torch.tensor([1.0, 0.8]) * ce).mean())
    with pytest.raises(SertoolError, match="unknown class"):
        build_task("emotion", "emotion", {"pooled": 4}, {"class_weights": {"calm": 2.0}})


def test_intensity_ignores_unspecified_eis_and_clips_answers():
    task = build_task("intensity", "intensity", {"pooled": 4}, {})
    labels = task.collate([task.encode(u) for u in (utt(eis=2.5), utt(eis=-1.0), utt(emotion="neutral", eis=0.0))])
    assert task.references(labels) == [2.5, None, 0.0]
    pred = torch.tensor([3.0, 7.0, -2.0])
    assert task.decode(pred) == [3.0, 4.0, 0.0]
    assert task.answer(pred)[1] == {"intensity": 4.0}
    m = task.metrics([2.5, 0.0], [3.0, 0.0])
    assert m["mse"] == pytest.approx(0.125) and 0 < m["ccc"] < 1


def test_items_without_an_intensity_label_leave_the_ccc_and_its_gradient_unchanged():
    # speecheq.txt Algorithm 1: an emotion utterance without intensity is label-ignored (it stays in
    # the batch moments); an ASR utterance (no emotion at all) has no label and must not enter them.
    task = build_task("intensity", "intensity", {"pooled": 4}, {})
    emotion = [utt(eis=2.5), utt(eis=-1.0), utt(emotion="neutral", eis=0.0), utt(eis=3.5)]
    asr = [utt(emotion=None, esc=None, eis=-1.0), utt(emotion=None, esc=None, eis=-1.0)]
    assert task.encode(utt(eis=-1.0)) is not None and task.encode(asr[0]) is None

    def loss_and_grad(utts, preds):
        pred = torch.tensor(preds, requires_grad=True)
        loss = task.loss(pred, task.collate([task.encode(u) for u in utts]))
        loss.backward()
        return loss.detach(), pred.grad[: len(emotion)]

    alone = loss_and_grad(emotion, [2.0, 1.0, 0.5, 3.0])
    mixed = loss_and_grad(emotion + asr, [2.0, 1.0, 0.5, 3.0, 3.9, 0.1])
    assert torch.allclose(alone[0], mixed[0]) and torch.allclose(alone[1], mixed[1])
    assert alone[1][1] == 0  # the label-ignored item gets no gradient


def test_ctc_encodes_phones_of_its_language_only():
    task = build_task("phones", "ctc", {"frames": 8}, {"inventory": "cmudict85"})
    inv = get_inventory("cmudict85")
    assert task.blank == 85 == inv.size
    assert task.encode(utt()) == inv.ids(["K", "IH1", "D", "Z"])
    assert task.encode(utt(language="zh", phones=("j", "in1"))) is None
    assert task.encode(utt(phones=None)) is None
    with pytest.raises(SertoolError, match="not in inventory"):
        task.encode(utt(phones=("j", "in1")))  # an English utterance with pinyin: a broken manifest
    chars = build_task("chars", "ctc", {"frames": 8}, {"inventory": "char32", "field": "text"})
    assert chars.encode(utt(text="Kids are")) == get_inventory("char32").ids(list("kids|are"))


def test_ctc_greedy_decoding_and_phone_error_rate():
    task = build_task("phones", "ctc", {"frames": 8}, {"inventory": "cmudict85"})
    b = task.blank
    path = [3, 3, b, 3, 7, b, b]  # → 3 3 7
    log_probs = torch.full((1, 7, b + 1), -10.0)
    log_probs[0, torch.arange(7), torch.tensor(path)] = 0.0
    pred = {"log_probs": log_probs, "lengths": torch.tensor([7])}
    assert task.decode(pred) == [[3, 3, 7]]
    labels = task.collate([[3, 7]])
    assert task.references(labels) == [[3, 7]]
    assert task.metrics([[3, 7]], [[3, 3, 7]]) == {"per": 0.5}


def test_reconstruction_maps_pooled_frames_back_to_the_input_rate():
    torch.manual_seed(0)
    task = build_task("recon", "reconstruction", {"frames": 6, "input": 4, "input_stride": 3}, {"lstm_units": 5})
    x = torch.randn(2, 10, 4)
    enc_out = {"frames": torch.randn(2, 3, 6), "frame_lengths": torch.tensor([3, 2]),
               "input": x, "input_lengths": torch.tensor([10, 7])}
    pred = task(enc_out)
    assert pred["pred"].shape == pred["target"].shape == (2, 9, 4)
    assert pred["lengths"].tolist() == [9, 6]
    labels = task.collate([task.encode(utt()), None])
    loss = task.loss(pred, labels)
    assert torch.allclose(loss, ((pred["pred"][0] - x[0, :9]) ** 2).mean())
    assert len(task.decode(pred)) == 2 and set(task.metrics([True], [0.5])) == {"mse"}


def test_unknown_task_type_and_missing_encoder_output_are_one_line_errors():
    with pytest.raises(SertoolError, match="unknown task type"):
        build_task("x", "nope", {"pooled": 4}, {})
    with pytest.raises(SertoolError, match="no output 'frames'"):
        build_task("phones", "ctc", {"pooled": 4}, {})


def test_ctc_char32_uses_the_inventory_pad_as_blank():
    chars = build_task("chars", "ctc", {"frames": 8}, {"inventory": "char32", "field": "text"})
    assert chars.blank == 0 and chars.head.out_features == 32  # wav2vec 2.0's 32-way CTC head
    assert chars.encode(utt(text="Kids, are -- 2!")) == get_inventory("char32").ids(list("kids|are|two"))
    log_probs = torch.full((1, 4, 32), -10.0)
    log_probs[0, torch.arange(4), torch.tensor([6, 0, 6, 4])] = 0.0  # t <blank> t |
    assert chars.decode({"log_probs": log_probs, "lengths": torch.tensor([4])}) == [[6, 6, 4]]


def test_emotion_scores_report_uai_and_character_ctc_reports_wer():
    emotion = build_task("emotion", "emotion", {"pooled": 4}, {"label_set": "seqm9"})
    labels = emotion.labels
    refs = [labels.index(x) for x in ("neutral", "joy", "anger", "sadness", "fear")]
    hyps = [labels.index(x) for x in ("neutral", "joy", "sadness", "sadness", "neutral")]
    scores = emotion.report(refs, hyps)
    assert scores["uai"] == pytest.approx(3 / 4)  # speecheq.txt §3.1: UA over neutral, happy, angry, sad
    assert "uai" not in build_task("gender", "gender", {"pooled": 4}, {}).report([0, 1], [0, 0])
    chars = build_task("chars", "ctc", {"frames": 4}, {"inventory": "char32", "field": "text"})
    inv = get_inventory("char32")
    ref, hyp = inv.ids(list("the|cat")), inv.ids(list("the|bat"))
    m = chars.metrics([ref], [hyp])
    assert m["wer"] == pytest.approx(0.5) and m["cer"] == pytest.approx(1 / 7)
