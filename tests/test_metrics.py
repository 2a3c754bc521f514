import pytest

from ocr.metrics import TextMetrics, alnum


def test_metrics_on_hand_computed_strings():
    m = TextMetrics()
    # edits: 0, 1 (wrld -> world), 2 (A-1 -> a1); label characters 5 + 5 + 2 = 12
    m.update(["hello", "wrld", "A-1"], ["hello", "world", "a1"], [0.9, 0.5, 0.1])
    r = {k: float(v) for k, v in m.compute().items()}
    assert r["n"] == 3
    assert r["cer"] == pytest.approx(3 / 12)
    assert r["char_accuracy"] == pytest.approx(9 / 12)
    assert r["word_accuracy"] == pytest.approx(1 / 3)
    # 1 - mean(edits / max(len(pred), len(label))) = 1 - (0 + 1/5 + 2/3) / 3
    assert r["ned"] == pytest.approx(1 - (1 / 5 + 2 / 3) / 3)
    assert r["confidence"] == pytest.approx(0.5)
    # 36-character protocol: "A-1" -> "a1" is right, "wrld" is one edit off "world".
    assert r["word_accuracy_alnum"] == pytest.approx(2 / 3)
    assert r["cer_alnum"] == pytest.approx(1 / 12)


def test_alnum_protocol_skips_labels_that_normalise_to_nothing():
    m = TextMetrics()
    m.update(["x", "ok"], ["!!", "OK"])
    r = m.compute()
    assert float(m.count_alnum) == 1  # "!!" has no alphanumerics and is left out
    assert float(r["word_accuracy_alnum"]) == 1.0
    assert float(r["word_accuracy"]) == 0.0
    assert alnum("Hello, World-42!") == "helloworld42"


def test_states_are_sums_so_merging_equals_one_pass():
    a, b, whole = TextMetrics(), TextMetrics(), TextMetrics()
    preds, labels = ["cat", "dgo", "", "bird"], ["cat", "dog", "eel", "bird"]
    a.update(preds[:2], labels[:2])
    b.update(preds[2:], labels[2:])
    whole.update(preds, labels)
    a.merge_state(b)
    for key, value in whole.compute().items():
        assert float(a.compute()[key]) == pytest.approx(float(value))


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError):
        TextMetrics().update(["a"], ["a", "b"])


def test_texts_are_compared_in_composed_form():
    m = TextMetrics()
    # é as one code point and as e + a combining accent; a nukta letter both ways (Devanagari).
    m.update(["caf\u00e9", "\u095b"], ["cafe\u0301", "\u091c\u093c"])
    r = m.compute()
    assert float(r["word_accuracy"]) == 1.0 and float(r["cer"]) == 0.0


def test_a_set_in_another_script_has_no_36_character_figures():
    metrics = TextMetrics()
    metrics.update(["дом", "кот"], ["дом", "кит"])
    r = metrics.compute()
    assert float(r["word_accuracy"]) == 0.5 and "word_accuracy_alnum" not in r and "cer_alnum" not in r
