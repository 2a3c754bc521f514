import codecs
import gc
import json
import random
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ocr.data import render as render_module
from ocr.data import store
from ocr.data.batching import WidthBatchSampler, collate, pad_on_device
from ocr.data.datamodule import FolderDataModule, OCRDataModule, SynthDataModule
from ocr.data.datasets import RenderedWords, Subset
from ocr.data.fonts import (
    capitals_fonts,
    faithful_fonts,
    font_families,
    font_folder,
    font_problems,
    resolve_capitals,
    resolve_fonts,
    trdg_fonts_dir,
)
from ocr.data.images import pad_batch
from ocr.data.render import RenderJob, Style, render_store, render_word
from ocr.data.synth import SynthSets
from ocr.data.words import (
    Texts,
    alphabet_of,
    frequency_weights,
    load_vocabulary,
    split_vocabulary,
    word_counts,
    words_path,
)
from ocr.geometry import MARGIN, label_width, min_frames, output_frames

from .conftest import ALPHABET, SEED_ALPHABET

ROBOTO = str(trdg_fonts_dir() / "Roboto-Regular.ttf")


def job(words, seed=7, **style):
    return RenderJob(tuple(words), (ROBOTO,), Style(**style), seed=seed, imgH=32, max_width=400)


def test_rendering_is_deterministic_and_independent_of_process_count(tmp_path):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    assert render_store(job(words), tmp_path / "one", workers=1, shard_size=2) == 6
    render_store(job(words), tmp_path / "two", workers=2, shard_size=2)
    render_store(job(words, seed=8), tmp_path / "three", workers=1)
    one, two, other_seed = (store.ImageStore(tmp_path / name) for name in ("one", "two", "three"))
    assert one.labels == two.labels == words
    for i in range(len(words)):
        assert one.image(i).shape[0] == 32
        assert np.array_equal(one.image(i), two.image(i))
    assert any(not np.array_equal(one.image(i), other_seed.image(i)) for i in range(len(words)))


def test_complete_store_is_reused_and_partial_store_is_resumed(tmp_path, monkeypatch):
    words = [f"w{i}" for i in range(6)]
    folder = tmp_path / "store"
    render_store(job(words), folder, workers=1, shard_size=2)
    first = store.ImageStore(folder).image(3)
    # A second run renders nothing.
    monkeypatch.setattr(render_module, "render_word", lambda *a, **k: pytest.fail("rendered again"))
    assert render_store(job(words), folder, workers=1, shard_size=2) == 0
    monkeypatch.undo()
    # Lose the manifest and one shard: only that shard is rendered again.
    (folder / store.MANIFEST).unlink()
    (folder / "shard-00001.json").unlink()
    with pytest.raises(FileNotFoundError, match="not a complete image store"):
        store.ImageStore(folder)
    calls = []
    original = render_module.render_word
    monkeypatch.setattr(render_module, "render_word", lambda j, i: calls.append(i) or original(j, i))
    assert render_store(job(words), folder, workers=1, shard_size=2) == 2
    assert sorted(calls) == [2, 3]
    assert np.array_equal(store.ImageStore(folder).image(3), first)


def test_sets_render_together_and_shards_of_another_layout_are_redone(tmp_path):
    words = [f"w{i}" for i in range(6)]
    sets = [(job(words), tmp_path / "a"), (job(words[:3], seed=9), tmp_path / "b")]
    assert render_module.render_stores(sets, workers=2, shard_size=2) == 9
    assert store.ImageStore(tmp_path / "a").labels == words
    assert store.ImageStore(tmp_path / "b").labels == words[:3]
    assert render_module.render_stores(sets, workers=2, shard_size=2) == 0
    # An interrupted set resumed with shards of another size: the shard whose items
    # differ is rendered again, not read as if it held the new layout's items.
    (tmp_path / "a" / store.MANIFEST).unlink()
    assert render_module.render_store(job(words), tmp_path / "a", workers=1, shard_size=3) == 6
    assert store.ImageStore(tmp_path / "a").labels == words
    assert render_module.shard_size_for(20_000) == 313 and render_module.shard_size_for(10**6) == 1000


def test_images_are_wide_enough_for_their_labels(tmp_path):
    words = ["ll", "iiii", "lllllll"]  # narrow glyphs; repeats need blanks between them
    render_store(job(words), tmp_path / "s", workers=1)
    rendered = store.ImageStore(tmp_path / "s")
    for i, word in enumerate(rendered.labels):
        assert output_frames(rendered.widths[i]) >= min_frames(word)


def test_vocabulary_keeps_only_spellable_words_and_never_alters_them(tmp_path):
    words_file = tmp_path / "words.txt"
    words_file.write_text("cat\nCAT\ncafé\ndog\n\n  dog \nsnake-like\n", encoding="utf-8")
    assert load_vocabulary(words_file, "abcdefghijklmnopqrstuvwxyz") == ["cat", "dog"]
    assert load_vocabulary(words_file, "abcdefghijklmnopqrstuvwxyz-CAT") == ["CAT", "cat", "dog", "snake-like"]
    with pytest.raises(ValueError, match="no word"):
        load_vocabulary(words_file, "xyz")
    with pytest.raises(FileNotFoundError, match="words_file"):
        load_vocabulary(tmp_path / "missing.txt", "abc")
    words_file.write_text("cat\nbird\n", encoding="utf-8")  # an edited file is read again
    assert load_vocabulary(words_file, "abcdefghijklmnopqrstuvwxyz") == ["bird", "cat"]
    # Too few words to hold a fifth out for the test images: said, not a division by zero.
    sets = SynthSets(ALPHABET, str(tmp_path / "cache"), count=20, test_count=4, words_file=words_file)
    with pytest.raises(ValueError, match=r"words\.txt: 2 words .* at least 5"):
        sets.jobs()


