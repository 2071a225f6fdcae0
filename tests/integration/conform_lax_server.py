#!/usr/bin/env python3
# A deliberately lax vfio-user server for testing uvf-conform itself: it
# frames messages correctly and survives everything, but accepts any VERSION
# and answers every other command with success (even with NO_REPLY set).
# uvf-conform must report FAIL for what it accepts.
# Usage: conform_lax_server.py SOCKET
import array
import os
import socket
import struct
import sys

path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(4)


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk, anc, _, _ = conn.recvmsg(n - len(data), socket.CMSG_SPACE(253 * 4))
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(raw[: len(raw) - len(raw) % 4])
                for fd in fds:
                    os.close(fd)
        if not chunk:
            raise EOFError
        data += chunk
    return data


def reply(conn, msg_id, cmd, payload):
    conn.sendall(struct.pack("<HHIII", msg_id, cmd, 16 + len(payload), 1, 0) + payload)


def serve(conn):
    while True:
        msg_id, cmd, size, flags, _ = struct.unpack("<HHIII", recv_exact(conn, 16))
        if size < 16 or size > (2 << 20):
            return
        body = recv_exact(conn, size - 16) if size > 16 else b""
        if flags & 0xF:
            continue
        if cmd == 1:
            reply(conn, msg_id, cmd, struct.pack("<HH", 0, 0) + b'{"capabilities":{"max_msg_fds":8}}\0')
        elif cmd == 4:
            reply(conn, msg_id, cmd, struct.pack("<IIII", 16, 3, 9, 5))
        elif cmd == 5 and len(body) >= 12:
            index = struct.unpack_from("<I", body, 8)[0]
            size7 = 256 if index == 7 else 0
            reply(conn, msg_id, cmd, struct.pack("<IIIIQQ", 32, 3 if size7 else 0, index, 0, size7, 0))
        elif cmd == 7 and len(body) >= 12:
            index = struct.unpack_from("<I", body, 8)[0]
            reply(conn, msg_id, cmd, struct.pack("<IIII", 16, 1, index, 1 if index == 0 else 0))
        elif cmd == 9 and len(body) >= 16:
            count = min(struct.unpack_from("<I", body, 12)[0], 1 << 20)
            reply(conn, msg_id, cmd, body[:12] + struct.pack("<I", count) + bytes(count))
        else:
            reply(conn, msg_id, cmd, b"")


while True:
    conn, _ = srv.accept()
    try:
        serve(conn)
    except (EOFError, OSError, struct.error):
        pass
    conn.close()
