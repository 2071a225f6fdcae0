#!/usr/bin/env python3
# Write the seed corpora of tests/fuzz/corpus/ (checked in; rerun after a
# change of an input format): a handful of valid inputs per target, one
# valid message of each command, in the formats the targets document.
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPLY, NO_REPLY = 0x1, 0x10
(VERSION, DMA_MAP, DMA_UNMAP, DEVICE_GET_INFO, GET_REGION_INFO, GET_REGION_IO_FDS, GET_IRQ_INFO, SET_IRQS,
 REGION_READ, REGION_WRITE, DMA_READ, DMA_WRITE, DEVICE_RESET) = range(1, 14)
WRITE_MULTI, DEVICE_FEATURE, MIG_DATA_READ, MIG_DATA_WRITE = 15, 16, 17, 18
GET, SET, PROBE = 0x10000, 0x20000, 0x40000
MIGRATION, MIG_DEVICE_STATE, LOG_START, LOG_STOP, LOG_REPORT = 1, 2, 6, 7, 8
ERROR_STATE, STOP, RUNNING, STOP_COPY, RESUMING, PRE_COPY = 0, 1, 2, 3, 4, 6
CONFIG, ROM = 7, 6
INTX, MSI, MSIX, ERR, REQ = range(5)


def msg(cmd, payload=b"", msg_id=0, flags=0, error=0):
    return struct.pack("<HHIII", msg_id, cmd, 16 + len(payload), flags, error) + payload


def version(json=b'{"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576}}'):
    return struct.pack("<HH", 0, 0) + json + b"\0"


def region_access(region, offset, count, data=b""):
    return struct.pack("<QII", offset, region, count) + data


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- server
def chunk(data, fd_kind=0, nfds=0, hold=False):
    counts = {0: 0, 1: 1, 2: 2, 5: 3}
    ctl = (fd_kind & 7) | counts[nfds] << 3 | (0x20 if hold else 0)
    return struct.pack("<BH", ctl, len(data)) + data


EVENTFD, MEMFD4K, MEMFD64K, MEMFD0, SOCKET = 0, 1, 2, 3, 4


def bar0_write(offset, value, size=4, msg_id=0):
    return msg(REGION_WRITE, region_access(0, offset, size, value.to_bytes(size, "little")), msg_id)


def dma_cmd(addr, length, cmd):
    return bar0_write(0, addr, 8) + bar0_write(8, length) + bar0_write(0x0c, cmd)


def feature(flags, data=b"", argsz=None, msg_id=0):
    return msg(DEVICE_FEATURE, struct.pack("<II", 8 + len(data) if argsz is None else argsz, flags) + data, msg_id)


def set_state(state, msg_id=0, data_fd=0xffffffff):
    return feature(SET | MIG_DEVICE_STATE, struct.pack("<II", state, data_fd), msg_id=msg_id)


def mig_data(cmd, size, data=b"", msg_id=0):
    return msg(cmd, struct.pack("<II", 8 + size, size) + data, msg_id)


def log_start(page_size, ranges, num_ranges=None, msg_id=0):
    data = struct.pack("<QII", page_size, len(ranges) if num_ranges is None else num_ranges, 0) + \
        b"".join(struct.pack("<QQ", iova, length) for iova, length in ranges)
    return feature(SET | LOG_START, data, msg_id=msg_id)


def log_report(iova, length, page_size, bitmap_bytes, msg_id=0):
    return feature(GET | LOG_REPORT, struct.pack("<QQQ", iova, length, page_size), 8 + 24 + bitmap_bytes, msg_id)