def test_an_alphabet_is_read_from_its_word_list_and_trdg_lists_are_named_by_language(tmp_path, train_cfg):
    words_file = tmp_path / "words.txt"
    words_file.write_text("дом\nДОМ\n\n  кот 7\n", encoding="utf-8")
    assert alphabet_of(words_file) == "7ДМОдкмот"  # code point order, spaces left out
    assert words_path("trdg:ru") == trdg_fonts_dir().parents[1] / "dicts" / "ru.txt"
    with pytest.raises(FileNotFoundError, match=r"no word list 'xx' \(it has .*ru"):
        words_path("trdg:xx")
    cfg = train_cfg("charset=words", f"data.words_file={words_file}")
    assert cfg.model.alphabet == "7ДМОдкмот"
    words_file.write_bytes("дом\n".encode() + b"\xe0\xa4\n" + "кот\n".encode())  # a cut UTF-8 sequence
    assert alphabet_of(words_file) == "дкмот"  # the bad line is left out (and named in a warning)
    words_file.write_bytes(codecs.BOM_UTF8 + "дом\n".encode())
    assert alphabet_of(words_file) == "дмо"  # a byte order mark is not a character
    words_file.write_bytes(b"\xff\xfe\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        alphabet_of(words_file)
    # Words are read in composed form, as labels are: é typed as e + an accent is é; a letter
    # with a nukta stored as one code point (trdg's Hindi list) is the letter and the nukta.
    words_file.write_text("cafe\u0301\n\u095b\n", encoding="utf-8")
    assert alphabet_of(words_file) == "acf\u00e9\u091c\u093c"


def test_wordfreq_lists_keep_the_main_script_and_the_characters_seen_often():
    from ocr.data.words import WORDFREQ_RARE, read_words, script_of

    words = read_words("wordfreq:el")
    assert len(words) > 30_000 and "της" in words and "τησ" not in words  # final sigma restored
    found_in = Counter(c for word in words for c in set(word))
    assert {script_of(c) for c in found_in} == {"GREEK"} and min(found_in.values()) >= WORDFREQ_RARE
    assert "ἀ" not in alphabet_of("wordfreq:el")  # polytonic Greek: too rare to learn
    assert load_vocabulary("wordfreq:el", alphabet_of("wordfreq:el"))[:2] == sorted(set(words))[:2]
    with pytest.raises(FileNotFoundError, match=r"wordfreq has no word list 'xx' \(it has .*el"):
        read_words("wordfreq:xx")


def test_lines_join_drawn_words_within_their_length_and_need_the_space(train_cfg):
    from hydra.utils import instantiate

    words = [f"w{i:03d}" for i in range(400)]  # 4 characters each
    lines = list(Texts(words, 50, 3, line_words=(2, 6), max_line_length=14))
    assert len(lines) == 50 and all(1 <= len(line.split(" ")) <= 3 and len(line) <= 14 for line in lines)
    drawn = " ".join(lines).split(" ")
    assert len(set(drawn)) == len(drawn) and max(len(line.split(" ")) for line in lines) == 3  # none twice
    cfg = train_cfg("experiment=english_lines", "data.count=30", "data.test_count=5")
    sets = instantiate(cfg.data).sets
    train_lines, test_lines = sets.jobs()["train"].words, sets.jobs()["test"].words
    assert max(len(line.split(" ")) for line in train_lines) > 3 and max(map(len, train_lines)) <= 100
    train_words = {w for line in train_lines for w in line.split(" ")}
    test_words = {w for line in test_lines for w in line.split(" ")}
    assert not {w for w in test_words if w.isalpha()} & {w for w in train_words if w.isalpha()}
    with pytest.raises(ValueError, match=r"line_separator=' ': model.alphabet must hold it"):
        instantiate(train_cfg("charset=alnum", "data.line_words=[1,3]", "data.count=30").data).sets.jobs()


def test_lines_of_a_script_without_spaces_join_words_by_nothing(train_cfg):
    from hydra.utils import instantiate

    words = [f"{c}{d}" for c in "abcdefghij" for d in "klmnopqrst"]  # 100 two-letter words
    lines = Texts(words, 60, 3, line_words=(2, 4), max_line_length=7, separator="")
    assert all(" " not in line and len(line) % 2 == 0 and 2 <= len(line) <= 6 for line in lines)
    spaced = Texts(words, 60, 3, line_words=(2, 4), max_line_length=7)
    assert max(map(len, lines)) == 6 and all(lines.widths() >= [label_width(line) for line in lines])
    assert lines.widths().sum() < spaced.widths().sum()  # no frames for spaces
    assert [line.replace(" ", "") for line in spaced] != list(lines)  # cut back by the joined length
    assert spaced.recipe() != lines.recipe() and "separator" not in spaced.recipe()
    cfg = train_cfg("charset=alnum", "data.line_words=[2,3]", "data.line_separator=''", "data.count=30")
    train_lines = instantiate(cfg.data).sets.jobs()["train"].words
    assert all(" " not in line and len(line) > 2 for line in train_lines)
    with pytest.raises(ValueError, match=r"data.line_separator must be a string \(\'\' for none\), got None"):
        SynthSets("abc", "unused", line_words=(2, 3), line_separator=None)


def test_train_and_test_words_are_disjoint():
    words = [f"word{i}" for i in range(100)]
    train, test = split_vocabulary(words, 20, seed=1)
    assert len(test) == 20 and len(train) == 80
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(words)


def test_drawn_words_are_distinct_until_the_vocabulary_runs_out():
    words = [f"w{i}" for i in range(10)]
    assert len(set(list(Texts(words, 10, seed=0)))) == 10
    drawn = list(Texts(words, 25, seed=0))
    counts = {w: drawn.count(w) for w in words}
    assert len(drawn) == 25 and set(counts.values()) == {2, 3}


def test_word_lengths_weight_the_drawn_words():
    words = [f"{c}" * n for c in "abcdefghij" for n in (2, 8)]  # ten words of 2 letters, ten of 8
    drawn = list(Texts(words, 1000, seed=0, lengths=[0, 3, 0, 0, 0, 0, 0, 1]))
    short = sum(len(w) == 2 for w in drawn)
    assert 700 < short < 800  # 3:1, as weighted
    assert {drawn.count(w) for w in words if len(w) == 2} <= {short // 10, short // 10 + 1}  # evenly
    assert list(Texts(words, 50, seed=0, lengths=[0, 1])) == list(Texts(words, 50, seed=0, lengths=[0, 1]))
    with pytest.raises(ValueError, match="word_lengths"):
        Texts(words, 5, seed=0, lengths=[1])  # no one-letter word


def test_common_words_are_drawn_as_often_as_their_frequency_list_says(tmp_path):
    (tmp_path / "counts.txt").write_text("the 900\nThe 100\nhotel 100\nzygote 1\n", encoding="utf-8")
    words = ["the", "hotel", "zygote", "xylem"]  # xylem is not listed: it counts as the rarest
    counts = word_counts(str(tmp_path / "counts.txt"), "abcdefghijklmnopqrstuvwxyz")
    weights = frequency_weights(words, counts, 0.5)
    assert weights.tolist() == [1000**0.5, 100**0.5, 1.0, 1.0]  # cases added up (with or without capitals)
    assert frequency_weights(words, counts, 0.0).tolist() == [1.0] * 4
    drawn = Counter(Texts(words, 4000, seed=0, weights=weights))
    shares = np.array([drawn[w] for w in words]) / 4000
    assert np.abs(shares - weights / weights.sum()).max() < 0.03
    assert Texts(words, 10, 5, weights=weights).recipe() != Texts(words, 10, 5).recipe()  # another store
    sets = SynthSets("abcdefghijklmnopqrstuvwxyz", tmp_path, word_frequencies=str(tmp_path / "counts.txt"))
    assert Counter(sets.draw(words, 4000, 0)) == drawn  # data.word_frequencies, data.frequency_exponent: 0.5
    with pytest.raises(ValueError, match="data.frequency_exponent must be >= 0, got -1.0"):
        SynthSets("abc", tmp_path, word_frequencies=str(tmp_path / "counts.txt"), frequency_exponent=-1.0)
    with pytest.raises(ValueError, match="data.word_frequencies: word list .*missing.txt does not exist"):
        word_counts(str(tmp_path / "missing.txt"), "abc")
    english_counts = word_counts("english", "abcdefghijklmnopqrstuvwxyz")
    english = frequency_weights(["the", "hotel", "abacination"], english_counts, 0.5)
    assert english[0] > english[1] > english[2] > 0  # SymSpell's list: "abacination" is not in it


def test_texts_are_drawn_per_image_whatever_the_set_size():
    """Text ``i`` depends on the seed and ``i`` alone: a ten-million-image set draws its
    texts as they are rendered, and its first ones are a small set's; widths for batching
    come without drawing a text (exact for words as they are)."""
    words = [f"{c}" * n for c in "abcdefghij" for n in (1, 2, 3, 8)]
    alphabet = "abcdefghijABCDEFGHIJ0123456789.,!?()'\"%#$@:;[] "
    recipes = [
        {},
        {"lengths": [1, 3, 0, 0, 0, 0, 0, 1]},
        {"mix": {"words": 0.5, "numbers": 0.2, "punctuated": 0.3}, "case": {"lower": 1, "upper": 1}},
        {"line_words": (1, 4), "max_line_length": 12, "mix": {"words": 1.0, "alphanumeric": 0.5}},
        {"lengths": [1, 3, 0, 0, 0, 0, 0, 1], "weights": np.arange(1.0, len(words) + 1)},
    ]
    for recipe in recipes:
        large = Texts(words, 10**7, 5, alphabet=alphabet, **recipe)
        small = Texts(words, 300, 5, alphabet=alphabet, **recipe)
        assert len(large) == 10**7 and list(small) == [large[i] for i in range(300)]
        assert large[-1] == large[10**7 - 1] and all(set(text) <= set(alphabet) for text in small)
        assert list(small) == list(Texts(words, 300, 5, alphabet=alphabet, **recipe))  # deterministic
        assert list(small) != list(Texts(words, 300, 6, alphabet=alphabet, **recipe))
        assert small.widths().shape == (300,) and (small.widths() >= 8).all()
    plain = Texts(words, 300, 5)
    assert list(plain.widths()) == [label_width(text) for text in plain]
    mixed = Texts(words, 300, 5, alphabet=alphabet, **recipes[2])
    assert {text for text in mixed if not text.isalpha()} and {text for text in mixed if text.isupper()}
    assert Texts(words, 10, 5).recipe() != Texts(words, 10, 6).recipe() != Texts(words[1:], 10, 5).recipe()
    with pytest.raises(IndexError):
        plain[300]


def test_fonts_that_draw_lower_case_as_capitals_are_left_out():
    assert font_problems(trdg_fonts_dir() / "BEBAS___.ttf", SEED_ALPHABET) == ["draws lower case as capitals"]
    assert "has no glyph for '#+%'" in font_problems(trdg_fonts_dir() / "SEASRN__.ttf", SEED_ALPHABET)
    fonts = faithful_fonts(SEED_ALPHABET)
    assert ROBOTO in fonts and len(fonts) > 80
    assert not any("BEBAS" in f or "Capture_it" in f for f in fonts)
    with pytest.raises(ValueError, match="draws lower case as capitals"):
        resolve_fonts(["BEBAS___.ttf"], SEED_ALPHABET)
    with pytest.raises(FileNotFoundError, match="nope.ttf"):
        resolve_fonts(["nope.ttf"], SEED_ALPHABET)


def test_capitals_only_fonts_draw_the_texts_without_lower_case_when_asked(tmp_path):
    bebas = str(trdg_fonts_dir() / "BEBAS___.ttf")
    # An alphabet without lower case has nothing such a font would draw wrong.
    assert font_problems(bebas, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == []
    capitals = capitals_fonts(SEED_ALPHABET)
    assert bebas in capitals and ROBOTO not in capitals
    assert not set(capitals) & set(faithful_fonts(SEED_ALPHABET))
    assert not any("SEASRN" in f for f in capitals)  # glyphs missing as well: left out
    assert resolve_capitals(None, SEED_ALPHABET) == capitals == resolve_capitals(["trdg", ROBOTO], SEED_ALPHABET)
    assert resolve_capitals(["font_caladea"], SEED_ALPHABET) == ()
    # A render job draws them only for words that have no lower-case letter.
    plain = RenderJob(("x",), (ROBOTO,), Style(), seed=1, imgH=32, max_width=400)
    both = RenderJob(("x",), (ROBOTO,), Style(), seed=1, imgH=32, max_width=400, capitals=(bebas,))
    draws = {word: Counter(both.font(word, random.Random(i)) for i in range(200)) for word in ("FORE", "2024", "Fore")}
    assert draws["FORE"][bebas] > 50 and draws["2024"][bebas] > 50 and draws["FORE"][ROBOTO] > 50
    assert draws["Fore"] == Counter({ROBOTO: 200})
    assert plain.key() != both.key()
    assert [plain.font("FORE", random.Random(i)) for i in range(5)] == [ROBOTO] * 5
    drawn = RenderJob(("FORE",), (ROBOTO,), Style(renderer="pillow"), seed=1, imgH=32, max_width=400, capitals=(bebas,))
    assert render_word(drawn, 0).shape[0] == 32
    sets = SynthSets(SEED_ALPHABET, tmp_path, count=10, test_count=2, capitals=True)
    assert sets.jobs()["train"].capitals == capitals
    assert SynthSets(SEED_ALPHABET, tmp_path, count=10, test_count=2).jobs()["train"].capitals == ()


def test_fonts_can_be_drawn_family_by_family():
    caladea = resolve_fonts(["font_caladea"], SEED_ALPHABET)  # one family, four files
    fonts = caladea + (ROBOTO,)
    assert font_families(fonts) == (caladea, (ROBOTO,))
    by_file = RenderJob(("x",), fonts, Style(), seed=1, imgH=32, max_width=400)
    by_family = RenderJob(("x",), fonts, Style(), seed=1, imgH=32, max_width=400, font_draw="family")
    jobs = (by_file, by_family)
    share = {job.font_draw: sum(job.font("w", random.Random(i)) == ROBOTO for i in range(1000)) for job in jobs}
    assert 150 < share["file"] < 250 and 450 < share["family"] < 550  # of 1,000 draws
    assert by_file.key() != by_family.key()
    with pytest.raises(ValueError, match="data.font_draw is 'face'"):
        RenderJob(("x",), fonts, Style(), seed=1, imgH=32, max_width=400, font_draw="face")


def test_a_font_must_map_every_letter_of_another_script():
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    arabic = "ابتثسلمنهوي"
    assert font_problems(ttf / "DejaVuSans.ttf", arabic) == []
    assert font_problems(ROBOTO, arabic) == [f"has no glyph for {arabic!r}"]  # drawn, if at all, by fallback
    han = "".join(map(chr, range(0x4E00, 0x4E00 + 60)))  # a large alphabet's list is cut short
    assert font_problems(ROBOTO, han) == [f"has no glyph for 60 characters, {han[:40]!r} ..."]
    assert "last-resort" in font_problems(ttf / "LastResortHE-Regular.ttf", arabic)[0]


def test_font_collections_expand_to_their_faithful_fonts(tmp_path, caplog):
    from pathlib import Path

    serif = resolve_fonts(["font_caladea"], SEED_ALPHABET)  # a font package installed with ocr
    assert {"Caladea-Regular.ttf", "Caladea-Bold.ttf"} <= {Path(f).name for f in serif}
    # A folder: a font shipped as .otf and .ttf counts once; unfaithful fonts are left out.
    for name in ("Face.otf", "Face.ttf"):
        shutil.copy(ROBOTO, tmp_path / name)
    shutil.copy(trdg_fonts_dir() / "BEBAS___.ttf", tmp_path)
    with caplog.at_level("INFO", logger="ocr.data.fonts"):
        assert resolve_fonts([str(tmp_path)], SEED_ALPHABET) == (str(tmp_path / "Face.otf"),)
    # What was left out, and why, is said.
    assert "1 of 2 draw the alphabet; left out BEBAS___.ttf (draws lower case as capitals)" in caplog.text
    mixed = resolve_fonts(["trdg", "font_caladea", "Roboto-Regular.ttf"], SEED_ALPHABET)
    assert mixed == faithful_fonts(SEED_ALPHABET) + serif  # each font once
    with pytest.raises(FileNotFoundError, match="font_nonexistent"):
        resolve_fonts(["font_nonexistent"], SEED_ALPHABET)


def test_a_folder_s_font_checks_are_kept_and_made_again_when_a_font_changes(tmp_path, monkeypatch, caplog):
    import ocr.data.fonts as fonts

    folder, cache = tmp_path / "fonts", tmp_path / "cache"
    folder.mkdir()
    for name in ("Face.ttf", "Other.ttf"):
        shutil.copy(ROBOTO, folder / name)
    shutil.copy(trdg_fonts_dir() / "BEBAS___.ttf", folder)
    checked = []

    def counted(path, alphabet):
        checked.append(path.name)
        return font_problems(path, alphabet)

    monkeypatch.setattr(fonts, "font_problems", counted)

    def resolve():
        checked.clear()
        fonts._checked.cache_clear()  # a new run: nothing checked in this process yet
        drawn = resolve_fonts([str(folder)], SEED_ALPHABET, str(cache))
        capitals = capitals_fonts(SEED_ALPHABET, str(folder), str(cache))
        return [Path(f).name for f in drawn], [Path(f).name for f in capitals]

    everything = ["BEBAS___.ttf", "Face.ttf", "Other.ttf"]
    assert resolve() == (["Face.ttf", "Other.ttf"], ["BEBAS___.ttf"]) and sorted(checked) == everything
    assert len(list((cache / "font_checks").iterdir())) == 1
    assert resolve() == (["Face.ttf", "Other.ttf"], ["BEBAS___.ttf"]) and checked == []  # read from the cache
    # A font replaced by another under the same name: its folder is checked again.
    shutil.copy(trdg_fonts_dir() / "BEBAS___.ttf", folder / "Face.ttf")
    assert resolve() == (["Other.ttf"], ["BEBAS___.ttf", "Face.ttf"]) and sorted(checked) == everything
    # An unreadable cache file: checked again, and said.
    for file in (cache / "font_checks").iterdir():
        file.write_text("{")
    with caplog.at_level("WARNING", logger="ocr.data.fonts"):
        assert resolve() == (["Other.ttf"], ["BEBAS___.ttf", "Face.ttf"]) and sorted(checked) == everything
    assert "unreadable" in caplog.text


def test_many_fonts_are_checked_across_the_cores_as_one_by_one(tmp_path, monkeypatch):
    """A folder of many fonts is checked by a pool of processes (a core each), with the
    same findings in the same order as one by one, a broken file among them included."""
    import multiprocessing

    import ocr.data.fonts as fonts

    paths = sorted(trdg_fonts_dir().glob("*.ttf"))[:12]
    broken = tmp_path / "Broken.ttf"
    broken.write_bytes(b"not a font")
    paths.insert(5, broken)
    alone = {path: font_problems(path, SEED_ALPHABET) for path in paths}
    pools, get_context = [], multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_context", lambda method: pools.append(method) or get_context(method))
    monkeypatch.setattr(fonts.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(fonts, "FONTS_PER_WORKER", 4)
    found = fonts.check_fonts(paths, SEED_ALPHABET)
    assert pools == ["fork"] and list(found) == paths and found == alone
    assert found[broken][0].startswith("cannot be loaded")


def test_python_packages_lend_their_fonts_type_1_included_and_symbol_fonts_left_out(tmp_path):
    from pathlib import Path

    # reportlab: Bitstream Vera, and Type 1 clones of Helvetica (_a*), Times (_e*) and
    # Courier (co*); its Symbol and Dingbats (no glyph for letters), its calligraphic and
    # test fonts are left out.
    names = {Path(f).name for f in resolve_fonts(["reportlab"], SEED_ALPHABET)}
    assert {"Vera.ttf", "VeraBd.ttf", "_a______.pfb", "_er_____.pfb", "com_____.pfb"} <= names
    assert not {"zx______.pfb", "zy______.pfb"} & names
    assert font_problems(font_folder("reportlab") / "fonts" / "zx______.pfb", "ab") == [
        "draws symbols for ASCII characters (a known symbol font)"
    ]
    # matplotlib's fonts sit in mpl-data/fonts/ttf: found in subfolders; Computer
    # Modern's maths symbols are left out, its roman kept.
    mpl = [Path(f).stem for f in resolve_fonts(["matplotlib"], SEED_ALPHABET)]
    assert "DejaVuSerif" in mpl and "cmr10" in mpl and "cmsy10" not in mpl and "cmex10" not in mpl
    # A folder is searched the same way; a module that is not a package names no fonts.
    (tmp_path / "serif" / "bold").mkdir(parents=True)
    shutil.copy(ROBOTO, tmp_path / "serif" / "bold" / "Face.ttf")
    assert resolve_fonts([str(tmp_path)], SEED_ALPHABET) == (str(tmp_path / "serif" / "bold" / "Face.ttf"),)
    with pytest.raises(FileNotFoundError, match="'decimal'"):
        resolve_fonts(["decimal"], SEED_ALPHABET)


def test_collate_pads_right_with_each_images_background():
    dark = np.full((32, 20), 10, np.uint8)
    light = np.full((32, 45), 200, np.uint8)
    batch = collate([(0, dark, "a"), (5, None, "lost"), (1, light, "bb")])
    assert batch["images"].shape == (2, 1, 32, 72)  # widest 45 + the margin 27, rounded up to a multiple of 8
    assert batch["images"].dtype == torch.uint8
    assert (batch["images"][0, 0, :, 20:] == 10).all()
    assert (batch["images"][1, 0, :, 45:] == 200).all()
    assert batch["widths"].tolist() == [20, 45] and batch["labels"] == ["a", "bb"]
    assert batch["unreadable"] == [(5, "lost")]  # counted by evaluation as read wrong


def test_batches_are_padded_coarser_on_a_gpu_unless_told():
    class OneImage(list):
        widths = np.array([45])

    images = OneImage([(0, np.zeros((32, 45), np.uint8), "a")])
    module = FolderDataModule(alphabet="ab", root="unused")
    trainer = {
        device: SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)), global_rank=0, world_size=1)
        for device in ("cpu", "cuda")
    }
    for device, told, multiple in [(None, None, 8), ("cpu", None, 8), ("cuda", None, 32), ("cuda", 16, 16)]:
        module.trainer, module.width_multiple = trainer.get(device), told
        for train in (True, False):
            assert module.loader(images, train=train).collate_fn.keywords["multiple"] == multiple
        assert collate(images, multiple)["images"].shape[-1] == -(-(45 + MARGIN) // multiple) * multiple


@pytest.mark.parametrize("height", [32, 31])
def test_padding_on_the_device_gives_the_host_padding(height):
    rng = np.random.default_rng(height)
    images = [rng.integers(0, 256, (height, int(w)), dtype=np.uint8) for w in [1, 7, 8, 9, 40, 123]]
    on_device = pad_on_device(images, torch.device("cpu"))
    assert on_device.dtype == torch.uint8 and torch.equal(on_device, torch.from_numpy(pad_batch(images)))
    with pytest.raises(ValueError, match=r"mixes image heights \[31, 32\]"):
        pad_on_device([images[0], np.zeros((31 if height == 32 else 32, 5), np.uint8)], torch.device("cpu"))


def test_eval_sampler_covers_every_index_once_across_ranks():
    widths = np.random.default_rng(0).integers(20, 300, size=103)
    seen, counts = [], set()
    for rank in range(3):
        sampler = WidthBatchSampler(widths, 10, shuffle=False, rank=rank, world_size=3)
        batches = list(sampler)
        assert len(batches) == len(sampler) and all(len(b) <= 10 for b in batches)
        counts.add(len(batches))
        seen += [i for b in batches for i in b]
    assert sorted(seen) == list(range(103))
    assert counts == {4}  # every rank runs the same number of steps


def test_train_sampler_groups_similar_widths_and_gives_ranks_equal_batches():
    widths = np.random.default_rng(0).integers(20, 300, size=1000)
    samplers = [
        WidthBatchSampler(widths, 16, shuffle=True, seed=3, drop_last=True, rank=r, world_size=2) for r in (0, 1)
    ]
    batches = [list(s) for s in samplers]
    assert len(batches[0]) == len(batches[1]) == len(samplers[0])
    spread = np.mean([np.ptp(widths[b]) for b in batches[0]])
    assert spread < 0.2 * np.ptp(widths)  # random batches would span most of the range
    assert not set(i for b in batches[0] for i in b) & set(i for b in batches[1] for i in b)
    samplers[0].set_epoch(1)
    assert list(samplers[0]) != batches[0]


def test_fresh_epochs_count_past_the_int32_range_from_int32_arrays():
    """A streamed run of 10 M images keeps its widths and indices in int32 (half the host
    memory); fresh indices, epoch x count + i, pass 2**31 in a long run and stay exact."""
    texts = Texts(
        ["a", "bb", "ccc"], count=100, seed=2027, mix={"words": 1.0, "numbers": 1.0}, alphabet="abc0123456789"
    )
    widths = texts.widths()
    subset = Subset(RenderedWords(RenderJob(texts, (), Style(), 0, 32, 100)), range(50))
    assert widths.dtype == subset.widths.dtype == subset.indices.dtype == np.int32
    assert subset.labels == [texts[i] for i in range(50)]  # int32 indices, texts drawn from seeds past int32
    sampler = WidthBatchSampler(widths, 16, shuffle=True, fresh=True)
    sampler.set_epoch(3)
    first = list(sampler)
    sampler.set_epoch(3 * 2**31)
    far = list(sampler)
    shift = 3 * 2**31 * len(widths)
    assert sorted(i for b in first for i in b) == list(range(300, 400))
    assert sorted(i - shift for b in far for i in b) == list(range(100)) and min(min(b) for b in far) == shift


def test_datamodule_splits_80_20_and_holds_out_test_words(cache_dir):
    dm = SynthDataModule(
        alphabet=SEED_ALPHABET,
        cache_dir=str(cache_dir),
        count=100,
        test_count=20,
        fonts=["Roboto-Regular.ttf"],
        render_workers=1,
        num_workers=0,
    )
    dm.prepare_data()
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set)) == (80, 20)
    assert not set(dm.train_set.indices) & set(dm.val_set.indices)
    test_words = set(dm.test_sets["synth_test"].labels)
    assert len(dm.test_sets["synth_test"]) == 20
    assert not test_words & (set(dm.train_set.labels) | set(dm.val_set.labels))
    manifest = json.loads((dm.sets.folder("train") / store.MANIFEST).read_text())
    assert manifest["count"] == 100


