"""The loader: data, spans, and what PyYAML would accept silently."""

from __future__ import annotations

import hashlib
import textwrap

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pgflow_yaml.loader import locate_toml, parse_bytes
from pgflow_yaml.model import Span

from .helpers import check, codes, only

ORDER = textwrap.dedent(
    """\
    slug: order_pipeline
    input_schema:
      type: object
    steps:
      - slug: check
        handler: shop.steps:check
      - slug: charge
        handler: "shop.steps:charge"
        depends_on: [check, 'other']
        if: {check: {ok: true}}
    """
)


def load(text: str, kind: str = "yaml"):
    doc, diagnostics = parse_bytes(text.encode(), f"f.{kind}", kind)  # type: ignore[arg-type]
    assert doc is not None
    return doc, diagnostics


def test_yaml_data_is_plain_json() -> None:
    doc, diagnostics = load(ORDER)
    assert diagnostics == []
    assert doc.data["steps"][1] == {
        "slug": "charge",
        "handler": "shop.steps:charge",
        "depends_on": ["check", "other"],
        "if": {"check": {"ok": True}},
    }
    assert doc.sha256 == hashlib.sha256(ORDER.encode()).hexdigest()


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        ((), False, (1, 1)),
        (("slug",), False, (1, 7, 1, 21)),
        (("slug",), True, (1, 1, 1, 5)),
        (("steps", 0), False, (5, 5)),
        (("steps", 1, "handler"), False, (8, 14, 8, 33)),
        (("steps", 1, "depends_on", 0), False, (9, 18, 9, 23)),
        (("steps", 1, "depends_on", 1), False, (9, 25, 9, 32)),
        (("steps", 1, "depends_on"), True, (9, 5, 9, 15)),
        (("steps", 1, "if", "check", "ok"), False, (10, 22, 10, 26)),
        (("input_schema", "type"), False, (3, 9, 3, 15)),
        # missing parts fall back to the nearest ancestor
        (("steps", 1, "timeout"), False, (7, 5)),
        (("steps", 9), False, (5, 3)),
    ],
)
def test_yaml_spans(path: tuple, key: bool, expected: tuple) -> None:  # type: ignore[type-arg]
    doc, _ = load(ORDER)
    span = doc.span(path, key=key)
    assert (span.line, span.col, span.end_line, span.end_col)[: len(expected)] == expected


TOML = textwrap.dedent(
    """\
    # a comment
    slug = "word_stats"
    description = '''
    Several lines, with "quotes" and = signs.
    '''
    timeout = 30 # seconds

    [input_schema]
    type = "array"
    items = { type = "string" }

    [[steps]]
    slug = "count"
    handler = "demo.words:count_words"
    map = "$input"

    [[steps]]
    "slug" = "total"
    handler = "demo.words:total"
    depends_on = [
      "count",   # the map
      'other',
    ]
    if = { count = { n = 1 }, "x y" = [1, 2] }
    """
)


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        (("slug",), False, (2, 8, 2, 20)),
        (("slug",), True, (2, 1, 2, 5)),
        (("timeout",), False, (6, 11, 6, 13)),
        (("input_schema",), False, (8, 1, 8, 15)),
        (("input_schema", "type"), False, (9, 8, 9, 15)),
        (("input_schema", "items", "type"), False, (10, 18, 10, 26)),
        (("steps", 0), False, (12, 1, 12, 10)),
        (("steps", 0, "map"), False, (15, 7, 15, 15)),
        (("steps", 1), False, (17, 1, 17, 10)),
        (("steps", 1, "slug"), True, (18, 1, 18, 7)),
        (("steps", 1, "slug"), False, (18, 10, 18, 17)),
        (("steps", 1, "depends_on", 0), False, (21, 3, 21, 10)),
        (("steps", 1, "depends_on", 1), False, (22, 3, 22, 10)),
        (("steps", 1, "if", "count", "n"), False, (24, 22, 24, 23)),
        (("steps", 1, "if", "x y", 1), False, (24, 39, 24, 40)),
        (("steps", 1, "timeout"), False, (17, 1, 17, 10)),
    ],
)
def test_toml_spans(path: tuple, key: bool, expected: tuple) -> None:  # type: ignore[type-arg]
    doc, diagnostics = load(TOML, "toml")
    assert diagnostics == []
    span = doc.span(path, key=key)
    assert (span.line, span.col, span.end_line, span.end_col) == expected


def test_toml_data_matches_yaml_model() -> None:
    doc, _ = load(TOML, "toml")
    assert doc.data["steps"][1]["depends_on"] == ["count", "other"]
    assert doc.data["description"].startswith("Several lines")


