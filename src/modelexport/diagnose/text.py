"""The human form of a diff: per file, its outputs, the first divergent module and a short table."""

from __future__ import annotations

from .compare import Error
from .report import DiffReport, ModuleDiff, PartDiff

_ROWS = 12
_BRANCHES = {"then_branch": "branch with past", "else_branch": "first-step branch"}
_TAGS = {
    "tags": "module tags",
    "hierarchy.json": "modules from hierarchy.json",
    "node-names": "no module tags: modules from the exporter's scoped node names",
}


def _num(e: Error | None) -> str:
    if e is None:
        return "-"
    return f"{e.max_abs:.2e}{'' if e.ok else ' ✗'}"


def _rel(e: Error | None) -> str:
    return "-" if e is None else f"{e.max_rel:.1e}"


def _label(path: str) -> str:
    return path or "(root)"


def _rows(part: PartDiff, everything: bool) -> tuple[list[ModuleDiff], int]:
    """The rows to show and how many modules beyond tolerance were left out."""
    if everything:
        return part.modules, 0
    beyond = [m for m in part.modules if (m.output and not m.output.ok) or (m.local and not m.local.ok)]
    first = part.module(part.first_divergent_module)
    if first is None:  # the modules at the top of what this file's PyTorch run called
        called = [m for m in part.modules if m.calls]
        top = min((m.depth for m in called), default=0)
        return [m for m in called if m.depth <= top + 1][:_ROWS], len(beyond)
    chain = [
        m
        for m in part.modules
        if m.path != first.path and (not m.path or first.path.startswith(m.path + "."))
    ]
    after = [m for m in beyond if m.order > first.order and m not in chain and m is not first]
    shown = [*chain, first, *after[: max(0, _ROWS - len(chain) - 1)]]
    return sorted(shown, key=lambda m: m.order), len(beyond) - len([m for m in shown if m in beyond])


def _table(rows: list[ModuleDiff]) -> list[str]:
    width = max([len(_label(m.path)) for m in rows] + [6])
    cls = max([len(m.class_name) for m in rows] + [5])
    head = f"  {'module':<{width}}  {'class':<{cls}}  {'output max|Δ|':>15}  {'rel':>7}  {'local max|Δ|':>15}  {'inputs max|Δ|':>15}"
    lines = [head]
    for m in rows:
        lines.append(
            f"  {_label(m.path):<{width}}  {m.class_name:<{cls}}  {_num(m.output):>15}  {_rel(m.output):>7}  "
            f"{_num(m.local):>15}  {_num(m.input):>15}"
        )
    return lines


def _part(part: PartDiff, everything: bool) -> list[str]:
    shapes = ", ".join(
        f"{k} {'×'.join(map(str, v))}"
        for k, v in part.input_shapes.items()
        if not k.startswith("past_key_values")
    )
    where = f"{part.file} ({_BRANCHES.get(part.branch, part.branch)})" if part.branch else part.file
    lines = [f"{where} on its '{part.check}' inputs ({shapes}); {_TAGS.get(part.tags, part.tags)}"]
    outs = ", ".join(f"{k} {_num(v)}" for k, v in part.outputs.items())
    lines.append(f"  outputs vs PyTorch: {outs}")
    for fed in part.derived_inputs:
        lines.append(
            f"  input '{fed.name}' is not one PyTorch was given (fed 0..n-1, as the matrix's checks do); "
            f"PyTorch's own ({_label(fed.made_by or '')}) differs by {_num(fed.error)}"
        )
    lines += [f"  note: {n}" for n in part.notes]
    first = part.module(part.first_divergent_module)
    if first is None:
        lines.append("  no module diverges")
    else:
        how = (
            "its own nodes, on PyTorch's inputs"
            if part.found_by == "local"
            else "its output, its inputs within tolerance"
        )
        lines.append(f"  first divergent module: {_label(first.path)} ({first.class_name}), found by {how}")
    rows, more = _rows(part, everything)
    lines += _table(rows)
    if more:
        lines.append(
            f"  … {more} more modules beyond tolerance (--all lists every module, --json gives them all)"
        )
    return lines


def render(report: DiffReport, everything: bool = False) -> str:
    """The report as lines of text."""
    lines = [
        f"{report.directory}: {report.source} ({report.task}, {report.exporter}), atol {report.atol:g}, rtol {report.rtol:g}"
    ]
    for part in report.parts:
        lines += ["", *_part(part, everything)]
    first = report.first
    lines.append("")
    if first is None:
        lines.append("nothing diverges")
    else:
        lines.append(f"diverges: {first.file}: first divergent module {first.first_divergent_module!r}")
    return "\n".join(lines)