def test_streamed_training_images_are_the_stored_ones_without_the_store(train_cfg, tmp_path):
    """``data.stream``: the loader renders the training images, pixel for pixel those the
    store would hold; only the test set is rendered before training."""
    from hydra.utils import instantiate

    overrides = ("data.count=60", "data.test_count=10", "data.style.renderer=pillow", "data.num_workers=2")
    stored = instantiate(train_cfg(*overrides, f"data.cache_dir={tmp_path / 'stored'}").data)
    streamed = instantiate(train_cfg(*overrides, "data.stream=true", f"data.cache_dir={tmp_path / 'streamed'}").data)
    for dm in (stored, streamed):
        dm.prepare_data()
        dm.setup("fit")
    assert store.is_complete(streamed.sets.folder("test")) and not streamed.sets.folder("train").exists()
    assert list(streamed.train_set.indices) == list(stored.train_set.indices)
    for i in range(len(stored.train_set)):
        (_, image, label), (_, drawn, drawn_label) = stored.train_set[i], streamed.train_set[i]
        assert drawn_label == label and np.array_equal(drawn, image)
    batches = list(streamed.loader(streamed.train_set, train=True, sharded=False))  # rendered in 2 workers
    labels = sorted(label for b in batches for label in b["labels"])
    assert len(labels) > len(streamed.train_set) - streamed.batch_size and not any(b["unreadable"] for b in batches)
    assert set(labels) <= set(stored.train_set.labels)