def test_toml_locator_dotted_keys_and_subtables() -> None:
    values, keys = locate_toml('a.b = 1\n[[steps]]\nx = 1\n[steps.sub]\ny = "]"\n[[steps]]\n')
    assert values[("a", "b")] == (1, 7, 1, 8)
    assert keys[("a",)] == (1, 1, 1, 2)
    assert values[("steps", 0, "sub", "y")] == (5, 5, 5, 8)
    assert ("steps", 1) in values


def test_empty_yaml() -> None:
    assert codes(check("")) == [("PGF111", 1, 1)]
    assert codes(check("# just a comment\n\n")) == [("PGF111", 1, 1)]
    assert codes(check("---\n")) == [("PGF111", 1, 1)]


def test_empty_toml() -> None:
    assert codes(check("", "f.toml")) == [("PGF111", 1, 1)]


def test_not_utf8_names_the_position() -> None:
    report = check_bytes(b"slug: x\ndescription: \xff\n")
    diag = only(report, "PGF110")
    assert (diag.line, diag.col) == (2, 14)
    assert "0xff" in diag.message


def check_bytes(raw: bytes):
    from pgflow_yaml.validate import validate_source

    return validate_source(raw, "f.yaml")


def test_byte_order_mark_is_accepted() -> None:
    report = check_bytes(b"\xef\xbb\xbfslug: bom\nsteps:\n  - slug: a\n    handler: m.n:f\n")
    assert report.ok, report.render()


def test_several_documents() -> None:
    report = check("slug: a\n---\nslug: b\n")
    assert ("PGF114", 3, 1) in codes(report)


def test_trailing_document_marker_only_is_one_document() -> None:
    report = check("---\nslug: a\nsteps:\n  - slug: s\n    handler: m.n:f\n...\n")
    assert report.ok, report.render()


def test_tab_after_value_is_fine_but_tab_indent_is_not() -> None:
    assert check("slug:\tok\nsteps:\n  - slug: s\n    handler: m.n:f\n").ok
    report = check("slug: x\nsteps:\n  - slug: s\n  \t  handler: m.n:f\n")
    assert codes(report) == [("PGF115", 4, 3)]


def test_duplicate_key_hint_names_first_line() -> None:
    diag = only(check("slug: a\nsteps: [{slug: s, handler: m.n:f}]\nslug: b\n"), "PGF116")
    assert diag.hint is not None and "line 1" in diag.hint


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("slug: a\nsteps: [{slug: s, handler: m.n:f, yes: 1}]\n", "boolean"),
        ("slug: a\nsteps: [{slug: s, handler: m.n:f, 3: 1}]\n", "integer"),
        ("slug: a\nsteps: [{slug: s, handler: m.n:f, 1.5: 1}]\n", "number"),
        ("slug: a\nsteps: [{slug: s, handler: m.n:f, [x]: 1}]\n", "plain string"),
    ],
)
def test_non_string_keys(text: str, word: str) -> None:
    diag = only(check(text), "PGF117")
    assert word in f"{diag.message} {diag.hint}"


def test_aliases_are_expanded_once() -> None:
    report = check(
        """
        slug: a
        steps:
          - slug: s
            handler: m.n:f
            if: &cond {run: {ok: true}}
          - slug: t
            handler: m.n:g
            depends_on: [s]
            if_not: *cond
        """
    )
    assert report.ok, report.render()
    assert report.flows[0].steps[1].if_not == {"run": {"ok": True}}


def test_billion_laughs_stays_small() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    report = check("\n".join(lines) + "\n")
    assert {d.code for d in report.diagnostics} <= {"PGF201", "PGF202"}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2020-01-01", "PGF122"),
        ("2020-01-01 10:00:00", "PGF122"),
        (".inf", "PGF122"),
        ("-.Inf", "PGF122"),
        ("!custom 3", "PGF122"),
        ("!!omap [a: 1]", "PGF122"),
    ],
)
def test_values_json_cannot_hold(value: str, code: str) -> None:
    report = check(f"slug: a\nsteps:\n  - slug: s\n    handler: m.n:f\n    if: {{x: {value}}}\n")
    assert [d.code for d in report.diagnostics] == [code], report.render()
    assert report.diagnostics[0].line == 5


def test_yaml_numbers_are_read_like_pyyaml() -> None:
    report = check("slug: a\ntimeout: 0x10\nsteps:\n  - slug: s\n    handler: m.n:f\n")
    assert report.ok
    assert report.flows[0].timeout == 16


def test_yaml_syntax_error_is_positioned() -> None:
    report = check("slug: a\nsteps:\n  - slug: 'open\n")
    assert [d.code for d in report.diagnostics] == ["PGF112"]
    assert report.diagnostics[0].line == 4


def test_toml_syntax_error_is_positioned() -> None:
    report = check('slug = "a"\n[[steps]\n', "f.toml")
    assert codes(report) == [("PGF113", 2, 8)]


