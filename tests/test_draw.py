"""The pillow renderer (ocr/data/draw.py): shaping, geometry, photo backgrounds, and
that the shipped model reads its words as it reads trdg's."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageFont

from ocr.data import draw, layers
from ocr.data.fonts import resolve_fonts, trdg_fonts_dir
from ocr.data.images import pad_to_width, to_model_input
from ocr.data.render import RenderJob, Style, render_word
from ocr.data.words import load_vocabulary
from ocr.geometry import label_width
from ocr.recognizer import Recognizer
from ocr.text import visual_order

ROBOTO = str(trdg_fonts_dir() / "Roboto-Regular.ttf")
DEJAVU = str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
# Fetched from the npm registry by `make test` (`make fonts`).
DEVANAGARI = Path(__file__).parents[1] / "data/fonts/noto-sans-devanagari/NotoSansDevanagari_400Regular.ttf"


def ink(coverage: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(coverage > 0.2)
    return coverage[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two ink boxes, the second resized to the first."""
    a, b = ink(a), ink(b)
    b = np.asarray(Image.fromarray(b).resize(a.shape[::-1], Image.Resampling.BILINEAR))
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.skipif(draw.LAYOUT != ImageFont.Layout.RAQM, reason="Pillow without libraqm cannot shape")
def test_arabic_is_joined_and_drawn_right_to_left_from_its_logical_order():
    word = "سلام"  # seen, lam, alef, meem, stored as read
    shaped = draw.draw_text(word, draw.load_font(DEJAVU, 40))
    # The reference: the joining forms Unicode encodes, in visual order (left to right:
    # meem alone, final alef, medial lam, initial seen), drawn without any shaping.
    basic = ImageFont.truetype(DEJAVU, 40, layout_engine=ImageFont.Layout.BASIC)
    reference = draw.draw_text("\ufee1\ufe8e\ufee0\ufeb3", basic)
    unshaped = draw.draw_text(word, basic)  # isolated letters, left to right: what shaping prevents
    assert similarity(reference, shaped) > 0.8
    assert similarity(reference, unshaped) < 0.4


def test_text_sits_on_the_fonts_baseline_whatever_its_letters():
    font = draw.load_font(ROBOTO, 40)
    ascent, descent = font.getmetrics()
    for word in ("noon", "Hypo", "...", "É"):
        coverage = draw.draw_text(word, font)
        assert coverage.shape[0] >= ascent + descent and 0 <= coverage.min() and coverage.max() <= 1
        assert coverage.max() > 0.9 and not coverage[:, :2].any() and not coverage[:, -2:].any()
    low = np.nonzero(draw.draw_text("noon", font).max(axis=1) > 0.5)[0]
    assert ascent - 2 <= low.max() <= ascent  # no descender: the ink ends on the baseline


def test_latin_words_come_from_one_atlas_and_shaped_text_from_the_next_raster_size():
    """Words written letter by letter are pasted from one atlas a font (64 px, scaled
    down); shaped text is rasterised at the next multiple of 8 px. Either way, each
    size looks like the font drawn at that size."""
    sizes = (24, 25, 31, 32, 45, 64)
    draw.atlas.cache_clear()
    drawn = {size: draw.draw_sized("Hamburg", ROBOTO, size) for size in sizes}
    assert draw.atlas.cache_info().misses == 1
    draw.load_font.cache_clear()
    for size in sizes:
        draw.draw_sized("سلام", DEJAVU, size)
    assert draw.load_font.cache_info().misses == 4  # rasterised at 24, 32, 48 and 64 px only
    assert [draw.raster_size(size) for size in sizes] == [24, 32, 32, 32, 48, 64]
    for size, coverage in drawn.items():
        exact = draw.draw_text("Hamburg", draw.load_font(ROBOTO, size))
        assert abs(coverage.shape[0] - exact.shape[0]) <= 1 and abs(coverage.shape[1] - exact.shape[1]) <= 2
        # As alike as two exact sizes a pixel apart (0.86-0.97 in Roboto; another word: < 0.5).
        assert similarity(exact, coverage) > 0.75 and 0 <= coverage.min() and coverage.max() <= 1