def test_fresh_looks_need_streaming_and_the_synthetic_data_module(train_cfg):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    with pytest.raises(InstantiationException, match="data.fresh=true .* needs data.stream=true"):
        instantiate(train_cfg("data.fresh=true").data)
    with pytest.raises(InstantiationException, match="data.fresh=true is for data=synth"):
        instantiate(train_cfg("data=mix", "data.real_roots=[x]", "data.stream=true", "data.fresh=true").data)


def test_train_py_renders_early_and_the_data_module_waits_for_it(train_cfg, tmp_path, monkeypatch):
    from hydra.utils import instantiate

    from ocr.data.synth import render_early

    cfg = train_cfg("data.count=120", "data.test_count=12", f"data.cache_dir={tmp_path / 'early'}")
    sets = render_early(cfg)  # what train.py starts before it imports torch and Lightning
    assert sets is not None and sets.rendering is not None
    # train.py hands the sets to the data module: their words are not drawn again.
    monkeypatch.setattr(SynthSets, "draw", lambda *a: pytest.fail("words drawn twice"))
    dm = instantiate(cfg.data, sets=sets)
    assert dm.sets.folder("train").parent == tmp_path / "early"
    # The data module does not render again: it waits on the stores' locks for the thread.
    monkeypatch.setattr(render_module, "render_word", lambda *a, **k: pytest.fail("rendered twice"))
    dm.prepare_data()
    # The thread has written every store when prepare_data returns; it may still be
    # closing its pool, so it is given a moment to end rather than asserted dead at once.
    assert all(store.is_complete(dm.sets.folder(split)) for split in ("train", "test"))
    sets.rendering.join(timeout=30)
    assert not sets.rendering.is_alive()
    dm.setup("fit")
    assert len(dm.train_set) + len(dm.val_set) == 120 and len(dm.test_sets["synth_test"]) == 12
    # Nothing to start for data users bring, nor before a checkpoint decides the alphabet.
    assert render_early(train_cfg("data=folder", "data.root=somewhere")) is None
    assert render_early(train_cfg("init_from=some.ckpt")) is None


