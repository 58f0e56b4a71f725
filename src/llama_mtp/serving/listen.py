"""The server's listening sockets: one per address of a comma-separated --host (llama-server's
form: "127.0.0.1,::1"), all on one port (port 0: the free port the first address got)."""

from __future__ import annotations

import ipaddress
import socket


def hosts_of(host: str) -> list[str]:
    """The addresses of a --host value; IPv6 ones may come bracketed ([::1])."""
    hosts = [h.strip().removeprefix("[").removesuffix("]") for h in host.split(",") if h.strip()]
    if not hosts:
        raise ValueError(f"no address in --host {host!r}")
    return hosts


def bind_sockets(hosts: list[str], port: int) -> list[socket.socket]:
    """A listening TCP socket per address; an address that cannot be bound raises OSError
    (closing the ones already bound)."""
    sockets: list[socket.socket] = []
    try:
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]  # the rest on the port the first one got
            sock.listen(2048)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def exposed(hosts: list[str]) -> list[str]:
    """The addresses other machines may reach (not loopback ones: 127.0.0.0/8, ::1, localhost)."""

    def loopback(host: str) -> bool:
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    return [h for h in hosts if not loopback(h)]