def server_seeds():
    hello = chunk(msg(VERSION, version()))
    out = {}
    out["version"] = hello
    out["version_twin"] = chunk(msg(VERSION, version(b'{"capabilities":{"twin_socket":{"supported":true}}}')))
    info = msg(DEVICE_GET_INFO, struct.pack("<IIII", 16, 0, 0, 0), 1)
    for r in range(9):
        info += msg(GET_REGION_INFO, struct.pack("<IIIIQQ", 32, 0, r, 0, 0, 0), 2 + r)
    for i in range(5):
        info += msg(GET_IRQ_INFO, struct.pack("<IIII", 16, 0, i, 0), 20 + i)
    info += msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16, 0, 1, 0), 30)
    out["discovery"] = hello + chunk(info)
    dma_fd = msg(DMA_MAP, struct.pack("<IIQQQ", 32, 3, 0, 0x100000, 0x10000), 1)
    out["dma_fd"] = hello + chunk(dma_fd, MEMFD64K, 1) + chunk(
        dma_cmd(0x100010, 64, 1) + dma_cmd(0x100020, 64, 2) + dma_cmd(0x100000, 4096, 5) +
        dma_cmd(0x100000, 8192, 6) + msg(DMA_UNMAP, struct.pack("<IIQQ", 24, 0, 0x100000, 0x10000), 9) +
        msg(DMA_UNMAP, struct.pack("<IIQQ", 24, 2, 0, 0), 10))
    out["dma_short_memfd"] = hello + chunk(dma_fd, MEMFD0, 1) + chunk(dma_cmd(0x100000, 64, 1))
    dma_msg = msg(DMA_MAP, struct.pack("<IIQQQ", 32, 3, 0, 0x200000, 0x2000), 1)
    reply = msg(DMA_READ, struct.pack("<QQ", 0x200000, 16) + bytes(range(16)), 1, REPLY)
    out["dma_message"] = hello + chunk(dma_msg) + chunk(dma_cmd(0x200000, 16, 3), hold=True) + chunk(reply) + \
        chunk(dma_cmd(0x200000, 16, 4)) + chunk(msg(DMA_WRITE, struct.pack("<QQ", 0x200000, 16), 2, REPLY)) + \
        chunk(dma_cmd(0x200000, 16, 1) + reply.replace(b"\x01\x00", b"\x03\x00", 1))
    irqs = msg(SET_IRQS, struct.pack("<IIIII", 20, 0x04 | 0x20, MSIX, 0, 2), 1)
    out["irqs"] = hello + chunk(irqs, EVENTFD, 2) + chunk(
        msg(SET_IRQS, struct.pack("<IIIII", 20, 0x01 | 0x08, MSIX, 0, 1), 2) +
        msg(SET_IRQS, struct.pack("<IIIII", 20, 0x01 | 0x10, MSIX, 0, 1), 3) +
        msg(SET_IRQS, struct.pack("<IIIII", 22, 0x02 | 0x20, MSIX, 0, 2) + b"\1\1", 4) +
        msg(SET_IRQS, struct.pack("<IIIII", 20, 0x01 | 0x20, MSIX, 0, 0), 5) +
        bar0_write(8, 1) + bar0_write(0x0c, 7) + bar0_write(0, 4, 8) + bar0_write(0x0c, 8)) + \
        chunk(msg(SET_IRQS, struct.pack("<IIIII", 20, 0x04 | 0x20, INTX, 0, 1), 6), EVENTFD, 1) + \
        chunk(msg(SET_IRQS, struct.pack("<IIIII", 20, 0x04 | 0x10, INTX, 0, 1), 7), EVENTFD, 1) + \
        chunk(bar0_write(8, 1) + bar0_write(0x0c, 9))
    access = b"".join([
        msg(REGION_WRITE, region_access(1, 0x40, 4, b"\1\0\0\0"), 1),
        msg(REGION_WRITE, region_access(1, 0x80, 2, b"\1\0"), 2),
        msg(REGION_WRITE, region_access(2, 0x100, 8, bytes(8)), 3),
        msg(REGION_WRITE, region_access(2, 0x3000, 16, bytes(16)), 4),
        msg(REGION_READ, region_access(2, 0x3800, 8), 5),
        msg(REGION_WRITE, region_access(4, 0x10, 2, b"\x5a\x5a"), 6),
        msg(REGION_READ, region_access(4, 0, 16), 7),
        msg(REGION_READ, region_access(ROM, 0, 64), 8),
        msg(REGION_WRITE, region_access(CONFIG, 4, 2, b"\x07\x04"), 9),
        msg(REGION_READ, region_access(CONFIG, 0, 256), 10),
        msg(REGION_WRITE, region_access(CONFIG, 0x10, 4, b"\xff\xff\xff\xff"), 11, NO_REPLY),
        msg(WRITE_MULTI, struct.pack("<Q", 2) + struct.pack("<QII8s", 0x20, 1, 4, b"abcd") +
            struct.pack("<QII8s", 0x10, 0, 8, b"12345678"), 12),
        msg(DEVICE_RESET, b"", 13),
        msg(DEVICE_FEATURE, struct.pack("<II", 8, 0x10000 | 1), 14),
    ])
    out["region_access"] = hello + chunk(access)
    split = msg(REGION_READ, region_access(0, 0, 8), 1)
    out["split_message"] = hello + chunk(split[:5], hold=True) + chunk(split[5:])
    out["before_version"] = chunk(msg(DEVICE_GET_INFO, struct.pack("<IIII", 16, 0, 0, 0), 1)) + hello
    # DEVICE_GET_REGION_IO_FDS: the retry dance, each region, and refusals
    io_fds = b"".join([
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16, 0, 1, 0), 1),
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16 + 2 * 40, 0, 1, 0), 2),
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16 + 8 * 40, 0, 4, 0), 3),
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16 + 8 * 40, 0, 2, 0), 4),
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16 + 8 * 40, 1, 1, 0), 5),
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16 + 8 * 40, 0, 1, 3), 6),
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 16 + 8 * 40, 0, 9, 0), 7),
        msg(GET_REGION_IO_FDS, struct.pack("<IIII", 15, 0, 1, 0), 8),
        msg(GET_REGION_IO_FDS, struct.pack("<III", 16, 0, 1), 9),
    ])
    out["io_fds"] = hello + chunk(io_fds) + \
        chunk(msg(GET_REGION_IO_FDS, struct.pack("<IIII", 1024, 0, 1, 0), 10), EVENTFD, 1)
    # live migration: features, the state machine, the data stream
    mig = b"".join([
        feature(GET | PROBE | MIGRATION, msg_id=1),
        feature(GET | MIGRATION, argsz=16, msg_id=2),
        feature(GET | MIG_DEVICE_STATE, argsz=16, msg_id=3),
        set_state(PRE_COPY, 4),
        mig_data(MIG_DATA_READ, 128, msg_id=5),
        set_state(STOP_COPY, 6),
        mig_data(MIG_DATA_READ, 256, msg_id=7),
        mig_data(MIG_DATA_READ, 256, msg_id=8),
        set_state(STOP, 9),
        set_state(RESUMING, 10),
        mig_data(MIG_DATA_WRITE, 16, bytes(range(16)), 11),
        mig_data(MIG_DATA_WRITE, 4, b"\xff\0\0\0", 12),
        set_state(RUNNING, 13),
        set_state(99, 14),
        set_state(ERROR_STATE, 15),
        feature(SET | MIG_DEVICE_STATE, struct.pack("<I", STOP), msg_id=16),
        feature(SET | MIGRATION, struct.pack("<Q", 1), msg_id=17),
        feature(GET | 3, argsz=16, msg_id=18),
        bar0_write(8, 1) + bar0_write(0x0c, 11),   # RESUMING fails softly
        set_state(RESUMING, 19),
        bar0_write(8, 2) + bar0_write(0x0c, 11),   # leaving RESUMING fails: ERROR
        bar0_write(8, 0) + bar0_write(0x0c, 11),
        set_state(RESUMING, 20),
        bar0_write(8, 2) + bar0_write(0x0c, 11),
        set_state(RUNNING, 21),
        bar0_write(0x20, 1),
        msg(DEVICE_RESET, b"", 22),
        mig_data(MIG_DATA_READ, 16, msg_id=23),
    ])
    out["migration"] = hello + chunk(mig)
    # DMA logging over a mapping with memory: writes mark pages dirty
    dma_fd = msg(DMA_MAP, struct.pack("<IIQQQ", 32, 3, 0, 0x100000, 0x10000), 1)
    logging = b"".join([
        feature(SET | PROBE | LOG_START, msg_id=2),
        log_start(4096, [(0x108000, 0x8000), (0x100000, 0x8000)], msg_id=3),
        dma_cmd(0x100010, 64, 2),
        dma_cmd(0x109000, 8192, 12),
        log_report(0x100000, 0x8000, 4096, 8, 4),
        log_report(0x100000, 0x8000, 4096, 7, 5),      # argsz too small
        log_report(0x100000, 0x10001, 4096, 16, 6),    # not inside one range
        log_report(0x108000, 0x8000, 1 << 21, 8, 7),
        log_report(0x108000, 0, 4096, 8, 8),
        log_start(4096, [], msg_id=9),                   # already on
        feature(SET | LOG_STOP, msg_id=10),
        log_start(0, [], msg_id=11),                     # all memory, our page size
        log_report(0x100000, 0x10000, 4096, 8, 12),
        log_report(0, 1 << 40, 4096, 8, 13),             # bitmap above the limit
        feature(SET | LOG_STOP, b"\0" * 8, msg_id=14),
        feature(SET | LOG_STOP, msg_id=15),
        log_start(4096, [(0x100000, 0x2000), (0x101000, 0x1000)], msg_id=16),   # overlap
        log_start(4097, [(0x100000, 0x2000)], msg_id=17),
        log_start(4096, [(0x100000, 0x2000)], num_ranges=0xffffffff, msg_id=18),
        log_start(4096, [(0xfffffffffffff000, 0x2000)], msg_id=19),
        log_report(0x100000, 0x1000, 4096, 8, 20),        # logging is off
    ])
    out["dirty_logging"] = hello + chunk(dma_fd, MEMFD64K, 1) + chunk(logging)
    return out


