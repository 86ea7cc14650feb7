"""The dashboard's pictures, drawn as SVG on the server: a flow's DAG and a run's task timeline.

Every text that comes from the database is escaped here (``html.escape`` with quotes), so the
SVG is safe to put into a page as it is. Steps carry ``data-step`` and a ``st-<status>`` class,
which the page's script changes when a live update arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from pgflow_yaml.ui.data import ended_at, human_duration

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 168, 44, 56, 18, 10
LABEL_CHARS = 20


def _short(text: str, size: int = LABEL_CHARS) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def levels(steps: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Return each step's column: 0 for a root, else one more than its deepest dependency."""
    level: dict[str, int] = {}
    for step in steps:  # steps come in step order: dependencies first
        level[step["step_slug"]] = 1 + max((level.get(d, 0) for d in step["deps"]), default=-1)
    return level


def dag_svg(steps: Sequence[dict[str, Any]], states: dict[str, str] | None = None) -> str:
    """Draw the DAG left to right, one column per level; colour steps by ``states``.

    Args:
        steps: Rows with ``step_slug``, ``step_type`` and ``deps``, in step order.
        states: Step status by slug (a run's); without it, steps are drawn as the shape only.
    """
    level = levels(steps)
    rows: dict[int, int] = {}
    place: dict[str, tuple[int, int]] = {}
    for step in steps:
        col = level[step["step_slug"]]
        place[step["step_slug"]] = (
            PAD + col * (BOX_W + GAP_X),
            PAD + rows.get(col, 0) * (BOX_H + GAP_Y),
        )
        rows[col] = rows.get(col, 0) + 1
    width = PAD * 2 + (max(level.values(), default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="flow steps">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for step in steps:
        x2, y2 = place[step["step_slug"]]
        for dep in step["deps"]:
            if dep not in place:
                continue
            x1, y1 = place[dep]
            ax, ay, bx, by = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            mid = (ax + bx) / 2
            parts.append(
                f'<path class="edge" d="M{ax},{ay} C{mid},{ay} {mid},{by} {bx},{by}"'
                ' marker-end="url(#arrow)"/>'
            )
    for step in steps:
        slug = step["step_slug"]
        x, y = place[slug]
        status = (states or {}).get(slug, "")
        kind = "map" if step["step_type"] == "map" else "single"
        cls = f"step st-{escape(status)} kind-{kind}" if status else f"step kind-{kind}"
        shape = "map" if kind == "map" else "step"
        if step.get("signal_schema") is not None:
            shape = f"signal {shape}" if kind == "map" else "signal"
        sub = status or shape
        if states is not None:
            sub = status or "not started"
        parts.append(
            f'<g class="{cls}" data-step="{escape(slug)}" transform="translate({x},{y})">'
            f"<title>{escape(slug)} ({kind})</title>"
        )
        if kind == "map":
            parts.append(f'<rect class="box shadow" x="4" y="4" width="{BOX_W}" height="{BOX_H}"/>')
        parts.append(f'<rect class="box" width="{BOX_W}" height="{BOX_H}" rx="6"/>')
        parts.append(f'<text class="slug" x="10" y="18">{escape(_short(slug))}</text>')
        parts.append(f'<text class="sub" x="10" y="35">{escape(sub)}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(tasks: Sequence[dict[str, Any]], now: datetime, width: int = 900) -> str:
    """Draw one bar per task: waiting (queued to started) then running (started to end).

    The last attempt of each task is drawn (its start is the last attempt's); the label says how
    many attempts it took. An empty string when no task has started.
    """
    started = [t for t in tasks if t["started_at"] is not None]
    if not started:
        return ""
    origin = min(t["queued_at"] for t in tasks)
    end = max((ended_at(t) or now) for t in started)
    span = max((end - origin).total_seconds(), 0.001)
    label_w, row_h = 190, 20
    scale = (width - label_w - PAD) / span
    height = row_h * len(tasks) + 24
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="task timeline">'
    ]
    for i, task in enumerate(tasks):
        y = i * row_h
        name = f"{task['step_slug']}[{task['task_index']}]"
        parts.append(f'<text class="label" x="0" y="{y + 14}">{escape(_short(name, 26))}</text>')
        if task["started_at"] is None:
            continue
        q = label_w + (task["queued_at"] - origin).total_seconds() * scale
        s = label_w + (task["started_at"] - origin).total_seconds() * scale
        e = label_w + ((ended_at(task) or now) - origin).total_seconds() * scale
        run_s = ((ended_at(task) or now) - task["started_at"]).total_seconds()
        tip = f"{name}: {task['status']}, attempt {task['attempts_count']}, {human_duration(run_s)}"
        parts.append(
            f'<rect class="wait" x="{q:.1f}" y="{y + 4}" width="{max(s - q, 0):.1f}" height="12"/>'
        )
        parts.append(
            f'<rect class="bar st-{escape(task["status"])}" x="{s:.1f}" y="{y + 3}"'
            f' width="{max(e - s, 1.5):.1f}" height="14"><title>{escape(tip)}</title></rect>'
        )
        if task["attempts_count"] > 1:
            parts.append(
                f'<text class="attempts" x="{e + 4:.1f}" y="{y + 14}">'
                f"×{task['attempts_count']}</text>"
            )
    axis_y = row_h * len(tasks) + 16
    parts.append(
        f'<text class="axis" x="{label_w}" y="{axis_y}">0</text>'
        f'<text class="axis" x="{width - PAD}" y="{axis_y}" text-anchor="end">'
        f"{escape(human_duration(span))}</text></svg>"
    )
    return "".join(parts)
