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


def service_env(pki, issuer, name: str, **extra: str) -> dict:
    return {"DATABASE_URL": "postgresql://u@/db", **pki.env(name), **issuer.env(), **extra}


def test_orders_reads_its_own_settings_with_the_common_ones(pki, issuer):
    from services.orders.app import Settings

    settings = Settings.from_env(service_env(pki, issuer, "orders", CATALOG_ADDR="catalog:50052",
                                             RECOVERY_INTERVAL_SECONDS="0.2"))
    assert settings.common.server.listen_addr == "127.0.0.1:50053"
    assert (settings.customers_addr, settings.catalog_addr) == ("127.0.0.1:50051", "catalog:50052")
    assert (settings.request_budget, settings.recovery_interval, settings.recovery_grace) == (5.0, 0.2, 5.0)
    assert settings.recovery  # on unless a test turns it off (no variable does)
    assert settings.common.auth.issuer == issuer.issuer


@pytest.mark.parametrize("app", ["customers", "catalog", "orders"])
def test_every_service_reads_the_common_settings_and_names_a_wrong_one(app, pki, issuer):
    import importlib

    module = importlib.import_module(f"services.{app}.app")
    assert module.APP.read_settings(service_env(pki, issuer, app)).common.tls.trust_domain == "recordstore.local"
    for wrong in ({"DB_POOL_SIZE": "many"}, {"AUTH_ISSUER": ""}, {"TLS_CA_FILE": "/nonexistent/ca.pem"}):
        with pytest.raises(ConfigError, match=next(iter(wrong))):
            module.APP.read_settings(service_env(pki, issuer, app, **wrong))