# ---------------------------------------------------------------- client
def step(op, data=b"", patch=True, fds=0, bit6=False):
    ctl = op | (0x0c if patch else 0) | fds << 4 | (0x40 if bit6 else 0)
    return struct.pack("<BH", ctl, len(data)) + data


def reply(payload=b""):
    return step(0, msg(0, payload))


def client_seeds():
    caps = b'{"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1048576,"write_multiple":true}}'
    hello = reply(version(caps))
    devinfo = reply(struct.pack("<IIII", 16, 3, 9, 5))
    bar0 = reply(struct.pack("<IIIIQQ", 32, 3, 0, 0, 4096, 0))
    cfg = reply(struct.pack("<IIIIQQ", 32, 3, 7, 0, 4096, 0))
    irq = reply(struct.pack("<IIII", 16, 3, MSIX, 8))
    dma_read = step(1, msg(DMA_READ, struct.pack("<QQ", 0x100000, 16), 0x300), False)
    dma_write = step(1, msg(DMA_WRITE, struct.pack("<QQ", 0x100010, 8) + b"12345678", 0x301), False)
    out = {}
    out["connect"] = b"\1" + hello
    out["connect_twin"] = b"\0" + step(0, msg(0, version(
        b'{"capabilities":{"twin_socket":{"supported":true,"fd_index":0}}}')), fds=3, bit6=True)
    base = b"\1" + hello + devinfo + bar0 + cfg + irq + reply()  # DMA_MAP
    out["discovery"] = base
    out["dma_requests"] = base + dma_read + dma_write + reply(region_access(0, 0, 64, bytes(64)))
    sparse = struct.pack("<IIIIQQ", 32 + 16 + 16, 0xf, 2, 32, 16384, 0) + \
        struct.pack("<HHIII", 1, 1, 0, 1, 0) + struct.pack("<QQ", 0, 0x3000)
    mapped = base + reply(region_access(0, 0, 64, bytes(64))) + reply(region_access(CONFIG, 0, 4, bytes(4))) + \
        reply(region_access(0, 8, 4)) + step(0, msg(0, sparse), fds=1, bit6=True) + \
        reply(struct.pack("<IIII", 16, 0, 2, 0))
    out["region_map"] = mapped
    io_fd = struct.Struct("<QQIIII")
    entries = io_fd.pack(0x100, 4, 0, 0, 0, 0) + struct.pack("<Q", 0) + \
        io_fd.pack(0x200, 8, 1, 0, 1, 0) + struct.pack("<Q", 0x5a5a)
    with_fds = step(0, msg(0, struct.pack("<IIII", 16 + len(entries), 0, 2, 2) + entries), fds=3)
    out["region_map_io_fds"] = mapped[:-len(reply(struct.pack("<IIII", 16, 0, 2, 0)))] + with_fds
    lvfu = io_fd.pack(0x100, 2, 0, 0, 0, 0) + bytes(8) + struct.pack("<Q", 7) + \
        io_fd.pack(0x300, 0, 1, 1, 0, 0) + bytes(8) + struct.pack("<Q", 0)
    retry = reply(struct.pack("<IIII", 16 + 4000, 0, 2, 2)) + \
        step(0, msg(0, struct.pack("<IIII", 16 + len(lvfu), 0, 2, 2) + lvfu), fds=3)
    out["region_map_io_fds_retry"] = mapped[:-len(reply(struct.pack("<IIII", 16, 0, 2, 0)))] + retry
    out["error_replies"] = b"\1" + hello + step(0, struct.pack("<HHIII", 0, 0, 16, 0x21, 22)) + \
        step(0, struct.pack("<HHIII", 0, 0, 16, 0x21, 5000))
    out["stale_id"] = b"\1" + hello + step(2) + step(1, msg(DEVICE_GET_INFO, struct.pack("<IIII", 16, 3, 9, 5), 7,
                                                             REPLY), False) + devinfo
    out["garbage_version"] = b"\1" + reply(b"\0\0not json\0")
    # mode bit 2: the migration calls come first, each answered as asked
    state = struct.Struct("<IIII")
    log_range = struct.pack("<QQ", 0x100000, 0x2000)
    report = struct.pack("<QQQ", 0x100000, 0x2000, 4096)
    mig = b"\5" + hello + \
        reply(struct.pack("<II", 8, MIGRATION | GET | PROBE)) + \
        reply(struct.pack("<IIQ", 16, MIGRATION | GET, 1)) + \
        reply(state.pack(16, MIG_DEVICE_STATE | GET, RUNNING, 0)) + \
        reply(state.pack(16, MIG_DEVICE_STATE | SET, STOP_COPY, 0xffffffff)) + \
        reply(struct.pack("<II", 8 + 16, 16) + bytes(range(16))) + \
        reply(state.pack(16, MIG_DEVICE_STATE | SET, RESUMING, 0xffffffff)) + \
        reply() + \
        reply(struct.pack("<II", 8, LOG_START | SET | PROBE)) + \
        reply(struct.pack("<II", 8 + 16 + 16, LOG_START | SET) + struct.pack("<QII", 4096, 1, 0) + log_range) + \
        reply(struct.pack("<II", 8 + 24 + 8, LOG_REPORT | GET) + report + struct.pack("<Q", 3)) + \
        reply(struct.pack("<II", 8, LOG_STOP | SET))
    out["migration"] = mig
    out["migration_unsupported"] = b"\5" + hello + step(0, struct.pack("<HHIII", 0, 0, 16, 0x21, 95)) + \
        reply(state.pack(16, MIG_DEVICE_STATE | GET, 9, 0)) + \
        reply(state.pack(16, MIG_DEVICE_STATE | SET, RUNNING, 0xffffffff)) + \
        reply(struct.pack("<II", 8 + 100, 100) + bytes(100))
    return out


