import stat

from devstack.secrets import shared_env


def test_one_secret_for_every_service_made_once_and_private(tmp_path):
    first = shared_env(tmp_path / "data", ["customers", "catalog", "orders"], env={})
    values = {env["PAGE_TOKEN_SECRET"] for env in first.values()}
    assert set(first) == {"customers", "catalog", "orders"} and len(values) == 1
    (value,) = values
    assert len(value.encode()) >= 32
    path = tmp_path / "data" / "page-token-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert shared_env(tmp_path / "data", ["orders"], env={}) == {"orders": {"PAGE_TOKEN_SECRET": value}}


def test_a_secret_already_in_the_environment_wins(tmp_path):
    assert shared_env(tmp_path, ["orders"], env={"PAGE_TOKEN_SECRET": "k" * 32}) == {}
    assert not (tmp_path / "page-token-secret").exists()