def test_the_atlas_draws_words_as_pillow_does_kerned_by_the_font():
    """Pasted letters, kerned by HarfBuzz: the pixels of Pillow's own drawing of the word,
    or a letter a pixel away (pens at fractions of a pixel rounded otherwise)."""
    for path in (ROBOTO, DEJAVU):
        atlas, font = draw.Atlas(path, 40), draw.load_font(path, 40)
        same = 0
        for word in (
            "AVATAR",
            "Tower",
            "jumpy",
            "WAVE",
            "you'll",
            "$12.50",
            "Hello, World",
            "Ωμέγα",
            "Жук",
            "on it",
            " a ",
        ):
            pasted, drawn = atlas.draw(word), draw.draw_text(word, font)
            assert pasted.shape[0] == drawn.shape[0] and abs(pasted.shape[1] - drawn.shape[1]) <= 1, (path, word)
            assert similarity(drawn, pasted) > 0.95, (path, word)
            same += pasted.shape == drawn.shape and np.abs(pasted - drawn).max() < 1e-6
        assert same >= 9, path  # of 11
        assert atlas.kerning("To")[0] < -1 and atlas.kerning("Hn") == [0.0, 0.0]  # the font kerns T-o, not H-n
    assert np.array_equal(draw.Atlas(ROBOTO, 40).draw(""), draw.draw_text("", draw.load_font(ROBOTO, 40)))
    # Ink wider than the room drawn around the pen (3 em to its right; swash capitals come
    # near) is drawn again to its box, not cut.
    wide = draw.Atlas(ROBOTO, 40).letter("WWWWWW")[0]
    whole = np.round(draw.draw_text("WWWWWW", draw.load_font(ROBOTO, 40)) * 255).astype(np.uint8)
    rows, cols = np.nonzero(whole)
    assert wide.shape[1] > 120 and np.array_equal(wide, whole[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1])


def test_a_font_s_letters_are_rasterised_once_and_shared_from_a_file(tmp_path, caplog):
    """With a folder, the first process to need a font draws its letters of the alphabet
    and writes them there; every other process (and run) maps that file, drawing the same
    pixels as an atlas filled in memory. A damaged file is drawn again; a letter outside
    the alphabet is rasterised as before."""
    words = ("Tower", "AVATAR", "$12.50", "jumpy", "Жук")  # Cyrillic: outside the alphabet
    alphabet = "".join(sorted(set("".join(words[:4]))))
    filled = draw.Atlas(ROBOTO, 40)
    expected = [filled.draw(word) for word in words]
    draw.atlas.cache_clear()
    written = draw.atlas(ROBOTO, 40, str(tmp_path), alphabet)
    file = draw.atlas_file(str(tmp_path), ROBOTO, 40, alphabet)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([file.name, file.with_suffix(".npy").name])
    assert set(written.letters) == set(alphabet) and not written.letters["T"][0].flags.writeable  # mapped from the file
    draw.atlas.cache_clear()  # another process
    read = draw.atlas(ROBOTO, 40, str(tmp_path), alphabet)
    assert read is not written and not read.letters["A"][0].flags.writeable
    for word, pixels in zip(words, expected):
        assert np.array_equal(read.draw(word), pixels), word
    assert "Ж" in read.letters and "Ж" not in alphabet  # filled in memory, as words needed it
    assert draw.atlas_file(str(tmp_path), ROBOTO, 40, alphabet + "Ж") != file  # another alphabet, another file
    file.write_text(file.read_text()[:50])  # cut short
    draw.atlas.cache_clear()
    with caplog.at_level("WARNING"):
        again = draw.atlas(ROBOTO, 40, str(tmp_path), alphabet)
    assert str(file) in caplog.text and "unreadable" in caplog.text
    assert all(np.array_equal(again.draw(word), pixels) for word, pixels in zip(words, expected))
    (tmp_path / "taken").write_text("a file, not a folder")
    draw.atlas.cache_clear()
    with caplog.at_level("WARNING"):
        unkept = draw.atlas(ROBOTO, 40, str(tmp_path / "taken"), alphabet)  # nowhere to keep it: kept in memory
    assert "cannot keep" in caplog.text and np.array_equal(unkept.draw("Tower"), expected[0])
    draw.atlas.cache_clear()
    # A rendered set draws the same images with its atlases kept in a folder or not.
    style = Style(renderer="pillow", height=(24, 48), spacing=(0.3, 0.4))
    kept = RenderJob(words[:4], (ROBOTO, DEJAVU), style, seed=5, imgH=32, max_width=400, atlas_dir=str(tmp_path / "a"))
    assert kept.letters == alphabet
    for i in range(12):
        assert np.array_equal(render_word(kept, i), render_word(replace(kept, atlas_dir=None), i)), i
    assert len(list((tmp_path / "a").glob("*.json"))) == 2  # one file a font


