"""What the two launcher scripts share (standard library only): course/isolation/confine_launch.py, which confines a grading
kernel or a hub server, and cluster/part_launch.py, which gives Envoy Gateway and Kueue namespaces of their own. Both run as
scripts in isolated mode (`python -I`, so they start fast and see no user paths) and load this file by its path
(importlib); kubelab's own modules import it as `kubelab._launch`.

mount(2) through libc (not the `mount` program: faster, and the same errno), bringing loopback up in a new network
namespace, and a byte relay between two connections.
"""
from __future__ import annotations

import asyncio
import os

__all__ = ["BIND", "REC", "loopback_up", "mount", "relay"]

BIND, REC = 4096, 16384   # mount(2) flags (linux/mount.h)


def mount(who: str, source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """mount(2); a failure ends the process with `who` and the target named."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None):
        raise SystemExit(f"{who}: mount {target}: {os.strerror(ctypes.get_errno())}")


def loopback_up() -> None:
    """Bring `lo` up (a new network namespace starts with it down)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:   # SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP
        flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 1))


async def relay(connect, reader, writer) -> None:
    """Join one accepted connection to a new one made by `connect()`, both ways, until either side closes."""
    try:
        up_reader, up_writer = await connect()
    except OSError:
        writer.close()
        return

    async def pipe(src, dst):
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
