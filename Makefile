# `make train` and `make test` set everything up in .venv/ (once), then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRDG := trdg==1.8.0

# Google Fonts families (SIL OFL) from the npm registry that experiments name (hindi,
# chinese): 28 MB.
FONT_FAMILIES := noto-sans-devanagari hind mukta poppins tiro-devanagari-hindi kalam \
	zcool-xiaowei zcool-kuaile ma-shan-zheng zcool-qingke-huangyou
FONTS := data/fonts/.fetched

.PHONY: train test install fonts photos clean-venv

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP) $(FONTS)
	$(BIN)/python -m pytest $(ARGS)

install: $(STAMP) $(FONTS)

fonts: $(FONTS)

# Wallpapers of three Debian packages (GPL-2+, CC BY-SA) for experiment=english_photo: 15 MB
# kept of 170 MB fetched.
photos: $(STAMP)
	$(BIN)/python -m ocr.data.fetch photos --into data/photos/debian

$(FONTS): $(STAMP)
	$(BIN)/python -m ocr.data.fetch fonts $(FONT_FAMILIES) --into data/fonts
	touch $(FONTS)

# Re-run when the package's requirements change. trdg goes in with --no-deps: its
# pinned arabic-reshaper release is yanked and rejected by pip >= 24.1, and its
# renderer needs only what setup.cfg lists.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/python -m pip install --no-deps $(TRDG)
	$(BIN)/python -c "import ocr.data.render, trdg.data_generator"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