def test_bends_and_tilts_move_the_text_without_losing_it():
    coverage = draw.draw_text("curves", draw.load_font(ROBOTO, 40))
    rng = random.Random(0)
    for kind in ("sine", "cosine", "random"):
        bent = draw.bend(coverage, kind, rng)
        assert bent.shape[1] == coverage.shape[1] and bent.shape[0] > coverage.shape[0]
        assert bent.sum() == pytest.approx(coverage.sum(), rel=0.05)
        assert not np.array_equal(bent[: coverage.shape[0]], coverage)
    assert draw.bend(coverage, "none", rng) is coverage
    tilted = draw.tilt(coverage, skew=10, perspective=0.0, rng=random.Random(1))
    assert tilted.shape[0] > coverage.shape[0] + 4  # a rotated word needs more rows
    assert tilted.sum() == pytest.approx(coverage.sum(), rel=0.1)
    assert draw.tilt(coverage, skew=0, perspective=0.0, rng=rng) is coverage


def test_a_steep_turn_is_drawn_as_often_as_asked_and_keeps_long_words_low():
    """``turn``: a share of the words turned by up to tens of degrees (crops of signs
    photographed askew), but no further than rising 1.5 times their height."""

    def angle(tilted: np.ndarray) -> float:  # of the ink's long axis, in degrees
        ys, xs = np.nonzero(tilted > 0.5)
        return abs(np.degrees(0.5 * np.arctan2(2 * np.cov(xs, ys)[0, 1], xs.var() - ys.var())))

    short = draw.draw_text("SALE", draw.load_font(ROBOTO, 40))
    rng = random.Random(0)
    state = rng.getstate()
    assert draw.tilt(short, 0, 0.0, rng, turn=(0.0, 30.0)) is short and rng.getstate() == state
    angles = [angle(draw.tilt(short, 2, 0.0, rng, turn=(0.5, 30.0))) for _ in range(200)]
    steep = np.mean([a > 3 for a in angles])
    assert 0.35 < steep < 0.55 and max(angles) > 20  # half turned, up to 30 degrees, uniformly
    long = draw.draw_text("MOUNTAINEERING", draw.load_font(ROBOTO, 40))
    h, w = long.shape
    limit = np.degrees(np.arctan(1.5 * h / w))
    assert max(angle(draw.tilt(long, 2, 0.0, rng, turn=(1.0, 30.0))) for _ in range(50)) < limit + 1
    for name in ("turn", "spacing"):
        with pytest.raises(ValueError, match=f"{name}.*pillow"):
            Style(renderer="layered", **{name: (0.5, 30.0)})


def test_letter_spacing_moves_latin_letters_apart_and_leaves_joined_scripts_whole():
    atlas = draw.Atlas(ROBOTO, 40)
    plain, spaced = atlas.draw("SALE"), atlas.draw("SALE", spacing=12)
    assert spaced.shape == (plain.shape[0], plain.shape[1] + 36)
    assert spaced.sum() == pytest.approx(plain.sum(), rel=0.02)  # the same letters, moved
    gaps = np.flatnonzero(np.diff((spaced.max(axis=0) > 0.2).astype(int)) == 1)
    assert len(gaps) == 4  # four letters, each its own run of columns
    for word in ("سلام", "a\u0301b"):  # Arabic joins; a combining accent sits on its letter
        assert np.array_equal(draw.draw_sized(word, DEJAVU, 40, spacing=0.3), draw.draw_sized(word, DEJAVU, 40))


