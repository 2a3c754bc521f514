import numpy as np
import pytest
import torch

from ocr.geometry import min_frames
from ocr.text import BLANK, CTCCodec, check_alphabet, visual_order


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


@pytest.mark.parametrize(
    "logical, visual",
    [
        ("سلام", "مالس"),  # right to left: drawn reversed
        ("سلام2024", "2024مالس"),  # a number keeps its order, to the left of the word it follows
        ("كتاب 12 صفحة", "ةحفص 12 باتك"),
        ("abc سلام def", "abc مالس def"),  # an Arabic word inside a left-to-right line
        ("hello", "hello"),
        ("2024", "2024"),
    ],
)
def test_labels_are_trained_in_visual_order_and_read_back_in_logical_order(logical, visual):
    assert visual_order(logical) == visual and visual_order(visual) == logical
    codec = CTCCodec("".join(sorted(set("سلامكتابصفحة0124 abcdefhlo"))))
    targets, _ = codec.encode([logical])
    assert "".join(codec.alphabet[i - 1] for i in targets.tolist()) == visual  # as the image is read
    frames = np.array([[i for t in targets.tolist() for i in (t, BLANK)]])
    assert codec.decode_indices(frames) == [logical]
    texts = [logical, logical[::-1]]  # one length
    assert codec.class_array(texts).tolist() == [codec.classes(t) for t in texts]


def test_class_arrays_of_texts_of_one_length_are_their_classes():
    codec = CTCCodec("cba1é𝄞")  # not in code point order, one beyond the Basic Multilingual Plane
    texts = ["ab1", "𝄞éc", "ccc"]
    assert codec.class_array(texts).tolist() == [codec.classes(t) for t in texts]
    assert codec.class_array([""]).shape == (1, 0) and codec.class_array([]).shape == (0, 0)
    for unknown in (["ab0"], ["ab1", "abz"], ["ab\U0001f600"]):  # below, between and above the alphabet's code points
        with pytest.raises(KeyError, match="outside the alphabet"):
            codec.class_array(unknown)


def test_a_latin_alphabet_is_never_reordered():
    codec = CTCCodec("abc123")
    assert not codec.bidirectional and codec.decode_indices(np.array([[1, 0, 4, 2]])) == ["a1b"]
