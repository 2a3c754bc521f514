"""A grid of word images titled with what the model read (the blog post's figure)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

GOOD, BAD = (0, 110, 0), (190, 0, 0)


def prediction_grid(
    images: Sequence[np.ndarray],
    predictions: Sequence[str],
    labels: Sequence[str] | None = None,
    columns: int = 4,
    cell_width: int = 200,
) -> np.ndarray:
    """RGB uint8 array: each image under its prediction, green when it matches the
    label and red (with the label) when it does not."""
    font = ImageFont.load_default(size=max(13, cell_width // 15))
    rows = max(1, -(-len(images) // columns))
    image_height = max((im.shape[0] for im in images), default=32)
    cell_height = image_height + 8 + 2 * font.size
    canvas = Image.new("RGB", (columns * cell_width, rows * cell_height), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (image, text) in enumerate(zip(images, predictions)):
        x, y = (k % columns) * cell_width, (k // columns) * cell_height
        label = labels[k] if labels is not None else None
        ok = label is None or text == label
        title = text if ok else f"{text}  ({label})"
        draw.text((x + 4, y + 2), title, fill=GOOD if ok else BAD, font=font)
        word = Image.fromarray(image).convert("RGB")
        if word.width > cell_width - 8:
            word = word.resize((cell_width - 8, max(1, word.height * (cell_width - 8) // word.width)))
        canvas.paste(word, (x + 4, y + 6 + font.size))
    return np.array(canvas)
