"""Loaded by every Python subprocess the tests start (its folder is put first on PYTHONPATH).

It makes snippets, pages and notebooks hermetic: any connection to a host other than this machine
raises at once with a clear message, so a snippet that tries to download fails loudly instead of
hanging or silently using a cache. Warnings raised by the book's own code are errors.
"""

import ipaddress
import socket
import warnings

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkBlockedError(RuntimeError):
    pass


def _is_local(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address) -> None:
    if isinstance(address, tuple) and not _is_local(address[0]):
        raise NetworkBlockedError(f"network access blocked in the book's tests: tried to connect to {address[0]}")


def _connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if not _is_local(host if not isinstance(host, bytes) else host.decode()):
        raise NetworkBlockedError(f"network access blocked in the book's tests: tried to resolve {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
socket.getaddrinfo = _getaddrinfo

warnings.filterwarnings("error", module=r"genai_guide(\..*)?$")