def test_english_recipe_renders_mixed_texts_in_layered_looks(train_cfg):
    from hydra.utils import instantiate

    cfg = train_cfg("experiment=english", "data.count=60", "data.test_count=10", "data.fonts=null")
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    labels = dm.train_set.labels + dm.val_set.labels
    assert len(labels) == 60 and all(set(label) <= set(cfg.model.alphabet) for label in labels)
    assert any(label.isupper() for label in labels) and any(
        label[:1].isupper() and label[1:].islower() for label in labels
    )
    assert any(c.isdigit() for label in labels for c in label)
    images = [dm.train_set[i][1] for i in range(10)]
    assert all(im.shape[0] == 32 and im.dtype == np.uint8 for im in images)
    # Light text on dark backgrounds as well as the reverse.
    assert len({bool(np.median(im) < 128) for im in images}) == 2
    # Its fonts: trdg's (all sans serif or script) and serif faces from the font packages.
    from omegaconf import OmegaConf

    from .conftest import ROOT

    fonts = resolve_fonts(OmegaConf.load(ROOT / "conf/experiment/english.yaml").data.fonts, cfg.model.alphabet)
    assert set(faithful_fonts(cfg.model.alphabet)) < set(fonts) and any("SourceSerif" in f for f in fonts)


def test_tight_crops_make_the_text_fill_the_height():
    words = tuple(f"{w}{i}" for i, w in enumerate(["Invoice", "TOTAL", "station", "exit"] * 5))

    def px_per_char(tight: float, **margin) -> float:
        style = Style(renderer="layered", height=(32, 40), margins=(5, 5, 5, 5), tight=tight, **margin)
        job = RenderJob(words, (ROBOTO,), style, seed=1, imgH=32, max_width=400)
        return np.mean([render_word(job, i).shape[1] / len(w) for i, w in enumerate(words)])

    assert px_per_char(1.0) > 1.25 * px_per_char(0.0)
    # Looser crops (up to half the text's height each side): the text fills less of it.
    assert px_per_char(1.0, tight_margin=0.0) > px_per_char(1.0) > px_per_char(1.0, tight_margin=0.5)
    with pytest.raises(ValueError, match="tight_margin"):
        Style(tight_margin=-0.1)
    assert job(["a"], tight=1.0).key() == job(["a"], tight=1.0, tight_margin=0.12).key()
    assert job(["a"], tight=1.0).key() != job(["a"], tight=1.0, tight_margin=0.3).key()


