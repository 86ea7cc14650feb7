"""validate_paths: discovery, every file in one run, exit codes, the model."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from pgflow_yaml.model import FlowSpec
from pgflow_yaml.validate import FlowValidationError, load_flows, validate_paths

REPO = Path(__file__).resolve().parent.parent.parent
EXAMPLES = REPO / "flows_examples"
GOOD = "slug: {slug}\nsteps:\n  - slug: a\n    handler: m.n:f\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("check_handlers", [False, True])
def test_every_example_validates_clean(
    check_handlers: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    report = validate_paths([EXAMPLES], check_handlers=check_handlers)
    assert report.diagnostics == [], report.render()
    assert report.exit_code == 0
    examples = sorted(p for p in EXAMPLES.iterdir() if p.suffix in {".yaml", ".yml", ".toml"})
    assert len(report.flows) == len(examples) >= 3


def test_order_pipeline_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    (flow,) = load_flows(["flows_examples/order_pipeline.yaml"])
    raw = (EXAMPLES / "order_pipeline.yaml").read_bytes()
    assert flow.source_sha256 == hashlib.sha256(raw).hexdigest()
    assert flow.source_path == "flows_examples/order_pipeline.yaml"
    assert (flow.slug, flow.max_attempts, flow.base_delay, flow.timeout) == (
        "order_pipeline",
        3,
        1,
        60,
    )
    assert [s.slug for s in flow.steps] == ["check", "charge", "ship_item", "receipt"]
    check, charge, ship, receipt = flow.steps
    assert check.max_attempts is None and check.timeout is None
    assert (charge.max_attempts, charge.timeout, charge.depends_on) == (5, 30, ("check",))
    assert flow.effective(charge) == (5, 1, 30)
    assert (ship.step_type, ship.map, ship.deps) == ("map", "check", ("check",))
    assert receipt.if_ == {"charge": {"paid": True}}
    assert (receipt.when_unmet, receipt.when_exhausted) == ("skip", "fail")
    assert [s.index for s in flow.steps] == [0, 1, 2, 3]
    assert receipt.span is not None and receipt.span.line == 24
    assert flow.input_schema is not None and flow.input_schema["required"] == ["order_id", "items"]


def test_defaults_resolve_on_the_flow_only(tmp_path: Path) -> None:
    (flow,) = load_flows(
        [write(tmp_path, "f.toml", 'slug = "t"\n[[steps]]\nslug = "a"\nhandler = "m.n:f"\n')]
    )
    assert isinstance(flow, FlowSpec)
    assert (flow.max_attempts, flow.base_delay, flow.timeout) == (3, 1, 60)
    step = flow.steps[0]
    assert (step.max_attempts, step.base_delay, step.timeout, step.start_delay) == (None,) * 4
    assert (step.if_, step.if_not, step.when_unmet, step.when_exhausted) == (None,) * 4


def test_yaml_and_toml_give_the_same_model(tmp_path: Path) -> None:
    yaml_flow = write(
        tmp_path,
        "a/f.yaml",
        "slug: same\ntimeout: 30\nsteps:\n  - slug: a\n    handler: m.n:f\n    map: $input\n"
        "  - slug: b\n    handler: m.n:g\n    depends_on: [a]\n    if: {a: {x: 1}}\n"
        "    when_unmet: skip-cascade\n",
    )
    toml_flow = write(
        tmp_path,
        "b/f.toml",
        'slug = "same"\ntimeout = 30\n[[steps]]\nslug = "a"\nhandler = "m.n:f"\nmap = "$input"\n'
        '[[steps]]\nslug = "b"\nhandler = "m.n:g"\ndepends_on = ["a"]\nif = { a = { x = 1 } }\n'
        'when_unmet = "skip-cascade"\n',
    )
    (a,) = load_flows([yaml_flow])
    (b,) = load_flows([toml_flow])
    assert a == b


def test_all_files_all_problems_in_one_run(tmp_path: Path) -> None:
    write(tmp_path, "one.yaml", "slug: one\nsteps:\n  - slug: a\n    handlr: m.n:f\n")
    write(
        tmp_path,
        "two.yml",
        "slug: two\nsteps:\n  - slug: a\n    handler: m.n:f\n    depends_on: [zz]\n",
    )
    write(tmp_path, "sub/three.toml", 'slug = "three"\n[[steps]]\nslug = "a"\nhandler = "m.n:f"\n')
    write(tmp_path, "notes.txt", "not a flow")
    report = validate_paths([tmp_path])
    assert sorted(os.path.basename(f) for f in report.files) == [
        "one.yaml",
        "three.toml",
        "two.yml",
    ]
    assert sorted(d.code for d in report.diagnostics) == ["PGF201", "PGF202", "PGF302"]
    assert [f.slug for f in report.flows] == ["three"]
    assert report.exit_code == 1
    assert report.summary() == "3 files checked, 3 errors in 2 files"


def test_hidden_folders_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, ".venv/bad.yaml", "nonsense: [")
    write(tmp_path, "good.yaml", GOOD.format(slug="good"))
    assert validate_paths([tmp_path]).ok


def test_duplicate_flow_slugs_across_files_ignore_case(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", GOOD.format(slug="Orders"))
    second = write(
        tmp_path, "b.toml", 'slug = "orders"\n[[steps]]\nslug = "a"\nhandler = "m.n:f"\n'
    )
    report = validate_paths([first, second])
    (diag,) = report.diagnostics
    assert (diag.code, diag.file, diag.line, diag.col) == ("PGF306", str(second), 1, 8)
    assert str(first) in diag.message and "pgmq" in (diag.hint or "")
    assert [f.slug for f in report.flows] == ["Orders"]


def test_same_file_twice_is_checked_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", GOOD.format(slug="once"))
    report = validate_paths([path, tmp_path, str(path)])
    assert report.ok and len(report.files) == 1


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("missing", "PGF101"),
        ("wrong_suffix", "PGF104"),
        ("empty_folder", "PGF105"),
        ("folder_named_yaml", "PGF103"),
    ],
)
def test_io_problems_exit_2(tmp_path: Path, setup: str, code: str) -> None:
    target: Path = tmp_path / "nope.yaml"
    if setup == "wrong_suffix":
        target = write(tmp_path, "flow.json", "{}")
    elif setup == "empty_folder":
        target = tmp_path / "empty"
        target.mkdir()
    elif setup == "folder_named_yaml":
        (tmp_path / "x.yaml").mkdir()
        write(tmp_path, "ok.yaml", GOOD.format(slug="ok"))
        target = tmp_path
    report = validate_paths([target, write(tmp_path, "fine.yml", GOOD.format(slug="fine"))])
    assert code in [d.code for d in report.diagnostics]
    assert report.exit_code == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "locked.yaml", GOOD.format(slug="locked"))
    path.chmod(0)
    report = validate_paths([path])
    assert [d.code for d in report.diagnostics] == ["PGF102"]
    assert report.exit_code == 2


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    report = validate_paths([fifo])
    assert [d.code for d in report.diagnostics] == ["PGF103"]
    assert report.exit_code == 2


def test_load_flows_raises_with_the_rendered_report(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "slug: bad\nsteps: []\n")
    with pytest.raises(FlowValidationError) as info:
        load_flows([path])
    assert "error[PGF205]" in str(info.value)
    assert info.value.report.exit_code == 1


def test_examples_copied_elsewhere_validate_with_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # handlers resolve from the flow file's own folder, whatever the current directory
    shutil.copytree(EXAMPLES, tmp_path / "flows")
    monkeypatch.chdir(tmp_path)
    report = validate_paths([tmp_path / "flows" / "hello.yaml"], check_handlers=True)
    assert report.ok, report.render()


def test_unreadable_file_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "locked.yaml", GOOD.format(slug="locked"))

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    report = validate_paths([path])
    assert [(d.code, d.message) for d in report.diagnostics] == [
        ("PGF102", "cannot read the file: Permission denied")
    ]
    assert report.exit_code == 2