# ---------------------------------------------------------------- decoders
def decoders_seeds():
    def d(which, payload, nfds=0, a=0, b=0):
        return struct.pack("<BBQQ", which, nfds, a, b) + payload
    io_fd = struct.Struct("<QQIIII")
    entries = io_fd.pack(0x100, 4, 0, 0, 0, 0) + struct.pack("<Q", 0) + \
        io_fd.pack(0x200, 8, 1, 0, 1, 0) + struct.pack("<Q", 0x5a5a)
    lvfu = io_fd.pack(0x100, 2, 0, 0, 0, 0) + bytes(8) + struct.pack("<Q", 7)
    ranges = struct.pack("<QQQQ", 0, 4096, 1 << 20, 1 << 20)
    report = struct.pack("<QQQ", 0x100000, 65 * 4096, 4096)
    return {
        "io_fds_req": d(0, struct.pack("<IIII", 16 + 320, 0, 1, 0)),
        "io_fds_reply": d(1, struct.pack("<IIII", 16 + 80, 0, 2, 2) + entries, 2, 1024 | 2 << 32, 0x1000),
        "io_fds_reply_lvfu": d(1, struct.pack("<IIII", 16 + 48, 0, 2, 1) + lvfu, 1, 1024 | 2 << 32, 0x1000),
        "io_fds_reply_truncated": d(1, struct.pack("<IIII", 4000, 0, 2, 50), 0, 1024 | 2 << 32, 0x1000),
        "mig_state": d(2, struct.pack("<II", STOP_COPY, 0xffffffff)),
        "log_start": d(3, struct.pack("<QII", 4096, 2, 0) + ranges),
        "log_stop": d(4, b""),
        "log_report": d(5, report, 0, 8 + 24 + 16, 4096),
        "feature_reply": d(6, struct.pack("<IIQ", 16, GET | MIGRATION, 1), 0, MIGRATION),
        "feature_get_reply": d(7, struct.pack("<IIII", 16, GET | MIG_DEVICE_STATE, RUNNING, 0), 0,
                               MIG_DEVICE_STATE, 8),
        # the request's data is the payload's tail: here the state itself
        "feature_echo_reply": d(8, struct.pack("<IIII", 16, SET | MIG_DEVICE_STATE, STOP, 0), 0,
                                SET | MIG_DEVICE_STATE, 8),
        "log_start_reply": d(9, struct.pack("<II", 8 + 16 + 32, SET | LOG_START) +
                             struct.pack("<QII", 1 << 21, 2, 0) + struct.pack("<QQQQ", 0, 4096, 1 << 20, 1 << 20),
                             0, 12, 2),
        "log_report_reply": d(10, struct.pack("<II", 8 + 24 + 16, GET | LOG_REPORT) +
                              struct.pack("<QQQ", 0x100000 + 12, 65 * 4096, 4096) + bytes(16), 0, 0x100000 + 12,
                              65 * 4096),
        "mig_data_read_reply": d(11, struct.pack("<II", 8 + 16, 16) + bytes(range(16)), 0, 32),
        "mig_data_write_reply": d(12, b""),
        "device_feature": d(13, struct.pack("<IIII", 16, SET | LOG_STOP, 0, 0)),
    }