def test_clipped_crops_cut_into_the_end_letters_of_long_ink_only():
    import random

    from ocr.data.layers import CLIP_DEPTH, ink_crop

    alpha = np.zeros((40, 140), np.float32)
    alpha[10:30, 20:120] = 1.0  # ink 20 rows high, 100 columns wide
    pixels = np.arange(alpha.size, dtype=np.float32).reshape(alpha.shape)
    rng = random.Random(0)
    state = rng.getstate()
    loose = ink_crop(pixels, alpha, rng, margin=0.3)
    assert int(loose[0, 0]) % 140 <= 20 and int(loose[0, -1]) % 140 >= 119  # the ink whole, a margin or none
    rng.setstate(state)
    assert np.array_equal(ink_crop(pixels, alpha, rng, margin=0.3, clip=0.0), loose)  # off: the same draws
    ends = []
    for seed in range(20):
        cut = ink_crop(pixels, alpha, random.Random(seed), margin=0.3, clip=1.0)
        ends.append((int(cut[0, 0]) % 140, int(cut[0, -1]) % 140))
    # Both sides inside the ink, by up to CLIP_DEPTH x its height (5 columns), and by more than 2 in most.
    assert all(20 <= first <= 20 + CLIP_DEPTH * 20 and 119 - CLIP_DEPTH * 20 <= last <= 119 for first, last in ends)
    assert sum(first > 22 for first, _ in ends) >= 5 and sum(last < 117 for _, last in ends) >= 5
    short = np.zeros((40, 60), np.float32)
    short[10:30, 20:50] = 1.0  # 30 columns: under twice its height, a letter or two
    assert all(ink_crop(pixels[:, :60], short, random.Random(s), clip=1.0).shape[1] >= 30 for s in range(20))
    words = ("Brewery", "COTTON", "station", "Market") * 4  # through the renderer: narrower images
    widths = [
        sum(render_word(job(words, seed=2, renderer="layered", tight=1.0, clip=clip), i).shape[1] for i in range(16))
        for clip in (0.0, 1.0)
    ]
    assert widths[1] < widths[0] - 16 * 3
    with pytest.raises(ValueError, match="clip"):
        Style(clip=1.5)
    assert job(["a"], tight=1.0).key() == job(["a"], tight=1.0, clip=0.0).key()  # stores cached before it stay
    assert job(["a"], tight=1.0).key() != job(["a"], tight=1.0, clip=0.1).key()


