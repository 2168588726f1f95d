from pathlib import Path

from typer.testing import CliRunner


def test_distill_is_registered_and_checks_the_model_folder(tmp_path: Path) -> None:
    from kdcvg.cli import app

    runner = CliRunner()
    missing = tmp_path / "no-model"
    result = runner.invoke(app, ["generate", "distill", "--clip", "c1", "--model", str(missing),
                                 "--db", str(tmp_path / "ackb")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    help_text = runner.invoke(app, ["generate", "distill", "--help"]).output
    assert "--steps" in help_text and "--rank" in help_text and "--neo4j" in help_text