# ---------------------------------------------------------------- caps
def caps_seeds():
    def v(json, ctl=0):
        return bytes([ctl]) + struct.pack("<HH", 0, 0) + json + b"\0"
    return {
        "defaults": v(b"{}"),
        "qemu": v(b'{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,'
                  b'"max_dma_maps":65535,"write_multiple":true,"migration":{"pgsize":4096,'
                  b'"max_bitmap_size":268435456}}}'),
        "twin_reply": v(b'{"capabilities":{"max_msg_fds":8,"twin_socket":{"supported":true,"fd_index":0}}}', 3),
        "big_numbers": v(b'{"capabilities":{"max_data_xfer_size":18446744073709551615,"pgsizes":1e30}}'),
        "wrong_types": v(b'{"capabilities":{"max_msg_fds":"8","twin_socket":[],"write_multiple":1}}'),
        "nested": v(b'{"capabilities":{"x":[[[[{"a":{"b":null}}]]]],"max_dma_maps":-1}}'),
        "no_json": bytes([0]) + struct.pack("<HH", 0, 2),
    }


# ---------------------------------------------------------------- config
def op(write, size_index, offset, value, msix=False, raise_irq=False, reset=False):
    o = (1 if write else 0) | size_index << 1 | (0x10 if msix else 0) | (0x20 if raise_irq else 0) | \
        (0x40 if reset else 0)
    return struct.pack("<BHQ", o, offset, value)


