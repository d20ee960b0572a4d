"""Start and stop a throwaway ``redis-server`` on 127.0.0.1 for tests (no persistence).

Importable by any test package: ``start_redis() -> (process, url)`` and ``stop_redis(process)``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "install redis-server: apt-get install -y redis-server"

_dirs: dict[int, Path] = {}


class RedisServerMissing(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    # "+PONG" normally, "-NOAUTH ..." when a password is set: either way the server is serving.
    return reply.startswith((b"+PONG", b"-NOAUTH"))


def start_redis(
    *, password: str | None = None, timeout_s: float = 10.0
) -> tuple[subprocess.Popen[bytes], str]:
    """Start redis-server on a free 127.0.0.1 port; return the process and ``redis://.../0``."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerMissing(INSTALL_HINT)
    last_log = ""
    for _attempt in range(3):  # another process may grab the free port before redis binds it
        port = _free_port()
        workdir = Path(tempfile.mkdtemp(prefix="ehpc-rerun-redis-"))
        args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--dir", str(workdir), "--logfile", str(workdir / "redis.log")]
        if password is not None:
            args += ["--requirepass", password]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_ping(port):
                _dirs[process.pid] = workdir
                auth = f":{password}@" if password is not None else ""
                return process, f"redis://{auth}127.0.0.1:{port}/0"
            time.sleep(0.02)
        log = workdir / "redis.log"
        last_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        _terminate(process)
        shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(f"redis-server did not start; last log:\n{last_log}")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started by :func:`start_redis` and remove its directory."""
    _terminate(process)
    workdir = _dirs.pop(process.pid, None)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
