"""`python -m devstack token` signs with the key of an existing stack, or refuses: a key made for a
data directory no stack runs on would sign tokens that every service answers 401."""

from __future__ import annotations

import json

import jwt
import pytest

from devstack import token
from devstack.credentials import issuer_in


def test_a_data_directory_without_a_stack_is_refused_naming_where_it_looked(tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        token.main(["--staff", "--data-dir", str(tmp_path / "elsewhere" / "postgres")])
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert f"no stack's signing key in {tmp_path / 'elsewhere' / 'auth'}" in error
    assert not (tmp_path / "elsewhere").exists()  # nothing made


def test_the_token_is_signed_by_the_stacks_own_key(tmp_path, capsys):
    data_dir = tmp_path / "postgres"
    issuer = issuer_in(data_dir).ensure()  # what scripts/run makes on its first start
    assert token.main(["--customer", "ana", "--ttl", "60", "--data-dir", str(data_dir)]) == 0
    minted = capsys.readouterr().out.strip()
    keys = jwt.PyJWKSet.from_dict(json.loads(issuer.jwks_path.read_text()))
    claims = jwt.decode(minted, keys[jwt.get_unverified_header(minted)["kid"]].key, algorithms=["ES256"],
                        audience=issuer.audience, issuer=issuer.issuer)
    assert (claims["sub"], claims["roles"], claims["exp"] - claims["iat"]) == ("ana", ["customer"], 60)


def test_help_says_where_the_key_is(capsys):
    with pytest.raises(SystemExit):
        token.main(["--help"])
    assert "<parent>/auth" in capsys.readouterr().out