def config_seeds():
    S1, S2, S4, S8 = 0, 1, 2, 3
    out = {}
    out["bar_sizing"] = b"".join(op(1, S4, 0x10 + 4 * i, 0xffffffff) + op(0, S4, 0x10 + 4 * i, 0)
                                 for i in range(6)) + op(1, S4, 0x30, 0xffffffff) + op(0, S4, 0x30, 0)
    out["all_ones"] = b"".join(op(1, S4, off, 0xffffffff) for off in range(0, 0x100, 4))
    out["ext_all_ones"] = b"".join(op(1, S8, off, 0xffffffffffffffff) for off in range(0x100, 0x180, 8))
    out["reads"] = b"".join(op(0, 6, off, 0) for off in range(0, 0x1000, 16))
    out["interrupts"] = op(1, S2, 4, 0x0407) + b"".join(op(1, S2, off, 0x8001) for off in range(0x40, 0xa0, 2)) + \
        op(1, S8, 0, 0, msix=True) + op(1, S4, 12, 0, msix=True, raise_irq=True) + \
        op(1, S2, 4, 0x0400, raise_irq=True, reset=True)
    out["power_flr"] = b"".join(op(1, S2, off, 3) + op(1, S2, off, 0) for off in range(0x40, 0x80, 4)) + \
        b"".join(op(1, S2, off, 0x8000) for off in range(0x48, 0xc0, 4))
    out["unaligned_past_end"] = op(1, 4, 0xfff, 0x11223344) + op(1, 7, 0xfc0, 0) + op(0, 5, 0x1003, 0) + \
        op(1, S8, 0x3b, 0xffffffffffffffff)
    return out


