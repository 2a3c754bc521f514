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

# The Google Fonts families (SIL OFL) of experiment=english_fonts, the shipped english
# model's look, in the folders it names: 175 MB.
DISPLAY_FAMILIES := oswald anton archivo-black alfa-slab-one roboto-slab bitter arvo zilla-slab \
	josefin-sans raleway montserrat lobster righteous bangers playfair-display abril-fatface russo-one \
	passion-one fjalla-one barlow-condensed roboto-condensed black-ops-one permanent-marker kaushan-script \
	oleo-script rubik exo-2 teko ultra luckiest-guy fugaz-one chewy shrikhand sigmar-one rye patua-one \
	changa-one squada-one days-one audiowide
DISPLAY2_FAMILIES := antonio pathway-gothic-one saira-condensed archivo-narrow pt-sans-narrow \
	asap-condensed big-shoulders-display fira-sans-condensed crete-round josefin-slab merriweather lora \
	libre-baskerville vollkorn cormorant-garamond prata nunito work-sans dosis signika varela-round kanit \
	heebo ibm-plex-sans space-grotesk courier-prime special-elite dancing-script pacifico satisfy \
	great-vibes caveat yellowtail courgette lilita-one titan-one bevan paytone-one carter-one orbitron
DISPLAY3_FAMILIES := asap play encode-sans-condensed francois-one secular-one bungee \
	saira-stencil-one allerta-stencil exo share-tech-mono vt323 michroma quantico inter pt-sans cabin \
	quicksand karla libre-franklin overpass titillium-web archivo barlow fira-sans dm-sans jost lexend \
	ibm-plex-serif pt-serif alegreya spectral domine comfortaa poiret-one baloo-2 indie-flower \
	shadows-into-light patrick-hand rock-salt gloria-hallelujah
DISPLAY4_FAMILIES := nunito-sans mulish red-hat-display outfit public-sans plus-jakarta-sans sora \
	urbanist figtree chivo prompt maven-pro catamaran oxygen questrial didact-gothic hammersmith-one \
	ubuntu-condensed yanone-kaffeesatz economica crimson-text cardo old-standard-tt noto-serif \
	frank-ruhl-libre gelasio bree-serif aleo bowlby-one roboto-mono space-mono inconsolata source-code-pro \
	ubuntu-mono architects-daughter covered-by-your-grace handlee neucha reenie-beanie fredoka
CAPITALS_FAMILIES := bebas-neue staatliches graduate cinzel julius-sans-one syncopate \
	holtwood-one-sc six-caps wallpoet londrina-solid bungee-inline bowlby-one-sc rubik-mono-one amatic-sc \
	bungee-shade monoton frijole
ENGLISH_FONTS := data/fonts_display/.fetched data/fonts_display2/.fetched data/fonts_display3/.fetched \
	data/fonts_display4/.fetched data/fonts_capitals/.fetched

.PHONY: train test install fonts english-fonts photos clean-venv

train: $(STAMP)
	$(BIN)/python train.py $(ARGS)

test: $(STAMP) $(FONTS)
	$(BIN)/python -m pytest $(ARGS)

install: $(STAMP) $(FONTS)

fonts: $(FONTS)

english-fonts: $(ENGLISH_FONTS)

# Wallpapers of three Debian packages (GPL-2+, CC BY-SA) for experiment=english_photo: 15 MB
# kept of 170 MB fetched.
photos: $(STAMP)
	$(BIN)/python -m ocr.data.fetch photos --into data/photos/debian

$(FONTS): $(STAMP)
	$(BIN)/python -m ocr.data.fetch fonts $(FONT_FAMILIES) --into data/fonts
	touch $(FONTS)

data/fonts_display/.fetched: FAMILIES = $(DISPLAY_FAMILIES)
data/fonts_display2/.fetched: FAMILIES = $(DISPLAY2_FAMILIES)
data/fonts_display3/.fetched: FAMILIES = $(DISPLAY3_FAMILIES)
data/fonts_display4/.fetched: FAMILIES = $(DISPLAY4_FAMILIES)
data/fonts_capitals/.fetched: FAMILIES = $(CAPITALS_FAMILIES)
$(ENGLISH_FONTS): $(STAMP)
	$(BIN)/python -m ocr.data.fetch fonts $(FAMILIES) --into $(@D)
	touch $@

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
