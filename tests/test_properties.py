"""Property-based tests: the codec and every label-file parser on generated input."""

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ocr.data.labels import read_gt_file, read_trdg_folder
from ocr.text import BLANK, CTCCodec, nfc

# Any character a label file can hold inside a label (not the separators of its lines).
label_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r")
# An alphabet: distinct characters, no NUL (refused: decoding uses it as padding).
alphabets = (
    st.text(alphabet=label_chars, min_size=1, max_size=40)
    .map(lambda s: "".join(dict.fromkeys(s.replace("\0", ""))))
    .filter(bool)
)


@given(st.data())
def test_codec_round_trips_any_labels_through_a_ctc_path(data):
    alphabet = data.draw(alphabets)
    labels = data.draw(st.lists(st.text(alphabet=st.sampled_from(alphabet), max_size=25), max_size=6))
    codec = CTCCodec(alphabet)
    targets, lengths = codec.encode(labels)
    assert lengths.tolist() == [len(label) for label in labels]
    assert len(targets) == sum(map(len, labels)) and (len(targets) == 0 or targets.min() >= 1)
    # Best paths: each class repeated 1-3 times, blanks sprinkled between (always one
    # between two equal classes); collapsing them gives the labels back.
    rng = np.random.default_rng(len(labels))
    paths, cursor = [], 0
    for length in lengths.tolist():
        path = []
        for t in targets[cursor : cursor + length].tolist():
            if path and path[-1] == t or rng.random() < 0.3:
                path.append(BLANK)
            path += [t] * int(rng.integers(1, 4))
        paths.append(path)
        cursor += length
    width = max(map(len, paths), default=0) + 1
    padded = np.array([p + [BLANK] * (width - len(p)) for p in paths], dtype=np.int64).reshape(len(paths), width)
    assert codec.decode_indices(padded) == labels


@given(
    st.lists(
        st.tuples(
            st.text(alphabet=st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12),
            st.text(alphabet=label_chars, max_size=30),
        ),
        max_size=8,
        unique_by=lambda e: e[0],
    )
)
@settings(deadline=None)
def test_gt_files_give_back_every_label_in_composed_form(entries):
    with tempfile.TemporaryDirectory() as folder:
        lines = [f"{name}.png\t{label}" for name, label in entries]
        Path(folder, "gt.txt").write_text("\r\n".join(lines) + "\n", encoding="utf-8")
        parsed = read_gt_file(Path(folder))
    assert [(f, label) for f, label, _ in parsed] == [(f"{n}.png", nfc(label)) for n, label in entries]


@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdef0123", min_size=1, max_size=8),
            st.text(alphabet=label_chars, min_size=1, max_size=30),
        ),
        max_size=8,
    )
)
@settings(deadline=None)
def test_trdg_labels_txt_keeps_spaces_inside_labels(entries):
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "labels.txt").write_text("".join(f"{n}.jpg {label}\n" for n, label in entries), encoding="utf-8")
        parsed = read_trdg_folder(Path(folder))
    assert [(f, label) for f, label, _ in parsed] == [(f"{n}.jpg", nfc(label)) for n, label in entries]
