"""How the service reaches Redis: one of plain, Sentinel or Cluster, with ACL user and TLS."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.sentinel import SentinelConnectionPool

from service.cluster_client import ScriptedCluster
from service.config import Settings
from service.connection import connect, disconnect, tls_options

TOKEN = "unit-test-token-0123456789"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, api_token=TOKEN, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"redis_sentinels": "s:26379"}, "REDIS_SENTINELS"),
        ({"redis_url": "redis://r:6379/0"}, "REDIS_URL"),
        ({"redis_host": "r"}, "REDIS_HOST"),
    ],
)
def test_cluster_nodes_exclude_every_other_way_to_redis(values: dict[str, str], named: str) -> None:
    clash = f"REDIS_CLUSTER_NODES cannot be combined with {named}"
    with pytest.raises(ValidationError, match=clash):
        settings(redis_cluster_nodes="a:7000,b:7001", **values)


def test_a_cluster_has_only_database_zero() -> None:
    with pytest.raises(ValidationError, match="REDIS_DB must be 0"):
        settings(redis_cluster_nodes="a:7000", redis_db=1)


def test_cluster_nodes_are_host_port_pairs() -> None:
    with pytest.raises(ValidationError):
        settings(redis_cluster_nodes="a:7000,b")
    assert settings(redis_cluster_nodes="a:7000,b:7001").cluster_addresses() == [
        ("a", 7000),
        ("b", 7001),
    ]


def test_partitions_default_to_sixteen_on_a_cluster_and_one_elsewhere() -> None:
    """Unset (or empty in a .env file), REDIS_PARTITIONS spreads the schedule over a
    Cluster's primaries and keeps one Redis or Sentinel at a single partition; set, it
    is what it says."""
    cluster = {"redis_cluster_nodes": "a:7000,b:7001,c:7002"}
    assert settings(**cluster).partitions == 16
    assert settings(**cluster, redis_partitions="").partitions == 16
    assert settings(**cluster, redis_partitions=1).partitions == 1
    assert settings().partitions == 1
    assert settings(redis_sentinels="s:26379").partitions == 1
    assert settings(redis_partitions=4).partitions == 4
    with pytest.raises(ValidationError):
        settings(redis_partitions=0)


def test_cluster_nodes_mean_no_embedded_server() -> None:
    assert settings().embedded_redis
    assert not settings(redis_cluster_nodes="a:7000").embedded_redis


def test_tls_contradicting_the_url_scheme_is_refused() -> None:
    with pytest.raises(ValidationError, match="use rediss://"):
        settings(redis_url="redis://r:6379/0", redis_tls=True)
    assert settings(redis_url="rediss://r:6379/0").tls_enabled
    assert settings(redis_url="rediss://r:6379/0", redis_tls=True).tls_enabled


def test_a_ca_file_needs_tls_and_must_exist(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with pytest.raises(ValidationError, match="is not a file"):
        settings(redis_host="r", redis_tls=True, redis_tls_ca_file=str(ca))
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ValidationError, match="needs REDIS_TLS=true"):
        settings(redis_host="r", redis_tls_ca_file=str(ca))
    chosen = settings(redis_host="r", redis_tls=True, redis_tls_ca_file=str(ca))
    assert tls_options(chosen) == {"ssl_cert_reqs": "required", "ssl_ca_certs": str(ca)}


def test_no_tls_means_no_tls_arguments() -> None:
    assert tls_options(settings(redis_host="r")) == {}


def test_user_password_and_tls_make_the_url_by_parts() -> None:
    chosen = settings(
        redis_host="r", redis_username="scheduler", redis_password="p@ss:word", redis_tls=True
    )
    assert chosen.redis_dsn() == "rediss://scheduler:p%40ss%3Aword@r:6379/0"
    assert settings(redis_host="r", redis_username="u").redis_dsn() == "redis://u@r:6379/0"
    assert settings(redis_host="r", redis_password="p").redis_dsn() == "redis://:p@r:6379/0"


def test_the_username_and_password_are_not_in_the_settings_repr() -> None:
    chosen = settings(redis_host="r", redis_username="u", redis_password="very-secret")
    assert "very-secret" not in repr(chosen)


async def _built(chosen: Settings) -> Redis:
    client = connect(chosen)  # nothing is connected until the first command
    await disconnect(client)
    return client


def test_each_mode_builds_its_client() -> None:
    cluster = asyncio.run(_built(settings(redis_cluster_nodes="127.0.0.1:7000")))
    assert isinstance(cluster, ScriptedCluster)
    sentinel = asyncio.run(_built(settings(redis_sentinels="127.0.0.1:26379")))
    assert isinstance(sentinel.connection_pool, SentinelConnectionPool)
    plain = asyncio.run(_built(settings(redis_host="127.0.0.1", redis_username="u")))
    assert plain.connection_pool.connection_kwargs["username"] == "u"


def test_a_cluster_client_speaks_tls_with_the_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    chosen = settings(redis_cluster_nodes="127.0.0.1:7000", redis_tls=True, redis_tls_ca_file=ca)
    client = asyncio.run(_built(chosen))
    assert client.connection_kwargs["ssl_ca_certs"] == str(ca)
    assert "SSL" in client.connection_kwargs["connection_class"].__name__


def test_sentinel_mode_carries_the_user_and_tls_to_master_and_sentinels(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    chosen = settings(
        redis_sentinels="127.0.0.1:26379",
        redis_username="scheduler",
        redis_password="pw-0123",
        redis_tls=True,
        redis_tls_ca_file=ca,
    )
    client = asyncio.run(_built(chosen))
    master = client.connection_pool
    assert master.connection_kwargs["username"] == "scheduler"
    assert master.connection_kwargs["ssl_ca_certs"] == str(ca)
    assert "SSL" in master.connection_class.__name__
    sentinel = master.sentinel_manager.sentinels[0].connection_pool
    assert sentinel.connection_kwargs["ssl_ca_certs"] == str(ca)
    assert "SSL" in sentinel.connection_class.__name__
