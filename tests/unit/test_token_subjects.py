"""The token commands mint no token whose subject the gateway and the services would refuse."""

from __future__ import annotations

import pytest

from devstack import compose_init, token


@pytest.mark.parametrize("argv", [["--customer", "   "], ["--customer", ""], ["--customer", "ana\n"],
                                  ["--customer", " ana"], ["--customer", "a" * 256], ["--customer", "José"],
                                  ["--staff", "boss "]])
def test_the_token_commands_refuse_a_subject_the_services_refuse(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        token.main([*argv, "--data-dir", str(tmp_path / "postgres")])
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as refused:
        compose_init.mint(argv, tmp_path / "credentials", env={})
    assert refused.value.code == 2
    assert "subject" in capsys.readouterr().err
    assert not (tmp_path / "postgres").exists()  # refused before any key was made