def test_toml_non_json_values() -> None:
    report = check(
        'slug = "a"\n[[steps]]\nslug = "s"\nhandler = "m.n:f"\nif = { at = 10:30:00, x = nan }\n',
        "f.toml",
    )
    assert [(d.code, d.line) for d in report.diagnostics] == [("PGF122", 5), ("PGF122", 5)]


def test_span_of_unparsed_document_defaults_to_start() -> None:
    doc, _ = load("{broken", "yaml")
    assert doc.span(("slug",)) == Span("f.yaml", 1, 1)


TRICKY_TOML = """\
# c
[ input_schema ]
"a.b" = 'x # not a comment ]'
c = \"\"\"multi
line " "" with \\\"\"\" escaped\"\"\"
d = '''lit '' x'''
e = [ { x = 1, y = [ "]", 2 ] }, # comment "with quote
  3 ]
[[ steps ]]
slug = "s"  # trailing
[steps.nested."q.k"]
z = 1
[[steps]]
slug = "t"
"""


def test_toml_locator_survives_strings_comments_and_nesting() -> None:
    values, keys = locate_toml(TRICKY_TOML)
    lines = TRICKY_TOML.split("\n")

    def text(path: tuple) -> str:  # type: ignore[type-arg]
        line, col, end_line, end_col = values[path]
        assert line == end_line
        return lines[line - 1][col - 1 : end_col - 1]

    assert text(("input_schema", "a.b")) == "'x # not a comment ]'"
    assert values[("input_schema", "c")][:3] == (4, 5, 5)
    assert text(("input_schema", "d")) == "'''lit '' x'''"
    assert text(("input_schema", "e", 0, "y", 0)) == '"]"'
    assert text(("input_schema", "e", 1)) == "3"
    assert text(("steps", 0, "slug")) == '"s"'
    assert text(("steps", 0, "nested", "q.k", "z")) == "1"
    assert text(("steps", 1, "slug")) == '"t"'
    assert keys[("input_schema", "a.b")] == (3, 1, 3, 6)


# Property: for TOML written in any of several styles, every scalar's span holds exactly the
# text of that value.

toml_scalars = (
    st.integers(-(10**6), 10**6)
    | st.booleans()
    | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=8,
)


def _toml_value(value: object, style: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if style % 2 and "'" not in value and "\n" not in value:
            return f"'{value}'"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        sep = ",\n  " if style % 3 == 0 else ", "
        return "[" + sep.join(_toml_value(v, style) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{k} = {_toml_value(v, style)}" for k, v in value.items()) + "}"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["slug", "if", "x"]), toml_values), max_size=3))
def test_toml_spans_hold_their_values(steps: list[dict[str, object]]) -> None:
    import tomllib

    text = 'slug = "f"  # comment\n'
    for n, step in enumerate(steps):
        text += "\n[[steps]]\n" + "".join(f"{k} = {_toml_value(v, n)}\n" for k, v in step.items())
    data = tomllib.loads(text)
    values, _ = locate_toml(text)
    lines = text.split("\n")

    def walk(value: object, path: tuple) -> None:  # type: ignore[type-arg]
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        else:
            line, col, end_line, end_col = values[path]
            assert line == end_line
            source = lines[line - 1][col - 1 : end_col - 1]
            assert tomllib.loads(f"v = {source}")["v"] == value

    walk(data, ())


yaml_values = st.recursive(
    st.integers(-(10**6), 10**6)
    | st.booleans()
    | st.none()
    | st.text(st.characters(codec="ascii", blacklist_categories=("Cc",)), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["slug", "steps", "x"]), yaml_values), st.booleans())
@example(data={"slug": {"no": None}}, flow_style=False)  # YAML 1.1 booleans: dumped quoted
@example(data={"slug": {"on": 1, "y": [True]}}, flow_style=True)
def test_yaml_spans_hold_their_values(data: dict[str, object], flow_style: bool) -> None:
    """A key's span holds the key as written (a word YAML 1.1 reads as a boolean is quoted,
    and the span covers the quotes, like a quoted value's), a value's span its value."""
    import yaml

    text = yaml.safe_dump(data, default_flow_style=flow_style, width=10_000)
    doc, diagnostics = load(text)
    assert diagnostics == [] or data == {}
    lines = text.split("\n")

    def walk(value: object, path: tuple) -> None:  # type: ignore[type-arg]
        if isinstance(value, dict):
            for k, v in value.items():
                key = doc.span((*path, k), key=True)
                written = lines[key.line - 1][key.col - 1 : key.end_col - 1]  # type: ignore[operator]
                assert written.strip("'") == k
                assert yaml.safe_load(written) == k
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        elif value is not None:
            span = doc.span(path)
            assert span.line == span.end_line
            source = lines[span.line - 1][span.col - 1 : span.end_col - 1]  # type: ignore[operator]
            assert yaml.safe_load(source) == value

    walk(data, ())
