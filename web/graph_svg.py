"""The step graph of a procedure as an SVG diagram, laid out on the server (no JS library).

Layers top to bottom by the longest forward path from the start step (a rejection or any
edge back to an earlier layer is drawn dashed on the right), steps of one layer side by side.
Good enough for the procedures quality staff write: tens of steps, a few branches.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from engine.language.condition_words import condition_words
from web.i18n import _

if TYPE_CHECKING:
    from engine.language.procedure import Procedure

W, H, GAP_X, GAP_Y, PAD = 170, 46, 30, 46, 20


def _layers(proc: Procedure) -> dict[str, int]:
    """Layer of each step: longest path from the start over edges that do not close a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    def visit(sid: str) -> None:  # depth-first; edges to steps on the stack are back edges
        state[sid] = 1
        for t in proc.steps[sid].targets:
            if t not in proc.steps:
                continue
            if state.get(t) == 1:
                back.add((sid, t))
            elif t not in state:
                visit(t)
        state[sid] = 2
        order.append(sid)

    if proc.start_step in proc.steps:
        visit(proc.start_step)
    for sid in proc.steps:  # unreachable steps still get drawn
        if sid not in state:
            visit(sid)
    layer = dict.fromkeys(proc.steps, 0)
    for sid in reversed(order):  # topological order of the forward graph
        for t in proc.steps[sid].targets:
            if t in layer and (sid, t) not in back:
                layer[t] = max(layer[t], layer[sid] + 1)
    return layer


def render(proc: Procedure, *, highlight: frozenset[str] = frozenset()) -> str:
    """SVG markup; each step is a ``<g class="step TYPE" data-step=ID>`` with its title."""
    layer = _layers(proc)
    rows: dict[int, list[str]] = {}
    for sid in proc.steps:
        rows.setdefault(layer[sid], []).append(sid)
    width = max(len(r) for r in rows.values()) * (W + GAP_X) - GAP_X + 2 * PAD + 120
    height = (max(rows) + 1) * (H + GAP_Y) - GAP_Y + 2 * PAD
    pos: dict[str, tuple[float, float]] = {}
    for n, sids in rows.items():
        row_w = len(sids) * (W + GAP_X) - GAP_X
        x0 = (width - 120 - row_w) / 2
        for i, sid in enumerate(sids):
            pos[sid] = (x0 + i * (W + GAP_X), PAD + n * (H + GAP_Y))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="step-graph" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
           f'aria-label="{escape(proc.title)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>']
    for sid, step in proc.steps.items():
        x, y = pos[sid]
        edges = [(t.target, condition_words(proc, t.condition.source) if t.condition
                  else (_("otherwise") if len(step.next) > 1 else ""), False) for t in step.next]
        edges += [(b, "", False) for b in step.branches]
        if step.on_reject:
            edges.append((step.on_reject, _("rejected"), True))
        for target, label, reject in edges:
            if target not in pos:
                continue
            tx, ty = pos[target]
            backwards = layer[target] <= layer[sid]
            cls = "edge" + (" reject" if reject or backwards else "")
            if backwards:  # around the right side
                right = width - 60
                d = f"M{x + W},{y + H / 2} C{right},{y + H / 2} {right},{ty + H / 2} {tx + W},{ty + H / 2}"
                lx, ly = right - 10, (y + ty + H) / 2
            else:
                d = f"M{x + W / 2},{y + H} L{tx + W / 2},{ty}"
                lx, ly = tx + W / 2 + 4, ty - 8  # beside the arrow head: labels of one fork never overlap
            out.append(f'<path class="{cls}" d="{d}" marker-end="url(#arrow)"/>')
            if label:
                out.append(f'<text class="edge-label" x="{lx:.0f}" y="{ly:.0f}">{escape(label[:40])}</text>')
    for sid, step in proc.steps.items():
        x, y = pos[sid]
        cls = f"step {step.type}" + (" taken" if sid in highlight else "")
        shape = (f'<polygon points="{x + W / 2},{y} {x + W},{y + H / 2} {x + W / 2},{y + H} {x},{y + H / 2}"/>'
                 if step.type == "decision" else
                 f'<rect x="{x}" y="{y}" width="{W}" height="{H}" rx="{H / 2 if step.type == "end" else 6}"/>')
        role = proc.roles.get(step.role, step.role) if step.role else step_type_words(step.type)
        sign = " ✍" if step.signature else ""
        out.append(f'<g class="{cls}" data-step="{escape(sid)}"><title>{escape(sid)}</title>{shape}'
                   f'<text x="{x + W / 2}" y="{y + 19}" class="t">{escape(step.title)}{sign}</text>'
                   f'<text x="{x + W / 2}" y="{y + 35}" class="r">{escape(str(role))}</text></g>')
    out.append("</svg>")
    return "\n".join(out)


def step_type_words(stype: str) -> str:
    """A step type in words, for the diagram and the step table (read by quality staff, not
    only by YAML writers; "decision" alone would read as an approval's decision)."""
    return {"task": _("task"), "approval": _("approval"), "decision": _("routing decision"),
            "parallel": _("parallel branches"), "join": _("join of branches"), "wait": _("waiting"),
            "spawn": _("linked procedure"), "end": _("end step")}.get(stype, stype)