def test_tiny_texts_survive_tight_crops_and_random_cuts():
    """A dash or a single narrow letter cropped to its ink is a few pixels high or wide;
    the random cut of the edges must leave an image."""
    words = ("-", "l", "I", ".", "i", "'", "_", ":") * 6
    style = Style(renderer="layered", height=(24, 64), margins=(3, 3, 3, 3), tight=1.0, crop=1.0)
    job = RenderJob(words, (ROBOTO,), style, seed=3, imgH=32, max_width=400)
    images = [render_word(job, i) for i in range(len(words))]
    assert all(im.shape[0] == 32 and im.shape[1] >= 8 for im in images)


def test_letter_effects_thicken_narrow_outline_and_shadow_the_text():
    import random

    from ocr.data.layers import shape_letters

    alpha = np.zeros((40, 60), np.float32)
    alpha[10:30, 20:24] = alpha[10:14, 20:40] = 1.0  # a thin "T" on its side
    plain = Style(renderer="layered")
    rng = random.Random(0)
    state = rng.getstate()
    assert shape_letters(alpha, plain, rng) == (alpha, None, None)
    assert rng.getstate() == state  # off, they draw nothing: earlier recipes keep their pixels

    bold, _, _ = shape_letters(alpha, Style(renderer="layered", bold=1.0), rng)
    assert bold.shape == alpha.shape and bold.sum() > 1.3 * alpha.sum() and np.all(bold >= alpha - 1e-6)
    narrow, _, _ = shape_letters(alpha, Style(renderer="layered", width_scale=(0.5, 0.5)), rng)
    assert narrow.shape == (40, 30)

    text, shadow, outline = shape_letters(alpha, Style(renderer="layered", outline=1.0, shadow=1.0), rng)
    assert text.shape == shadow.shape == outline.shape and text.shape[0] > 40  # room for the spill
    assert abs(text.sum() - alpha.sum()) < 1e-3  # the letters themselves are unchanged
    assert np.all(outline >= text - 1e-6) and outline.sum() > 1.3 * text.sum()
    ys, xs = np.nonzero(text > 0.5)
    sy, sx = np.nonzero(shadow > 0.5)
    assert (sy.mean(), sx.mean()) != pytest.approx((ys.mean(), xs.mean()), abs=0.5)  # it falls to one side


def test_words_with_every_letter_effect_render_at_model_height():
    words = ("Inn", "WORLD", "i", "-", "delicious") * 4
    style = dict(
        renderer="layered", height=(24, 64), tight=0.5, width_scale=(0.7, 1.2), bold=1.0, outline=1.0, shadow=1.0
    )
    images = [render_word(job(words, seed=4, **style), i) for i in range(len(words))]
    assert all(im.shape[0] == 32 and im.shape[1] >= label_width(w) for im, w in zip(images, words))
    assert len({im.tobytes() for im in images}) == len(images)


def test_neighbouring_letters_and_uneven_light_are_drawn_beside_the_word():
    import random

    from ocr.data.layers import add_neighbours, light_ramp

    alpha = np.random.default_rng(0).random((40, 100)).astype(np.float32)
    rng = random.Random(1)
    (widened, shadow, _), word = add_neighbours([alpha, alpha * 0.5, None], 1.0, rng)
    assert shadow.shape == widened.shape and widened.shape[0] == 40 and word.shape == (widened.shape[1],)
    # The word's columns are kept whole and marked; what lies beside them is slices of it.
    start = int(np.argmax(word))
    assert word.sum() == 100 and np.array_equal(widened[:, start : start + 100], alpha)
    left_bit = widened[:, :start][:, word[:start] == 0]
    assert 6 <= start <= 24 and left_bit.any()  # 4-14 columns of letters, 2-10 of gap
    columns = {alpha[:, i].tobytes() for i in range(100)}
    assert all(widened[:, i].tobytes() in columns for i in range(4))  # a slice of the word
    (same,), word = add_neighbours([alpha], 0.0, rng)
    assert same is not alpha and np.array_equal(same, alpha) and word.sum() == word.size == 100

    ramp = light_ramp(32, 90, random.Random(3))
    assert ramp.shape == (32, 90) and -0.41 < ramp.min() < 0 < ramp.max() < 0.41 and np.ptp(ramp) > 0.1
    words = ("Inn", "WORLD", "i", "-", "delicious") * 4
    images = [
        render_word(job(words, seed=4, renderer="layered", tight=0.5, neighbours=1.0, lighting=1.0), i)
        for i in range(20)
    ]
    assert all(im.shape[0] == 32 and im.shape[1] >= label_width(w) for im, w in zip(images, words))


def test_batch_augmentation_draws_per_image_and_stays_in_range():
    from ocr.models.augment import Augment

    torch.manual_seed(0)
    images, widths = torch.rand(64, 1, 32, 80) * 2 - 1, torch.full((64,), 53)
    for ops in ({"invert": 0.5, "contrast": 0.5, "noise": 0.5, "blur": 0.5}, {"lowres": 0.5}):
        out, out_widths = Augment(**ops)(images, widths)
        assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1, ops
        assert torch.equal(out_widths, widths)
        changed = (out - images).abs().flatten(1).amax(1) > 1e-6
        assert 0 < changed.sum() < 64, ops  # each image draws its own changes
    assert torch.equal(Augment()(images, widths)[0], images)
    # Low resolution takes detail away: neighbouring pixels come closer together.
    smoothed, _ = Augment(lowres=1.0)(images, widths)
    assert smoothed.diff(dim=-1).abs().mean() < 0.7 * images.diff(dim=-1).abs().mean()


