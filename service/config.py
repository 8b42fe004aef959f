"""Settings: the one place configuration is read, from the environment and `.env`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .egress import EgressPolicy
from .signing import decode_secrets

# `host:port,host:port`: Sentinels or Cluster seed nodes.
_ADDRESSES = r"^[^\s,:]+:\d{1,5}(,[^\s,:]+:\d{1,5})*$"

# REDIS_PARTITIONS unset on a Redis Cluster: two or more partitions per primary for 3 to 8
# primaries, so that resharding can move whole partitions (docs/deploy.md).
CLUSTER_PARTITIONS = 16

# Values people paste from examples; starting with one of them would leave the API open.
_PLACEHOLDER_TOKENS = frozenset({"your-secret-token-here", "changeme", "change-me", "secret"})


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class WebhookTransport(StrEnum):
    AIOHTTP = "aiohttp"
    HTTPX = "httpx"
    HTTPX_AIOHTTP = "httpx-aiohttp"


Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Every setting of the service; built once at start-up and passed down."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    api_token: SecretStr = Field(description="Bearer token every protected endpoint requires.")
    api_host: str = "0.0.0.0"
    api_port: int = Field(default=8000, ge=1, le=65535)

    redis_url: SecretStr | None = Field(
        default=None, description="redis:// or rediss:// URL; wins over REDIS_HOST/PORT."
    )
    redis_host: str | None = None
    redis_port: int = Field(default=6379, ge=1, le=65535)
    redis_username: str | None = Field(
        default=None, description="ACL user (Redis 6+); with REDIS_PASSWORD, in every mode."
    )
    redis_password: SecretStr | None = None
    redis_db: int = Field(default=0, ge=0)
    redis_sentinels: str | None = Field(
        default=None,
        description="host:port,host:port of Redis Sentinels; when set, the master is found there.",
        pattern=_ADDRESSES,
    )
    redis_sentinel_master: str = "mymaster"
    redis_cluster_nodes: str | None = Field(
        default=None,
        description="host:port,host:port of Redis Cluster nodes to discover the cluster from.",
        pattern=_ADDRESSES,
    )
    redis_tls: bool = Field(
        default=False, description="TLS to Redis (and to Sentinels) in every mode."
    )
    redis_tls_ca_file: Path | None = Field(
        default=None, description="PEM file of the CA that signed Redis's certificate."
    )
    redis_key_prefix: str = Field(default="scheduler", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    redis_timeout_seconds: Seconds = 2.0
    # How many partitions (hash tags) the schedule is split into; unset, the default for
    # the Redis in use (`partitions`). Recorded in Redis at the first start: a later start
    # with another count refuses (messages would be looked for in the wrong partition).
    redis_partitions: int | None = Field(default=None, ge=1, le=1024)
    data_dir: Path = Path("data")

    delivery_timeout_seconds: Seconds = 10.0
    delivery_concurrency: int = Field(default=64, ge=1, le=10_000)
    delivery_max_attempts: int = Field(default=10, ge=1, le=100)
    delivery_backoff_base_seconds: Seconds = 1.0
    delivery_backoff_max_seconds: Seconds = 600.0
    claim_timeout_seconds: Seconds = 60.0
    max_payload_bytes: int = Field(default=1_048_576, ge=1024)
    # The API must read back whatever it accepts, and its JSON models stop at about 250.
    max_payload_depth: int = Field(default=64, ge=1, le=200)
    max_pending_messages: int = Field(default=0, ge=0)
    max_pending_bytes: int = Field(default=0, ge=0)
    webhook_deny_networks: str = "default"
    webhook_allow_networks: str = ""
    webhook_signing_secret: SecretStr | None = None
    webhook_transport: WebhookTransport = WebhookTransport.AIOHTTP

    leader_lease_seconds: Seconds = 10.0
    shutdown_grace_seconds: Seconds = 20.0
    # Kubernetes removes a terminating pod from its Service endpoints asynchronously, so
    # requests keep arriving for a few seconds after SIGTERM; see runtime.py.
    shutdown_delay_seconds: float = Field(default=5.0, ge=0, le=300)
    dead_letter_retention_seconds: Seconds = 7 * 24 * 3600.0
    # What is kept of finished messages (GET /messages/{id} after the end): 0 keeps none.
    history_retention_seconds: float = Field(default=86_400.0, ge=0)
    history_max_messages: int = Field(default=100_000, ge=0)

    metrics_token: SecretStr | None = None
    docs_enabled: bool = True
    # The web console at /console (static files; every call it makes needs the token).
    console_enabled: bool = True
    # The agent tools at /mcp (Model Context Protocol), behind the same token as the API.
    mcp_enabled: bool = True
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = Field(default="INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")

    @field_validator("api_token")
    @classmethod
    def _token_is_real(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if len(token) < 8 or token.lower() in _PLACEHOLDER_TOKENS:
            raise ValueError(
                "API_TOKEN must be a real secret of at least 8 characters, not a placeholder"
            )
        return value

    @field_validator(
        "redis_url",
        "redis_host",
        "redis_sentinels",
        "redis_cluster_nodes",
        "redis_partitions",
        "redis_username",
        "redis_password",
        "redis_tls_ca_file",
        "webhook_signing_secret",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # .env files say `REDIS_PASSWORD=` (empty) to mean "none", as the original did.
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("webhook_signing_secret")
    @classmethod
    def _secret_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_secrets(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _egress_parses(self) -> Self:
        self.egress_policy()
        return self

    @model_validator(mode="after")
    def _claims_outlive_deliveries(self) -> Self:
        if self.claim_timeout_seconds <= self.delivery_timeout_seconds:
            raise ValueError(
                "CLAIM_TIMEOUT_SECONDS must be greater than DELIVERY_TIMEOUT_SECONDS, "
                "or a slow delivery would be handed to a second replica while it runs"
            )
        if self.delivery_backoff_max_seconds < self.delivery_backoff_base_seconds:
            raise ValueError(
                "DELIVERY_BACKOFF_MAX_SECONDS must not be below DELIVERY_BACKOFF_BASE_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _one_way_to_redis(self) -> Self:
        """Plain, Sentinel and Cluster exclude each other; say which settings clash."""
        if self.redis_cluster_nodes:
            clash = [
                name
                for name, value in (
                    ("REDIS_SENTINELS", self.redis_sentinels),
                    ("REDIS_URL", self.redis_url),
                    ("REDIS_HOST", self.redis_host),
                )
                if value
            ]
            if clash:
                raise ValueError(
                    f"REDIS_CLUSTER_NODES cannot be combined with {', '.join(clash)}: "
                    "set one way to reach Redis"
                )
            if self.redis_db:
                raise ValueError("REDIS_DB must be 0 with REDIS_CLUSTER_NODES: a Cluster has one")
        url = self.redis_url.get_secret_value() if self.redis_url else ""
        if self.redis_tls and url.startswith(("redis://", "unix://")):
            raise ValueError(
                "REDIS_TLS=true contradicts a redis:// or unix:// REDIS_URL; use rediss://"
            )
        if self.redis_tls_ca_file is not None:
            if not self.tls_enabled:
                raise ValueError("REDIS_TLS_CA_FILE needs REDIS_TLS=true or a rediss:// REDIS_URL")
            if not self.redis_tls_ca_file.is_file():
                raise ValueError(f"REDIS_TLS_CA_FILE {self.redis_tls_ca_file} is not a file")
        return self

    @property
    def tls_enabled(self) -> bool:
        """True when Redis is reached over TLS: REDIS_TLS=true or a rediss:// REDIS_URL."""
        url = self.redis_url.get_secret_value() if self.redis_url else ""
        return self.redis_tls or url.startswith("rediss://")

    def egress_policy(self) -> EgressPolicy:
        """WEBHOOK_DENY_NETWORKS and WEBHOOK_ALLOW_NETWORKS, parsed (ValueError if invalid)."""
        return EgressPolicy.from_settings(self.webhook_deny_networks, self.webhook_allow_networks)

    @property
    def embedded_redis(self) -> bool:
        """True when no Redis is configured, so the run command starts its own."""
        return (
            self.redis_url is None
            and not self.redis_host
            and not self.redis_sentinels
            and not self.redis_cluster_nodes
        )

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """REDIS_SENTINELS as (host, port) pairs; empty when Sentinel is not used."""
        return _pairs(self.redis_sentinels)

    @property
    def partitions(self) -> int:
        """REDIS_PARTITIONS, else 16 on a Redis Cluster (its primaries share the partitions
        out: with one, the whole schedule would be one slot on one primary) and 1 on one
        Redis or Sentinel (where a partition more is work and no capacity)."""
        if self.redis_partitions is not None:
            return self.redis_partitions
        return CLUSTER_PARTITIONS if self.redis_cluster_nodes else 1

    def cluster_addresses(self) -> list[tuple[str, int]]:
        """REDIS_CLUSTER_NODES as (host, port) pairs; empty when Cluster is not used."""
        return _pairs(self.redis_cluster_nodes)

    def redis_dsn(self) -> str:
        """The connection URL, built from REDIS_URL or from host, port, password and db."""
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        auth = ""
        if self.redis_password is not None:
            user = quote(self.redis_username or "", safe="")
            auth = f"{user}:{quote(self.redis_password.get_secret_value(), safe='')}@"
        elif self.redis_username:
            auth = f"{quote(self.redis_username, safe='')}@"
        scheme = "rediss" if self.redis_tls else "redis"
        host = self.redis_host or "127.0.0.1"
        return f"{scheme}://{auth}{host}:{self.redis_port}/{self.redis_db}"


def _pairs(addresses: str | None) -> list[tuple[str, int]]:
    """`host:port,host:port` as (host, port) pairs (the field's pattern checked the form)."""
    if not addresses:
        return []
    pairs = (entry.rsplit(":", 1) for entry in addresses.split(","))
    return [(host, int(port)) for host, port in pairs]
