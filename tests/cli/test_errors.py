"""User errors: a clear message, a non-zero exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from haven.cli import app

from cli_helpers import Invoke, assert_fails, assert_ok


def test_every_command_has_help(haven: Invoke) -> None:
    commands = [["init"], ["serve"], ["import"], ["export"], ["stats"], ["backup"], ["restore"],
                ["db"], ["db", "current"], ["db", "upgrade"], ["db", "downgrade"]]
    for command in commands:
        result = haven(*command, "--help")
        assert_ok(result)
        assert "Usage" in result.output
        if command != ["db"]:
            assert "--database" in result.output, command
    assert_ok(haven("--help"))
    assert_ok(haven("--version"))
    assert app.info.name == "haven"


def test_missing_database_points_to_init(haven: Invoke) -> None:
    assert_fails(haven("stats"), 1, "haven init")


def test_unknown_galaxy_is_named(haven: Invoke) -> None:
    assert_ok(haven("init", "--no-demo"))
    assert_fails(haven("stats", "--galaxy", "Nowhere"), 1, "Nowhere")


def test_empty_galaxy_name(haven: Invoke, db_path: Path) -> None:
    assert_fails(haven("init", "--galaxy", "  "), 1, "galaxy")


@pytest.mark.parametrize("url, why", [("sqlite://two-slashes.db", "three slashes"),
                                      ("mysql://host/db", "'mysql'"),
                                      ("sqlite:///", "names no file")])
def test_malformed_database_url_is_usage_error(haven: Invoke, url: str, why: str) -> None:
    assert_fails(haven("stats", "--database", url), 2, "--database", why)


def test_postgresql_is_not_available_yet(haven: Invoke) -> None:
    assert_fails(haven("stats", "--database", "postgresql://localhost/haven"), 1, "postgresql")


def test_not_a_database_file(haven: Invoke, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("hello\n" * 200)
    assert_fails(haven("stats", "--database", junk), 1, str(junk))


def test_bad_synchronous_setting(haven: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_ok(haven("init", "--no-demo"))
    monkeypatch.setenv("HAVEN_SQLITE_SYNCHRONOUS", "sometimes")
    assert_fails(haven("stats"), 2, "HAVEN_SQLITE_SYNCHRONOUS")


@pytest.mark.parametrize("variable", ["HAVEN_WORKER_THREADS", "HAVEN_CACHE_MIB"])
@pytest.mark.parametrize("value", ["0", "-3", "many", "1.5"])
def test_bad_server_setting_is_refused_before_serving(haven: Invoke, monkeypatch: pytest.MonkeyPatch,
                                                      db_path: Path, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    assert_fails(haven("serve"), 2, variable)
    assert not db_path.exists()  # refused before the database is created or upgraded


def test_usage_errors_exit_2(haven: Invoke, tmp_path: Path) -> None:
    assert_fails(haven("frobnicate"), 2)
    assert_fails(haven("serve", "--port", "70000"), 2)
    assert_fails(haven("import", tmp_path / "missing.json"), 2, "does not exist")
    assert_fails(haven("import", tmp_path), 2)
    data = tmp_path / "x.json"
    data.write_text("{}")
    assert_fails(haven("import", data, "--on-conflict", "merge"), 2, "merge")
    # a seed must fit the 63 bits procgen uses: refused before any work, like a negative one
    for seed in ("-1", str(2**63), "99999999999999999999999"):
        assert_fails(haven("generate", "--systems", "10", "--seed", seed), 2, "--seed")
    assert not list(tmp_path.glob("*.db"))


def test_an_errors_notes_are_printed_under_it(capsys: pytest.CaptureFixture[str]) -> None:
    """What a bulk load adds when it stops (systems already stored) reaches the user."""
    from haven.cli.app import print_error
    from haven.errors import InvalidInput

    exc = InvalidInput("line 9: name: 'A' already exists; nothing of this batch was written", field="name")
    exc.add_note("the 8 systems of the batches before it are stored (and on the map)")
    print_error(exc)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("Error: line 9: name:")
    assert lines[1] == "  the 8 systems of the batches before it are stored (and on the map)"


def test_ctrl_c_during_an_import_says_nothing_was_imported(haven: Invoke, db_path: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from haven.ingest import legacy

    assert_ok(haven("init"))
    exported = tmp_path / "demo.json"
    assert_ok(haven("export", "-o", exported))
    real_import = legacy.import_file
    stages: list[str] = []

    def import_until_writing(*args, progress, **kwargs):
        def interrupt_while_writing(stage: str, done: int, total: int) -> None:
            stages.append(stage)
            if stage == "writing" and done:
                raise KeyboardInterrupt  # what Ctrl-C raises, halfway through the write
            progress(stage, done, total)

        return real_import(*args, progress=interrupt_while_writing, **kwargs)

    monkeypatch.setattr(legacy, "import_file", import_until_writing)
    result = haven("import", exported, "--galaxy", "Copy")
    assert_fails(result, 130, "Interrupted.", "nothing of it was imported")
    assert "writing" in stages
    assert_fails(haven("stats", "--galaxy", "Copy"), 1, "Copy")  # no galaxy, no systems left behind
