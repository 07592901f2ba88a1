"""Rendering the transparency report: Markdown for people who read, PNG charts for people who
would rather look. Home of matplotlib (Agg backend: files only, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.errors import MissingExtra
from node.sync.report import TransparencyReport


def render_markdown(report: TransparencyReport) -> str:
    """The report as a Markdown document."""
    lines = [
        f"# Transparency report: {report.node}",
        "",
        f"Period: {report.since.isoformat()} to {report.until.isoformat()} (end excluded).",
        "",
        "## Indicators contributed by this node",
        "",
        *_table(["category", "indicators"], sorted(report.contributed.items())),
        "",
        "## Indicators received from partners",
        "",
        *_table(
            ["origin", "category", "indicators"],
            [(o, c, n) for o, cats in sorted(report.received.items()) for c, n in sorted(cats.items())],
        ),
        "",
        f"Of these, {report.restricted_received} were TLP:RED (counted here, never listed).",
        "",
        "## Local matches",
        "",
        *_table(
            ["category", "matches", "distinct indicators"],
            [(c, n, report.matched_indicators.get(c, 0)) for c, n in sorted(report.matches.items())],
        ),
        "",
        "## Revocations and disputes",
        "",
        *_table(
            ["origin", "category", "revoked"],
            [(o, c, n) for o, cats in sorted(report.revocations.items()) for c, n in sorted(cats.items())],
        ),
        "",
        f"Disputes stated in the period (current, not withdrawn): {sum(d.count for d in report.disputes)}.",
        "",
        *_table(
            ["author", "about origin", "category", "disputes"],
            [(d.author, d.about, d.category, d.count) for d in report.disputes],
        ),
        "",
        "## Sync health per partner",
        "",
        *_table(
            ["partner", "entries received", "refused", "last attempt", "last success", "last result"],
            [
                (
                    p.partner,
                    p.entries_received,
                    ", ".join(f"{r} {n}" for r, n in sorted(p.refused.items())) or "0",
                    p.last_attempt or "never",
                    p.last_success or "never",
                    p.last_result or "-",
                )
                for p in report.partners
            ],
        ),
        "",
        "## Review decisions",
        "",
        *_table(
            ["origin", "category", "confirmed", "false positive", "escalated", "false-positive rate"],
            [
                (
                    r.origin,
                    r.category,
                    r.confirmed,
                    r.false_positive,
                    r.escalated,
                    "-" if r.false_positive_rate is None else f"{r.false_positive_rate:.0%}",
                )
                for r in report.review
            ],
        ),
        "",
        "## Actions recorded in the audit log",
        "",
        *_table(["action", "count"], sorted(report.actions.items())),
    ]
    return "\n".join(lines) + "\n"


def _table(headers: list[str], rows: list[tuple[object, ...]]) -> list[str]:
    if not rows:
        return ["None in this period."]
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
        *("| " + " | ".join(row) + " |" for row in cells),
    ]


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display), imported only when charts are asked
    for: a slow import, and the optional extra ``charts`` (~77 MB installed)."""
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError as exc:
        raise MissingExtra("'accord report --charts'", "charts") from exc
    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    return pyplot


def render_charts(report: TransparencyReport, directory: Path) -> list[Path]:
    """Bar charts of indicators and matches per category as PNG files in ``directory``."""
    pyplot = _pyplot()

    directory.mkdir(parents=True, exist_ok=True)
    received: dict[str, int] = {}
    for cats in report.received.values():
        for category, count in cats.items():
            received[category] = received.get(category, 0) + count
    charts = [
        (
            "indicators.png",
            "Indicators per category",
            {"contributed": report.contributed, "received": received},
        ),
        ("matches.png", "Local matches per category", {"matches": report.matches}),
    ]
    written = []
    for filename, title, series in charts:
        categories = sorted({c for counts in series.values() for c in counts})
        figure, axes = pyplot.subplots(figsize=(8, 4.5))
        width = 0.8 / max(len(series), 1)
        for index, (label, counts) in enumerate(series.items()):
            positions = [i + index * width for i in range(len(categories))]
            axes.bar(positions, [counts.get(c, 0) for c in categories], width=width, label=label)
        axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(categories))], categories)
        axes.set_title(f"{title}, {report.since.date()} to {report.until.date()}")
        axes.set_ylabel("count")
        axes.legend()
        figure.tight_layout()
        path = directory / filename
        figure.savefig(path, format="png", dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written