def test_motion_blur_smears_each_image_along_a_streak_of_its_own_direction():
    from ocr.models.augment import Augment

    torch.manual_seed(0)
    images = torch.ones(64, 1, 32, 40)
    images[:, :, 16, 20] = -1  # a dark dot on white
    out, _ = Augment(motion=1.0)(images, torch.full((64,), 40))
    ink = (1 - out[:, 0]) / 2  # the dot's ink, spread
    assert torch.allclose(ink.sum(dim=(1, 2)), torch.ones(64), atol=1e-4)  # nothing gained or lost
    assert ink.amax(dim=(1, 2)).max() < 0.5  # every dot smeared
    directions = set()
    for spot in ink:
        rows, cols = (spot > 0.02).nonzero(as_tuple=True)
        assert rows.numel() >= 3 and (rows - 16).abs().max() <= 3 and (cols - 20).abs().max() <= 3
        # A streak, not a disc: the ink's spread across its main axis is under a pixel.
        points = torch.stack((cols - 20, rows - 16), 1).float()
        weights = spot[rows, cols] / spot[rows, cols].sum()
        centred = points - (weights[:, None] * points).sum(0)
        spread, axes = torch.linalg.eigh((weights[:, None, None] * centred[:, :, None] * centred[:, None, :]).sum(0))
        assert spread[0] < 0.35 < spread[1], spread
        axis = axes[:, 1]
        directions.add(round(float(torch.atan2(axis[1], axis[0]).remainder(torch.pi)) / (torch.pi / 4)) % 4)
    assert directions == {0, 1, 2, 3}  # along rows, columns and both diagonals
    some, _ = Augment(motion=0.5)(images, torch.full((64,), 40))
    assert 0 < (some != images).flatten(1).any(1).sum() < 64  # each image draws its own


def test_warp_turns_and_slants_each_image_about_its_own_centre_keeping_the_text_inside():
    from ocr.models.augment import Augment

    torch.manual_seed(0)
    widths = torch.randint(20, 201, (64,))
    images = torch.ones(64, 1, 32, 200 + MARGIN)  # white; a dark bar over each image's own width
    for i, w in enumerate(widths.tolist()):
        images[i, :, 10:22, :w] = -1
    out, out_widths = Augment(warp=1.0)(images, widths)
    assert out.shape == images.shape and out.min() >= -1 and out.max() <= 1 and torch.equal(out_widths, widths)
    ink = (out < 0).flatten(1).sum(1) / (images < 0).flatten(1).sum(1)
    assert ink.min() > 0.7 and ink.max() < 1.15  # height x [0.8, 1.05]; nothing cut off
    assert (out[:, :, :4] > 0).all() and (out[:, :, 28:] > 0).all()  # long words turn less
    rows = torch.arange(32.0)[None, :]

    def centre_row(column: torch.Tensor) -> torch.Tensor:  # the dark bar's middle in columns (n, 32)
        dark = (column < 0).float()
        return (dark * rows).sum(1) / dark.sum(1).clamp(min=1)

    left = centre_row(out[:, 0, :, 8])
    right = centre_row(out[torch.arange(64), 0, :, widths - 9])
    assert ((left - right).abs() > 1).sum() > 5  # turned
    ends = [[int((out[i, 0, row] < 0).nonzero().max()) for row in (12, 19)] for i in range(64)]
    assert sum(abs(top - bottom) > 1 for top, bottom in ends) > 10  # slanted: the bar's right end leans
    assert torch.equal(Augment()(images, widths)[0], images)


def test_width_stretch_keeps_the_text_inside_the_batch_and_wide_enough_for_its_label():
    from ocr.models.augment import Augment

    torch.manual_seed(0)
    widths = torch.randint(40, 101, (64,))
    images = torch.ones(64, 1, 32, 100 + MARGIN)  # white padding; dark "text" over each image's own width
    for i, w in enumerate(widths.tolist()):
        images[i, :, 8:24, :w] = -1
    labels = ["abcde"] * 32 + ["abcdefghijklmnopqrst"] * 32
    out, stretched = Augment(stretch=1.0)(images, widths, labels)
    extents = torch.tensor([int((out[i, 0, 16] < 0).nonzero().max()) + 1 for i in range(64)])
    ratios, needed = extents / widths, torch.tensor([label_width(label) for label in labels])
    assert extents.max() <= 100 and (extents >= needed - 1).all()  # each image keeps its margin
    assert ((stretched - extents).abs() <= 1).all()  # the widths follow the text
    free = needed < 0.6 * widths  # labels that leave the factor unclamped
    assert ratios[free].min() > 0.55 and ratios[free].max() < 1.45
    assert (ratios[free] < 0.9).sum() > 5 and (ratios[free] > 1.1).sum() > 3  # condensed and widened
    assert (ratios[~free] >= 0.6).all() and (ratios[~free] > 1.5).any()  # long labels kept readable
    assert torch.equal(Augment(stretch=1.0)(images, widths)[0], images)  # no labels: left alone


class WorkerProbe(torch.utils.data.Dataset):
    """Images whose first pixel says whether the loader worker that made them has frozen
    the objects it inherited."""

    widths, labels = np.full(4, 16), ["a"] * 4

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        image = np.zeros((32, 16), np.uint8)
        image[0, 0] = gc.get_freeze_count() > 0
        return i, image, "a"


def test_loader_workers_leave_the_objects_they_inherit_shared():
    gc.unfreeze()  # nothing frozen here: what a worker has frozen, it froze itself
    loader = OCRDataModule(alphabet="ab", num_workers=1).loader(WorkerProbe(), train=False, sharded=False)
    assert next(iter(loader))["images"][:, 0, 0, 0].tolist() == [1] * 4


def test_loaders_start_no_more_workers_than_they_have_batches():
    """Workers past the number of batches would never get one, yet stay alive (Lightning
    keeps a validation loader's workers through the training epochs)."""
    module = OCRDataModule(alphabet="ab", num_workers=6, batch_size=2)
    assert module.loader(WorkerProbe(), train=False, sharded=False).num_workers == 2  # 4 images, 2 a batch
    assert module.loader(WorkerProbe(), train=True, sharded=False).num_workers == 2
    module.num_workers = 1
    assert module.loader(WorkerProbe(), train=False, sharded=False).num_workers == 1
