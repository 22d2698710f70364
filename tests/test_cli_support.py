"""The helpers every command module shares live below all of them."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from opencwm.cli_support import EXIT_FAILED, fail, read_text


def test_command_modules_do_not_import_the_top_level_cli():
    """`opencwm.cli` registers `debug` and `halt`; they must not import it
    back (a circle), not even inside a function."""
    src = Path(__file__).parents[1] / "src" / "opencwm"
    for path in (src / "debug" / "cli.py", src / "halt" / "cli.py", src / "cli_support.py"):
        imported = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
        }
        assert "opencwm.cli" not in imported, path


def test_shared_helpers_load_no_model_library():
    code = (
        "import sys, opencwm.cli_support, opencwm.debug.cli, opencwm.halt.cli\n"
        "print(sorted(m for m in ('opencwm.cli', 'torch', 'transformers') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_read_text_fails_with_one_line_naming_the_file(tmp_path, capsys):
    with pytest.raises(typer.Exit) as info:
        read_text(tmp_path / "nope.py", "file")
    assert info.value.exit_code == EXIT_FAILED == 2
    assert capsys.readouterr().err == f"error: file {str(tmp_path / 'nope.py')!r} does not exist\n"
    assert fail("x", 3).exit_code == 3
