"""The PNG chart beside the notice: records provided each month, one line per method.

Batch over the line is ~96% of all records and immediate provision ~0.3%, so the y axis is
logarithmic (symlog, so that a month without any provision still plots at zero).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from matplotlib import font_manager, rc_context
from matplotlib.figure import Figure

from jukinet.interfaces.documents.fonts import noto_sans_cjk
from jukinet.services.national.gazette import METHOD_JA, METHODS, GazetteNotice


@cache
def _font_family() -> str:
    path = noto_sans_cjk()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def _month_label(year_month: str) -> str:
    return f"{int(year_month[:4])}/{int(year_month[5:7])}"


def render_chart(notice: GazetteNotice, out: Path) -> Path:
    """Write the chart of ``notice`` to ``out`` (PNG) and return it."""
    family = _font_family()
    series = notice.monthly_by_method()
    with rc_context({"font.family": family}):
        fig = Figure(figsize=(9, 4.8), dpi=120)  # no pyplot: no global state, no GUI backend
        ax = fig.subplots()
        x = list(range(len(notice.months)))
        for method in METHODS:
            ax.plot(x, series[method], marker="o", label=METHOD_JA[method])
        ax.set_xticks(x, [_month_label(m) for m in notice.months], rotation=45)
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("提供件数（件）")
        ax.set_title(f"本人確認情報の提供件数（{notice.period_ja}）")
        ax.grid(visible=True, which="major", alpha=0.3)
        ax.legend(title="提供方法")
        fig.tight_layout()
        fig.savefig(out, format="png")
    return out