def test_edges_of_the_lines_above_and_below_are_drawn_from_the_word():
    coverage = np.zeros((50, 120), np.float32)
    coverage[10:40] = np.random.default_rng(0).random((30, 120)) > 0.5  # ink on rows 10-39
    (stacked, shadow), rng = layers.add_lines([coverage, None], 1.0, random.Random(1)), random.Random(1)
    assert shadow is None and stacked.shape[1] == 120 and stacked.shape[0] > 50
    rows = np.flatnonzero(stacked.max(axis=1) > 0.3)
    assert rows[0] == 0 and rows[-1] == stacked.shape[0] - 1  # the parts lie at the edges, cut
    word_rows = {coverage[r].tobytes() for r in range(10, 40)}
    rolled = {np.roll(coverage[r], k).tobytes() for r in range(10, 40) for k in range(120)}
    inked = [r for r in rows if stacked[r].tobytes() not in word_rows]
    assert inked and all(stacked[r].tobytes() in rolled for r in inked)  # the word's own rows, shifted
    same = layers.add_lines([coverage], 0.0, rng)[0]
    assert np.array_equal(same, coverage)
    words = ("Inn", "WORLD", "i", "-", "delicious", "42") * 3
    style = Style(renderer="pillow", height=(24, 48), tight=0.8, lines=0.5, turn=(0.5, 30.0), spacing=(0.5, 0.5))
    job = RenderJob(words, (ROBOTO,), style, seed=5, imgH=32, max_width=400)
    images = [render_word(job, i) for i in range(len(words))]
    assert all(im.shape[0] == 32 and im.shape[1] >= label_width(w) for im, w in zip(images, words))