# ---------------------------------------------------------------- wire_describe
def describe_seeds():
    def one(cmd, payload=b"", flags=0, error=0, nfds=0):
        return bytes([nfds]) + msg(cmd, payload, msg_id=7, flags=flags, error=error)[:16] + payload
    dma_map = struct.pack("<IIQQQ", 32, 3, 0, 0x10000000, 0x10000)
    irq_set = struct.pack("<IIIII", 20, 0x24, 2, 0, 4)
    feature = struct.pack("<II", 16, 0x20002) + struct.pack("<II", 3, 0)
    return {
        "version": one(1, version()),
        "version_reply": one(1, version(), flags=1),
        "dma_map": one(2, dma_map, nfds=1),
        "set_irqs": one(8, irq_set, nfds=4),
        "region_read": one(9, region_access(7, 0, 4)),
        "region_read_reply": one(9, region_access(7, 0, 4, b"\xe0\x1d\x01\x00"), flags=1),
        "feature_state": one(16, feature),
        "error_reply": one(3, flags=0x21, error=2),
        "unknown": one(77, b"\x00" * 12),
    }


# ---------------------------------------------------------------- proxy_state
def proxy_state_seeds():
    def req(cmd, payload=b"", posted=False, nfds=0):
        return struct.pack("<BBBH", cmd, 1 if posted else 0, nfds, len(payload)) + payload

    def rep(payload=b"", error=False, nfds=0):
        return struct.pack("<BBH", 1 if error else 0, nfds, len(payload)) + payload
    dma_map = struct.pack("<IIQQQ", 32, 3, 0, 0x10000000, 0x10000)
    unmap_all = struct.pack("<IIQQ", 24, 2, 0, 0)
    irq_set = struct.pack("<IIIII", 20, 0x24, 2, 0, 4)
    io_req = struct.pack("<IIII", 16, 0, 0, 0)
    io_rep = struct.pack("<IIII", 56, 0, 0, 1) + struct.pack("<QQIIIIQ", 0x100, 4, 0, 0, 0, 0, 0)
    cfg_write = region_access(7, 4, 2, b"\x06\x00")
    bar_write = region_access(2, 0x1c, 4, b"\x01\x00\x00\x00")
    return {
        "session": req(1, version()) + rep(version()) + req(2, dma_map, nfds=1) + rep() +
        req(8, irq_set, nfds=4) + rep() + req(10, cfg_write) + rep(cfg_write[:16]) +
        req(10, bar_write, posted=True) + req(6, io_req) + rep(io_rep, nfds=1) + req(3, unmap_all) + rep(unmap_all),
        "errors": req(2, dma_map, nfds=1) + rep(error=True) + req(8, irq_set, nfds=4) + rep(error=True),
    }


def main():
    root = os.path.join(HERE, "corpus")
    for target, seeds in (("fuzz_server_stream", server_seeds()), ("fuzz_client_replies", client_seeds()),
                          ("fuzz_caps_json", caps_seeds()), ("fuzz_config_space", config_seeds()),
                          ("fuzz_decoders", decoders_seeds()), ("fuzz_wire_describe", describe_seeds()),
                          ("fuzz_proxy_state", proxy_state_seeds())):
        for name, data in seeds.items():
            write(os.path.join(root, target, name), data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
