"""Printing and saving metrics."""

from __future__ import annotations

COLUMNS = (
    ("n", "n", "{:.0f}"),
    ("word_accuracy", "word acc", "{:.2%}"),
    ("char_accuracy", "char acc", "{:.2%}"),
    ("cer", "CER", "{:.2%}"),
    ("ned", "1-NED", "{:.4f}"),
    ("confidence", "conf", "{:.3f}"),
    ("word_accuracy_alnum", "word acc 36", "{:.2%}"),
    ("cer_alnum", "CER 36", "{:.2%}"),
)


def format_table(results: dict[str, dict[str, float]]) -> str:
    """A text table with a row per test set (``36``: the lower-case alphanumeric protocol)."""
    header = ["set"] + [title for _, title, _ in COLUMNS]
    rows = [
        [name] + [fmt.format(values[key]) if key in values else "-" for key, _, fmt in COLUMNS]
        for name, values in results.items()
    ]
    lines = aligned([header, *rows])
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def aligned(rows: list) -> list[str]:
    """Rows of cells as lines of columns: the first column left-aligned, the others right."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows
    ]