def photo_folder(folder: Path, count: int = 3) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = (rng.random((120, 180, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).resize((360, 240)).save(folder / f"p{i}.jpg")
    return folder


@pytest.mark.parametrize("colour", [0.0, 0.5])
def test_words_on_photos_render_deterministically_at_model_height(tmp_path, colour):
    folder = photo_folder(tmp_path / "photos")
    words = ("Inn", "WORLD", "i", "-", "delicious", "42") * 3
    style = Style(
        renderer="pillow", backgrounds=("photo",), photos=(str(folder),), height=(24, 48), tight=0.8, colour=colour
    )
    job = RenderJob(words, (ROBOTO,), style, seed=5, imgH=32, max_width=400)
    images = [render_word(job, i) for i in range(len(words))]
    again = [render_word(job, i) for i in range(len(words))]
    assert all(np.array_equal(a, b) for a, b in zip(images, again))
    assert all(im.shape[0] == 32 and im.shape[1] >= label_width(w) for im, w in zip(images, words))
    assert len({im.tobytes() for im in images}) == len(images)
    assert np.mean([im.std() for im in images]) > 20  # textured, not flat


def test_photo_folders_that_cannot_serve_are_named(tmp_path):
    with pytest.raises(ValueError, match="data.style.photos"):
        Style(renderer="pillow", backgrounds=("photo",))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Style(renderer="pillow", backgrounds=("photo",), photos=(str(tmp_path / "nowhere"),))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images .* in .*empty"):
        Style(renderer="pillow", backgrounds=("photo",), photos=(str(tmp_path / "empty"),))
    with pytest.raises(ValueError, match="backgrounds"):  # trdg itself cannot lay words on photos
        Style(renderer="trdg", backgrounds=("photo",), photos=(str(tmp_path),))


def test_ink_on_a_photo_stands_out_by_the_contrast_drawn():
    photo = np.full((20, 50), 0.6, np.float32)
    alpha = np.zeros_like(photo)
    alpha[5:15, 10:40] = 1
    for inverted, contrast in ((False, 0.3), (True, 0.3), (True, 0.5)):
        pixels = layers.on_photo(alpha, None, None, photo, contrast, inverted, random.Random(2))
        gap = abs(float(pixels[10, 20]) - 0.6)
        assert gap == pytest.approx(contrast, abs=1e-5) and pixels[0, 0] == pytest.approx(0.6)
    # 0.6 + 0.5 would not fit: the ink goes the other way.
    assert layers.on_photo(alpha, None, None, photo, 0.5, True, random.Random(2))[10, 20] == pytest.approx(0.1)


def test_text_in_colour_is_made_grey_as_inputs_are_and_can_lose_the_grey_contrast():
    """Ink and paper drawn in colour at least ``contrast`` apart in RGB; the grey level
    is Pillow's luma, so a red on a green can come out as faint as photos show it."""
    rng = random.Random(3)
    for distance in (0.2, 0.5, 0.8):
        for _ in range(50):
            paper = layers.random_colour(rng)
            ink = layers.contrasting(paper, distance, rng)
            assert np.linalg.norm(ink - paper) / np.sqrt(3) >= distance - 1e-6 or np.array_equal(ink, paper < 0.5)
    rgb = np.float32([[[0.8, 0.1, 0.1], [0.1, 0.45, 0.1], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    pillow = np.asarray(Image.fromarray(np.uint8(rgb * 255 + 0.5)).convert("L"), np.float32) / 255
    assert np.abs(rgb @ layers.LUMA - pillow).max() < 1.5 / 255
    # A box of ink on a plain background, contrast 0.5-1.0: grey, the gap in grey levels is
    # the contrast drawn; in colour it is the RGB distance, and the grey gap may be small.
    alpha = np.zeros((32, 64), np.float32)
    alpha[8:24, 16:48] = 1
    gaps = {}
    for colour in (0.0, 1.0):
        style = Style(renderer="pillow", backgrounds=("plain",), contrast=(0.5, 1.0), colour=colour)
        pixels = [layers.compose(alpha, style, (), random.Random(i)) for i in range(100)]
        gaps[colour] = np.array([abs(int(p[16, 32]) - int(p[2, 2])) / 255 for p in pixels])
        again = layers.compose(alpha, style, (), random.Random(7))
        assert np.array_equal(again, pixels[7])
    assert gaps[0.0].min() >= 0.5 - 1 / 255
    assert (gaps[1.0] < 0.25).sum() >= 5 and np.median(gaps[1.0]) > 0.25
    grey, coloured = (RenderJob(("x",), (ROBOTO,), Style(renderer="pillow", colour=c), 1, 32, 400) for c in (0, 0.5))
    assert grey.key() != coloured.key()
    with pytest.raises(ValueError, match="style.colour .* renderer: pillow"):
        Style(renderer="trdg", colour=0.5)


def test_a_looks_probability_outside_0_to_1_is_refused_by_name():
    for wrong, match in (
        ({"colour": -0.5}, r"colour: .* got -0.5"),
        ({"turn": (1.5, 30)}, r"turn: .* got \(1.5, 30\)"),
    ):
        with pytest.raises(ValueError, match=match):
            Style(renderer="pillow", **wrong)


def test_the_shipped_model_reads_pillow_renders_as_it_reads_trdgs():
    """The same words in the same font and look, text drawn by trdg (``layered``) or by
    Pillow: the shipped model's word accuracy differs by at most 8 points."""
    recognizer = Recognizer.load()
    words = tuple(load_vocabulary(None, recognizer.codec.alphabet, 12)[::997][:120])
    look = dict(height=(32, 48), backgrounds=("plain", "noise"), contrast=(0.5, 1.0), tight=0.8, margins=(3, 3, 3, 3))
    scores = {}
    for renderer in ("layered", "pillow"):
        job = RenderJob(words, (ROBOTO,), Style(renderer=renderer, **look), seed=11, imgH=32, max_width=400)
        readings = recognizer.read_prepared([render_word(job, i) for i in range(len(words))])
        scores[renderer] = np.mean([r.text == w for r, w in zip(readings, words)])
    assert scores["layered"] > 0.75 and scores["pillow"] > 0.75
    assert abs(scores["layered"] - scores["pillow"]) <= 0.08, scores


def test_the_shipped_model_reads_words_from_the_atlas_as_it_reads_pillows_whole_words():
    """The same words, fonts and looks, the text pasted from atlases or drawn whole by
    Pillow: the shipped model's word accuracy differs by at most 3 points."""
    recognizer = Recognizer.load()
    words = load_vocabulary(None, recognizer.codec.alphabet, 12)[::331][:240]
    fonts = resolve_fonts(["trdg"], recognizer.codec.alphabet)
    style = Style(renderer="pillow", backgrounds=("plain", "noise"), contrast=(0.5, 1.0), tight=0.8)
    scores = {}
    for name, drawn in (
        ("atlas", lambda w, f: draw.atlas(f, 40).draw(w)),
        ("whole", lambda w, f: draw.draw_text(w, draw.load_font(f, 40))),
    ):
        images = []
        for i, word in enumerate(words):
            coverage = drawn(word, fonts[i % len(fonts)])
            gray = layers.compose(np.pad(coverage, 3), style, (), random.Random(i), tilted=True)
            images.append(pad_to_width(to_model_input(gray, 32, 400), label_width(word)))
        readings = recognizer.read_prepared(images)
        scores[name] = np.mean([r.text == w for r, w in zip(readings, words)])
    assert scores["whole"] > 0.75 and abs(scores["atlas"] - scores["whole"]) <= 0.03, scores


@pytest.mark.skipif(draw.LAYOUT != ImageFont.Layout.RAQM, reason="Pillow without libraqm cannot shape")
def test_devanagari_forms_conjuncts_and_draws_the_i_sign_before_its_consonant():
    """Against the unshaped drawing (Pillow's basic layout: one glyph per character, in
    logical order): क्ष is one conjunct glyph, not क, a virama and ष side by side; the
    vowel sign ि, typed after क, is drawn on its left."""
    assert DEVANAGARI.is_file(), f"{DEVANAGARI} is missing: run `make fonts`"
    shaped = draw.load_font(str(DEVANAGARI), 40)
    unshaped = ImageFont.truetype(str(DEVANAGARI), 40, layout_engine=ImageFont.Layout.BASIC)
    assert draw.draw_text("क्ष", shaped).shape[1] < 0.7 * draw.draw_text("क्ष", unshaped).shape[1]

    def left_of_ink(coverage: np.ndarray, columns: int = 12) -> np.ndarray:
        first = np.nonzero(coverage.max(axis=0) > 0.3)[0][0]
        return coverage[:, first : first + columns]

    ka = left_of_ink(draw.draw_text("क", shaped))
    assert np.abs(left_of_ink(draw.draw_text("कि", unshaped)) - ka).mean() < 0.01  # unshaped: क comes first
    assert np.abs(left_of_ink(draw.draw_text("कि", shaped)) - ka).mean() > 0.1  # shaped: ि does


@pytest.mark.skipif(draw.LAYOUT != ImageFont.Layout.RAQM, reason="Pillow without libraqm cannot order right to left")
def test_a_number_in_arabic_is_drawn_where_the_codec_reads_it():
    """The codec trains on ``visual_order("سلام2024") == "2024مالس"``: the digits must
    be drawn at the left, in their own order."""
    font = draw.load_font(DEJAVU, 40)
    line, digits = draw.draw_text("سلام2024", font), draw.draw_text("2024", font)
    assert visual_order("سلام2024").startswith("2024")
    width = digits.shape[1] - 4  # without the padding
    rows = min(line.shape[0], digits.shape[0])
    left, right = line[:rows, 2 : 2 + width], line[:rows, -2 - width : -2]
    assert np.abs(left - digits[:rows, 2 : 2 + width]).mean() < 0.02
    assert np.abs(right - digits[:rows, 2 : 2 + width]).mean() > 0.05
