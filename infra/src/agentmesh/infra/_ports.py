"""Who is listening on a port, so a busy port gets a useful message."""

from __future__ import annotations

import socket

import psutil

__all__ = ["describe_listener", "is_listening"]


def is_listening(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def describe_listener(port: int) -> str:
    """A short description of the process listening on ``port`` (best effort)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return "an unknown process"
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "a process of another user"
            try:
                proc = psutil.Process(conn.pid)
                cmd = " ".join(proc.cmdline())[:120]
            except psutil.Error:
                return f"pid {conn.pid}"
            return f"pid {conn.pid} ({cmd})"
    return "an unknown process"
