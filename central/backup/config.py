"""pgBackRest's configuration for central's cluster, made from settings (a YAML file).

Two S3 repositories (repo1, repo2: other buckets, other regions), each encrypted with its own passphrase
(aes-256-cbc). The secrets (S3 keys, passphrases) are read from files named in the settings and written only
into the generated pgbackrest.conf, which is made readable by its owner alone: `archive_command` (run by
PostgreSQL) needs them. pgBackRest itself shows them as <redacted> in its logs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

WAL_QUEUE_MAX = "1GiB"  # pgBackRest drops (and logs) WAL past this while a repository is unreachable


class BackupConfigError(ValueError):
    """Settings that cannot make a working configuration."""


@dataclass(frozen=True)
class RepoSettings:
    """One S3 repository."""

    bucket: str
    endpoint: str                 # host name (the certificate's name), e.g. s3.eu-west-1.amazonaws.com
    region: str
    key_file: Path                # the S3 access key id
    key_secret_file: Path         # the S3 secret access key
    cipher_pass_file: Path        # the repository's encryption passphrase
    port: int = 443
    path: str = "/pgbackrest"
    ca_file: Path | None = None   # a private CA for the endpoint's certificate
    uri_style: str = "host"       # "path" for S3-compatible servers without bucket host names
    retention_full: int = 7       # full backups kept (with the incrementals and WAL they need)


@dataclass(frozen=True)
class BackupSettings:
    """Central's cluster, where pgBackRest keeps its own files, and the repositories."""

    pg_path: Path
    repos: tuple[RepoSettings, ...]
    stanza: str = "vigia"
    pg_port: int = 5432
    pg_socket_path: Path = Path("/var/run/postgresql")
    log_path: Path = Path("/var/log/pgbackrest")
    lock_path: Path = Path("/tmp/pgbackrest")
    spool_path: Path = Path("/var/spool/pgbackrest")
    io_timeout_s: int = 60
    archive_timeout_s: int = 60          # how long archive_command waits for a segment to reach the repositories
    archive_push_queue_max: str = WAL_QUEUE_MAX
    process_max: int = 2

    def __post_init__(self):
        if not self.repos:
            raise BackupConfigError("no repository: list at least one under `repos`")
        if len(self.repos) > 4:
            raise BackupConfigError("pgBackRest takes up to 4 repositories")


@dataclass(frozen=True)
class Secrets:
    key: str
    key_secret: str
    cipher_pass: str = field(repr=False)

    def __repr__(self) -> str:  # never in a log or a traceback
        return "Secrets(<redacted>)"


def _read_secret(path: Path, what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise BackupConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not value:
        raise BackupConfigError(f"{what}: {path} is empty")
    return value


def _secrets(repo: RepoSettings, number: int) -> Secrets:
    return Secrets(_read_secret(repo.key_file, f"repo{number} key_file"),
                   _read_secret(repo.key_secret_file, f"repo{number} key_secret_file"),
                   _read_secret(repo.cipher_pass_file, f"repo{number} cipher_pass_file"))


def render_config(settings: BackupSettings) -> str:
    """pgbackrest.conf's text (with the secrets)."""
    lines = ["[global]"]
    for number, repo in enumerate(settings.repos, start=1):
        secrets = _secrets(repo, number)
        options = {"type": "s3", "s3-endpoint": repo.endpoint, "storage-port": repo.port, "s3-bucket": repo.bucket,
                   "s3-region": repo.region, "s3-uri-style": repo.uri_style, "s3-key": secrets.key,
                   "s3-key-secret": secrets.key_secret, "path": repo.path, "cipher-type": "aes-256-cbc",
                   "cipher-pass": secrets.cipher_pass, "retention-full": repo.retention_full}
        if repo.ca_file:
            options["storage-ca-file"] = repo.ca_file
        lines += [f"repo{number}-{name}={value}" for name, value in options.items()]
    lines += [f"log-path={settings.log_path}", f"lock-path={settings.lock_path}", f"spool-path={settings.spool_path}",
              "log-level-console=warn", "log-level-file=info", "start-fast=y", "compress-type=zst",
              f"process-max={settings.process_max}", f"io-timeout={settings.io_timeout_s}",
              f"archive-timeout={settings.archive_timeout_s}",
              # WAL goes out in the background; while a repository is unreachable it queues in the spool
              # (PostgreSQL keeps its segments) up to this much, then is dropped so the disk does not fill.
              "archive-async=y", f"archive-push-queue-max={settings.archive_push_queue_max}",
              "", f"[{settings.stanza}]", f"pg1-path={settings.pg_path}", f"pg1-port={settings.pg_port}",
              f"pg1-socket-path={settings.pg_socket_path}"]
    return "\n".join(lines) + "\n"


def write_config(settings: BackupSettings, path: Path) -> Path:
    """Write pgbackrest.conf readable by its owner only (made so before a secret is in it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(render_config(settings))
    return path


def archive_command(config: Path, stanza: str) -> str:
    """PostgreSQL's archive_command for this configuration."""
    return f"pgbackrest --config={config} --stanza={stanza} archive-push %p"


def load_settings(path: Path) -> BackupSettings:
    """Settings from a YAML file: the fields of BackupSettings, `repos` a list of RepoSettings' fields
    (relative paths are relative to the file's folder)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BackupConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise BackupConfigError(f"{path}: expected a mapping of settings")
    try:
        repos = tuple(_repo(r, path.parent) for r in data.pop("repos", None) or [])
        paths = {k: path.parent / data[k] for k in ("pg_path", "pg_socket_path", "log_path", "lock_path", "spool_path")
                 if k in data}
        return BackupSettings(repos=repos, **{**data, **paths})
    except (TypeError, AttributeError) as exc:
        raise BackupConfigError(f"{path}: {exc}") from None


def _repo(data: dict, folder: Path) -> RepoSettings:
    """A repository's settings; relative file names are relative to the settings file's folder."""
    paths = {k: folder / data[k] for k in ("key_file", "key_secret_file", "cipher_pass_file", "ca_file") if k in data}
    return RepoSettings(**{**data, **paths})


def repo_numbers(config: Path) -> list[int]:
    """The repositories (1, 2, ...) a pgbackrest.conf defines."""
    try:
        text = config.read_text()
    except OSError as exc:
        raise BackupConfigError(f"cannot read {config}: {exc.strerror}") from None
    numbers = sorted({int(line.split("-", 1)[0][4:]) for line in text.splitlines()
                      if line.startswith("repo") and line.split("-", 1)[0][4:].isdigit()})
    if not numbers:
        raise BackupConfigError(f"{config} defines no repository")
    return numbers
