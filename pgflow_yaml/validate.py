"""Validate flow files: every stage on every file, every problem in one report.

The pipeline per file is load (:mod:`~pgflow_yaml.loader`) → schema
(:mod:`~pgflow_yaml.schema`) → graph (:mod:`~pgflow_yaml.graph`) → handler form, then across
files the flow slugs must be unique case-insensitively, the sub-flow steps are checked against
all the flows loaded together (:mod:`~pgflow_yaml.subflows`), and with ``check_handlers`` each
handler is imported. Each stage returns diagnostics rather than raising, and a file only
becomes a :class:`~pgflow_yaml.model.FlowSpec` when nothing is wrong with it.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pgflow_yaml import handlers
from pgflow_yaml.diagnostics import (
    IO_CODES,
    Diagnostic,
    render_github,
    render_json,
    render_text,
)
from pgflow_yaml.errors import FlowValidationError
from pgflow_yaml.flow_control import check_concurrency, deadline_diagnostics
from pgflow_yaml.graph import check_graph
from pgflow_yaml.loader import FLOW_SUFFIXES, SourceDoc, read_file
from pgflow_yaml.model import FlowSpec, Span, StepSpec
from pgflow_yaml.options import FLOW_OPTIONS, STEP_OPTIONS
from pgflow_yaml.schedules import build_schedules, check_schedules
from pgflow_yaml.schema import check_schema
from pgflow_yaml.subflows import check_subflows, child_flow_slugs

OutputFormat = Literal["text", "json", "github"]


@dataclass
class ValidationReport:
    """What validating a set of flow files found.

    Attributes:
        flows: A model for every file that is entirely valid, in the order checked.
        diagnostics: Every problem, grouped by file and ordered by position.
        files: Every file checked, as named in diagnostics.
        sources: The text of each file that could be read (to show source lines).
    """

    flows: list[FlowSpec] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Diagnostic]:
        """Return the diagnostics of severity ``error``."""
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def ok(self) -> bool:
        """Return True when no diagnostic is an error."""
        return not self.errors

    @property
    def exit_code(self) -> int:
        """Return 0 when valid, 2 when some input could not be read, else 1."""
        if any(d.code in IO_CODES for d in self.diagnostics):
            return 2
        return 0 if self.ok else 1

    def summary(self) -> str:
        """Return one line saying how many files were checked and what was found."""
        files = len(self.files)
        noun = "file" if files == 1 else "files"
        errors = len(self.errors)
        warnings = len(self.diagnostics) - errors
        also = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        if not errors:
            slugs = ", ".join(f.slug for f in self.flows)
            valid = f"{len(self.flows)} valid flow{'' if len(self.flows) == 1 else 's'}"
            return f"{files} {noun} checked, {valid} ({slugs}){also}"
        bad = len({d.file for d in self.errors})
        what = "error" if errors == 1 else "errors"
        where = f"{bad} {'file' if bad == 1 else 'files'}"
        return f"{files} {noun} checked, {errors} {what} in {where}{also}"

    def render(self, fmt: OutputFormat = "text", *, color: bool = False) -> str:
        """Return the report in one of the ``--format`` renderings (``color``: text only).

        The text rendering is what ``pgflow validate`` prints: every diagnostic, then the
        summary line (for a valid file, just "1 file checked, 1 valid flow (slug)").
        """
        if fmt == "json":
            return render_json(
                self.diagnostics,
                ok=self.ok,
                exit_code=self.exit_code,
                files=self.files,
                flows=[f.slug for f in self.flows],
            )
        if fmt == "github":
            return render_github(self.diagnostics)
        return render_text(self.diagnostics, self.sources, color=color) + self.summary() + "\n"


def discover(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[Diagnostic]]:
    """Expand files and folders into the flow files to check (folders recurse).

    Hidden folders (``.venv``, ``.git``) are skipped. A file named explicitly must have a
    flow file suffix; a folder must hold at least one flow file.
    """
    found: list[str] = []
    problems: list[Diagnostic] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        key = os.path.realpath(name)
        if key not in seen:
            seen.add(key)
            found.append(name)

    for raw in paths:
        name = os.fspath(raw)
        if os.path.isdir(name):
            matched = 0
            for folder, subdirs, names in os.walk(name):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                for entry in sorted(names + [d for d in subdirs if d.endswith(FLOW_SUFFIXES)]):
                    if entry.lower().endswith(FLOW_SUFFIXES):
                        matched += 1
                        add(os.path.normpath(os.path.join(folder, entry)))
            if not matched:
                problems.append(
                    Diagnostic(
                        "PGF105",
                        "no flow files (*.yaml, *.yml, *.toml) in this folder",
                        name,
                    )
                )
        elif not os.path.lexists(name):
            problems.append(Diagnostic("PGF101", "no such file or folder", name))
        elif not name.lower().endswith(FLOW_SUFFIXES):
            problems.append(
                Diagnostic(
                    "PGF104",
                    "not a flow file: the name must end in .yaml, .yml or .toml",
                    name,
                )
            )
        else:
            add(name)
    return found, problems


def _check_handler_forms(doc: SourceDoc) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    steps = doc.data.get("steps") if isinstance(doc.data, dict) else None
    if not isinstance(steps, list):
        return out
    for i, step in enumerate(steps):
        if isinstance(step, dict) and isinstance(step.get("handler"), str):
            problem = handlers.handler_form_problem(step["handler"])
            if problem is not None:
                path = ("steps", i, "handler")
                out.append(
                    Diagnostic(
                        problem.code, str(problem), doc.file, doc.span(path), path, problem.hint
                    )
                )
    return out


def check_document(doc: SourceDoc) -> list[Diagnostic]:
    """Run the schema, graph and handler-form stages on one parsed document."""
    return [
        *check_schema(doc),
        *check_graph(doc),
        *_check_handler_forms(doc),
        *check_schedules(doc),
        *check_concurrency(doc),
    ]


def build_flow(doc: SourceDoc) -> FlowSpec:
    """Build the model of a document that passed every check."""
    data: dict[str, Any] = doc.data
    steps = []
    spans = doc.item_spans(("steps",), len(data["steps"]))
    for i, raw in enumerate(data["steps"]):
        steps.append(
            StepSpec(
                slug=raw["slug"],
                handler=raw.get("handler"),
                index=i,
                description=raw.get("description"),
                depends_on=tuple(raw.get("depends_on", ())),
                map=raw.get("map"),
                if_=raw.get("if"),
                if_not=raw.get("if_not"),
                when_unmet=raw.get("when_unmet"),
                when_exhausted=raw.get("when_exhausted"),
                options={key.name: raw[key.name] for key in STEP_OPTIONS if key.name in raw},
                signal=raw.get("signal"),
                child_flow=raw.get("flow"),
                span=spans[i],
            )
        )
    return FlowSpec(
        slug=data["slug"],
        steps=tuple(steps),
        description=data.get("description"),
        options={key.name: data[key.name] for key in FLOW_OPTIONS if key.name in data},
        schedules=build_schedules(doc),
        deadline=data.get("deadline"),
        source_path=doc.file,
        source_sha256=doc.sha256,
        span=doc.span(()),
    )


def _internal(file: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(
        "PGF100",
        f"internal error while checking this file: {type(exc).__name__}: {exc}",
        file,
        hint="this is a bug in pgflow-yaml; please report it with the file",
    )


def _check_file(name: str) -> tuple[SourceDoc | None, list[Diagnostic]]:
    try:
        doc, diagnostics = read_file(Path(name), name)
        if doc is not None and doc.data is not None:
            diagnostics += check_document(doc)
    except (Exception, RecursionError) as exc:  # last resort: never a traceback
        return None, [_internal(name, exc)]
    return doc, diagnostics


def _duplicate_slugs(docs: list[SourceDoc]) -> list[Diagnostic]:
    first: dict[str, SourceDoc] = {}
    out: list[Diagnostic] = []
    for doc in docs:
        slug = doc.data.get("slug") if isinstance(doc.data, dict) else None
        if not isinstance(slug, str):
            continue
        other = first.setdefault(slug.lower(), doc)
        if other is doc:
            continue
        span = other.span(("slug",))
        other_slug = other.data["slug"]
        same = "" if other_slug == slug else f' ("{other_slug}")'
        out.append(
            Diagnostic(
                "PGF306",
                f'flow slug "{slug}" is already used by {other.file}{same}',
                doc.file,
                doc.span(("slug",)),
                ("slug",),
                f"first defined at {other.file}:{span.line}:{span.col}; flow slugs name pgmq "
                "queues, so they must differ even ignoring case",
            )
        )
    return out


def _check_handlers(doc: SourceDoc, found: Sequence[Diagnostic] = ()) -> list[Diagnostic]:
    """Import each handler of a file; skip a step whose handler already has a diagnostic.

    Runs also on a file with other errors, so that one malformed path does not hide the
    other handlers' problems.
    """
    out: list[Diagnostic] = []
    folder = str(Path(doc.file).resolve().parent)
    flagged = {d.doc_path[:3] for d in found if d.doc_path}
    steps = doc.data.get("steps") if isinstance(doc.data, dict) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        handler = step.get("handler") if isinstance(step, dict) else None
        if not isinstance(handler, str) or ("steps", i, "handler") in flagged:
            continue
        try:
            handlers.import_handler(handler, [folder])
        except handlers.HandlerImportError as exc:
            path = ("steps", i, "handler")
            out.append(Diagnostic(exc.code, str(exc), doc.file, doc.span(path), path, exc.hint))
    return out


@contextmanager
def _without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many small, acyclic objects are made.

    Every file's YAML nodes stay alive until the report is built; with the collector on, each
    collection walks all of them again, which costs more than the parsing itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def validate_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    check_handlers: bool = False,
    check_deadlines: bool = True,
) -> ValidationReport:
    """Validate flow files and folders of flow files.

    Args:
        paths: Files and folders (folders recurse into ``*.yaml``, ``*.yml``, ``*.toml``).
        check_handlers: Also import every handler and check its signature (runs user code).
        check_deadlines: Check each otherwise valid flow's worst case against its ``deadline``
            (PGF332/PGF333); ``pgflow explain`` turns it off to explain such a flow.

    Returns:
        The report: valid flows, every diagnostic, and the exit code to use.
    """
    with _without_gc():
        return _validate_paths(paths, check_handlers, check_deadlines)


def _built(doc: SourceDoc, diagnostics: list[Diagnostic], check_deadlines: bool) -> FlowSpec | None:
    """Return the model of a document with no error (after its deadline check), else ``None``."""
    if any(d.severity == "error" for d in diagnostics):
        return None
    flow = build_flow(doc)
    late = deadline_diagnostics(flow, doc) if check_deadlines else []
    diagnostics.extend(late)
    return None if late else flow


def _validate_paths(
    paths: Sequence[str | os.PathLike[str]], check_handlers: bool, check_deadlines: bool = True
) -> ValidationReport:
    report = ValidationReport()
    names, problems = discover(paths)
    report.diagnostics.extend(problems)
    per_file: dict[str, list[Diagnostic]] = {}
    loaded: list[SourceDoc] = []
    for name in names:
        report.files.append(name)
        doc, diagnostics = _check_file(name)
        per_file[name] = diagnostics
        if doc is not None:
            report.sources[name] = doc.text
            if doc.data is not None:
                loaded.append(doc)
    for diag in [*_duplicate_slugs(loaded), *check_subflows(loaded)]:
        per_file[diag.file].append(diag)
    for doc in loaded:
        diagnostics = per_file[doc.file]
        try:
            if check_handlers:
                diagnostics.extend(_check_handlers(doc, diagnostics))
            if (flow := _built(doc, diagnostics, check_deadlines)) is not None:
                report.flows.append(flow)
        except (Exception, RecursionError) as exc:
            diagnostics.append(_internal(doc.file, exc))
    for name in names:
        report.diagnostics.extend(sorted(per_file[name], key=Diagnostic.sort_key))
    return report


def validate_source(
    text: str | bytes, name: str = "<flow>.yaml", *, check_handlers: bool = False
) -> ValidationReport:
    """Validate one flow given as text (the suffix of ``name`` picks YAML or TOML).

    Handlers are imported relative to the current directory when ``check_handlers`` is set.
    """
    from pgflow_yaml.loader import parse_bytes

    raw = text.encode("utf-8") if isinstance(text, str) else text
    kind: Literal["yaml", "toml"] = "toml" if name.lower().endswith(".toml") else "yaml"
    report = ValidationReport(files=[name])
    try:
        doc, diagnostics = parse_bytes(raw, name, kind)
        if doc is not None:
            report.sources[name] = doc.text
            if doc.data is not None:
                diagnostics += check_document(doc)
                diagnostics += check_subflows([doc])
                if check_handlers and not diagnostics:
                    diagnostics += _check_handlers(doc)
                if (flow := _built(doc, diagnostics, True)) is not None:
                    report.flows.append(flow)
    except (Exception, RecursionError) as exc:
        diagnostics = [_internal(name, exc)]
    report.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
    return report


def _parsed(name: str) -> SourceDoc | None:
    """Return the parsed document of a flow file, ``None`` when it cannot be read or parsed."""
    try:
        doc, _ = read_file(Path(name), name)
    except (Exception, RecursionError):
        return None
    return doc if doc is not None and isinstance(doc.data, dict) else None


def with_child_flows(file: str | os.PathLike[str]) -> list[str]:
    """Return ``file`` followed by the flow files of the flows its sub-flow steps run, theirs
    too, found among the flow files of ``file``'s folder and its subfolders (the first file of
    each slug, in :func:`discover` order).

    Only the slugs and the ``flow`` keys are read here; validating the files together (the
    caller's next step) reports what is wrong with them, a child found nowhere included
    (PGF343). A file without sub-flow steps comes back alone, and no folder is read.
    """
    name = os.fspath(file)
    doc = _parsed(name)
    wanted = child_flow_slugs(doc) if doc is not None else []
    if not wanted:
        return [name]
    assert doc is not None and isinstance(doc.data, dict)
    by_slug: dict[str, tuple[str, SourceDoc]] = {}
    found, _ = discover([os.path.dirname(name) or "."])
    for other in found:
        if os.path.realpath(other) == os.path.realpath(name):
            continue
        other_doc = _parsed(other)
        slug = other_doc.data.get("slug") if other_doc is not None else None
        if isinstance(slug, str) and other_doc is not None:
            by_slug.setdefault(slug, (other, other_doc))
    files, seen = [name], {doc.data.get("slug")}
    while wanted:
        slug = wanted.pop(0)
        if slug in seen or slug not in by_slug:
            continue
        seen.add(slug)
        child_file, child_doc = by_slug[slug]
        files.append(child_file)
        wanted.extend(child_flow_slugs(child_doc))
    return files


class FlowSelectionError(LookupError):
    """A slug asked for names no flow of the files loaded."""


def load_flows(
    paths: Sequence[str | os.PathLike[str]],
    *,
    only: Iterable[str] = (),
    check_handlers: bool = False,
) -> list[FlowSpec]:
    """Return the models of flow files, or raise when any of them is invalid.

    Every file is validated, so two flows whose slugs differ only in case are an error
    (PGF306) like any other. With ``only``, just the flows of those slugs are returned, in
    file order.

    Raises:
        FlowValidationError: some file is invalid or unreadable; the message is the
            rendered report.
        FlowSelectionError: a slug of ``only`` names no flow of the files.
    """
    report = validate_paths(paths, check_handlers=check_handlers)
    if not report.ok:
        raise FlowValidationError(report)
    flows = report.flows
    wanted = list(dict.fromkeys(only))
    if wanted:
        known = {flow.slug for flow in flows}
        unknown = [slug for slug in wanted if slug not in known]
        if unknown:
            raise FlowSelectionError(
                f"no flow named {', '.join(map(repr, unknown))} in the files given "
                f"(found: {', '.join(sorted(known)) or 'none'})"
            )
        flows = [flow for flow in flows if flow.slug in wanted]
    return flows


__all__ = [
    "FlowSelectionError",
    "FlowValidationError",
    "OutputFormat",
    "Span",
    "ValidationReport",
    "build_flow",
    "discover",
    "load_flows",
    "validate_paths",
    "validate_source",
    "with_child_flows",
]
