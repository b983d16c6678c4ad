#!/usr/bin/env python3
"""A hostile STUN server for the CLI tests, on loopback only: it answers every request it gets
with an error response (400) whose reason phrase is invalid UTF-8 with a terminal escape, a C1
control and a bidirectional override, properly framed (FINGERPRINT included) so the client reads
it. Prints its port, then serves until killed (at most --seconds, default 60).
  hostile_server.py [--seconds S]"""
import socket
import struct
import sys
import time
import zlib

REASON = b"bad \xff\xfe \x1b[31mred\x1b[0m \xc2\x9b2J \xe2\x80\xaeevil"


def answer(request):
    if len(request) < 20 or request[0] & 0xC0:
        return None
    mtype, = struct.unpack("!H", request[:2])
    if mtype & 0x0110:  # only requests (class bits 00) are answered
        return None
    etype = mtype | 0x0110
    value = struct.pack("!HBB", 0, 4, 0) + REASON
    body = struct.pack("!HH", 0x0009, len(value)) + value + b"\0" * ((-len(value)) % 4)
    header = struct.pack("!HHI", etype, len(body) + 8, 0x2112A442) + request[8:20]
    crc = (zlib.crc32(header + body) & 0xFFFFFFFF) ^ 0x5354554E
    return header + body + struct.pack("!HHI", 0x8028, 4, crc)


def main():
    seconds = 60.0
    if len(sys.argv) == 3 and sys.argv[1] == "--seconds":
        seconds = float(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1], flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            break
        reply = answer(data)
        if reply:
            s.sendto(reply, peer)


if __name__ == "__main__":
    main()
