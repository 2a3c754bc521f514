import numpy as np
import pytest
import torch

from ocr.geometry import min_frames
from ocr.text import BLANK, CTCCodec, check_alphabet


def test_encode_concatenates_indices_and_keeps_lengths_on_host():
    codec = CTCCodec("abc")
    targets, lengths = codec.encode(["ab", "ccc", ""])
    assert targets.tolist() == [1, 2, 3, 3, 3]
    assert lengths.tolist() == [2, 3, 0]
    assert lengths.device.type == "cpu"
    assert codec.num_classes == 4


def test_encode_names_the_label_and_the_unknown_characters():
    with pytest.raises(ValueError, match=r"'abx'.*'x'"):
        CTCCodec("abc").encode(["abx"])


def test_an_alphabet_with_nul_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        CTCCodec("ab\0c")


def test_greedy_collapse_merges_repeats_and_drops_blanks():
    codec = CTCCodec("abc")
    b = BLANK
    paths = np.array([[1, 1, b, 1, 2, 2, b], [3, b, 3, 3, b, b, b], [b] * 7])
    assert codec.decode_indices(paths) == ["aab", "cc", ""]
    assert codec.decode_indices(paths[:0]) == [] and codec.decode_indices(paths[:, :0]) == ["", "", ""]
    # Characters beyond the Basic Multilingual Plane decode as well.
    assert CTCCodec("é𝄞").decode_indices(np.array([[2, 2, b, 1, 2]])) == ["𝄞é𝄞"]


@pytest.mark.parametrize("label", ["hello", "aa", "abba", "x", "mississippi"])
def test_round_trip_through_a_best_path(label):
    codec = CTCCodec("abehilmopsx")
    targets, _ = codec.encode([label])
    # A path that emits each character once, with a blank after every character.
    path = [v for t in targets.tolist() for v in (t, BLANK)]
    logits = torch.full((1, len(path), codec.num_classes), -10.0)
    logits[0, torch.arange(len(path)), torch.tensor(path)] = 10.0
    texts, confidences = codec.decode_greedy(logits)
    assert texts == [label]
    assert 0.99 < confidences[0] <= 1.0


def test_min_frames_counts_blanks_between_repeats():
    assert min_frames("abc") == 3
    assert min_frames("aab") == 4
    assert min_frames("aaa") == 5


def test_alphabet_with_duplicates_is_refused_with_the_duplicates_named():
    with pytest.raises(ValueError, match=r"duplicate characters 'a'"):
        check_alphabet("abca")
    with pytest.raises(ValueError):
        check_alphabet("")
