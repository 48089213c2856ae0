import pytest

from services.runtime.config import ConfigError, ServerSettings, address, database_url, positive_int, seconds


def test_defaults_apply_when_unset():
    settings = ServerSettings.from_env("127.0.0.1:50052", env={"DATABASE_URL": "postgresql://u@/db"})
    assert settings.listen_addr == "127.0.0.1:50052"
    assert settings.pool_size == 16 and settings.grace_seconds == 10.0


@pytest.mark.parametrize("check, env", [
    (lambda env: address("CATALOG_ADDR", None, env), {}),
    (lambda env: address("CATALOG_ADDR", None, env), {"CATALOG_ADDR": "catalog"}),
    (lambda env: address("CATALOG_ADDR", None, env), {"CATALOG_ADDR": "catalog:http"}),
    (lambda env: database_url("DATABASE_URL", env), {"DATABASE_URL": "sqlite:///x"}),
    (lambda env: positive_int("DB_POOL_SIZE", 4, env), {"DB_POOL_SIZE": "0"}),
    (lambda env: seconds("SHUTDOWN_GRACE_SECONDS", 1.0, env), {"SHUTDOWN_GRACE_SECONDS": "soon"}),
])
def test_a_wrong_value_names_its_variable(check, env):
    with pytest.raises(ConfigError) as caught:
        check(env)
    name = next(iter(env), "CATALOG_ADDR")
    assert name in str(caught.value)


def test_addresses_accept_hostnames_and_ipv6():
    assert address("X", None, {"X": "catalog:50052"}) == "catalog:50052"
    assert address("X", None, {"X": "[::1]:50052"}) == "[::1]:50052"
