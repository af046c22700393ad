#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 for the network benchmark's partition (bench/bench_network.sh).

usage: partition_proxy.py --control FILE --stats FILE LISTEN_PORT:TARGET_PORT...

Each LISTEN_PORT on 127.0.0.1 forwards every connection to 127.0.0.1:TARGET_PORT, bytes
unchanged (the TLS between the two gifd nodes goes through it end to end). While FILE exists
(the cut), every forwarded connection is closed at once (both ends) and new connections are
accepted and closed straight away, so the dialling node sees its link fail and backs off.
When FILE is removed (the heal), connections are forwarded again.

The bytes forwarded (client to target, target to client, and their sum) are written as JSON to
the stats file every 100 ms when they changed, and on exit, with the number of connections
accepted, refused and cut. Prints "ready" on stdout once every port listens. Stops on SIGTERM or
SIGINT. One thread, a selectors loop; at most 1 MiB waits per direction of a connection (reading
pauses while it is full), so a slow side cannot make it grow without bound.
"""
import argparse
import errno
import json
import os
import selectors
import signal
import socket
import sys
import time

BUF_MAX = 1 << 20

sel = selectors.DefaultSelector()
stats = {"up": 0, "down": 0, "total": 0, "accepted": 0, "refused": 0, "cut": 0}
conns = set()
running = True


class Side:
    """One socket of a forwarded pair; pending holds bytes waiting to be written to it."""

    def __init__(self, sock, direction):
        self.sock = sock
        self.pending = bytearray()
        self.peer = None
        self.direction = direction  # the stats key of bytes read from this socket
        self.eof = False  # this socket sent FIN
        self.connected = True
        self.events = 0


class Pair:
    def __init__(self, client, target):
        self.a = Side(client, "up")
        self.b = Side(target, "down")
        self.a.peer, self.b.peer = self.b, self.a
        self.a.pair = self.b.pair = self
        self.closed = False

    def close(self):
        if self.closed:
            return
        self.closed = True
        conns.discard(self)
        for s in (self.a, self.b):
            if s.events:
                sel.unregister(s.sock)
                s.events = 0
            try:
                s.sock.close()
            except OSError:
                pass


def update(side):
    """Registers the events a side needs: read while its peer's buffer has room, write while
    bytes wait for it (or while its connect is in progress)."""
    ev = 0
    if not side.eof and len(side.peer.pending) < BUF_MAX and side.connected:
        ev |= selectors.EVENT_READ
    if side.pending or not side.connected:
        ev |= selectors.EVENT_WRITE
    if ev == side.events:
        return
    if side.events == 0:
        sel.register(side.sock, ev, side)
    elif ev == 0:
        sel.unregister(side.sock)
    else:
        sel.modify(side.sock, ev, side)
    side.events = ev


def cut_active(control):
    return os.path.exists(control)


def on_accept(lsock, target_port, control):
    while True:
        try:
            c, _ = lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if cut_active(control):
            stats["refused"] += 1
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
            continue
        stats["accepted"] += 1
        c.setblocking(False)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setblocking(False)
        t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        p = Pair(c, t)
        conns.add(p)
        rc = t.connect_ex(("127.0.0.1", target_port))
        if rc not in (0, errno.EINPROGRESS):
            p.close()
            continue
        p.b.connected = rc == 0
        update(p.a)
        update(p.b)


def on_io(side, mask):
    p = side.pair
    if p.closed:
        return
    if not side.connected:
        err = side.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            p.close()
            return
        side.connected = True
    if mask & selectors.EVENT_READ and not side.eof:
        try:
            data = side.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            data = None
        except OSError:
            p.close()
            return
        if data == b"":
            side.eof = True
            if not side.peer.pending:
                try:
                    side.peer.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        elif data:
            stats[side.direction] += len(data)
            stats["total"] += len(data)
            side.peer.pending += data
    for s in (side, side.peer):
        if s.pending and s.connected:
            try:
                n = s.sock.send(s.pending)
                del s.pending[:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                p.close()
                return
            if not s.pending and s.peer.eof:
                try:
                    s.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
    if side.eof and side.peer.eof and not side.pending and not side.peer.pending:
        p.close()
        return
    update(side)
    update(side.peer)


def write_stats(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(stats, f)
    os.replace(tmp, path)


def main():
    global running
    ap = argparse.ArgumentParser()
    ap.add_argument("--control", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("ports", nargs="+")
    args = ap.parse_args()

    def stop(*_):
        global running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    listeners = []
    for spec in args.ports:
        lp, tp = (int(x) for x in spec.split(":"))
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", lp))
        ls.listen(64)
        ls.setblocking(False)
        sel.register(ls, selectors.EVENT_READ, ("listen", tp))
        listeners.append(ls)
    write_stats(args.stats)
    print("ready", flush=True)
    last = dict(stats)
    last_check = 0.0
    while running:
        for key, mask in sel.select(timeout=0.05):
            if isinstance(key.data, tuple):
                on_accept(key.fileobj, key.data[1], args.control)
            else:
                on_io(key.data, mask)
        now = time.monotonic()
        if now - last_check >= 0.05:
            last_check = now
            if conns and cut_active(args.control):
                for p in list(conns):
                    stats["cut"] += 1
                    for s in (p.a, p.b):
                        try:
                            s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                              b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        except OSError:
                            pass
                    p.close()
            if stats != last:
                write_stats(args.stats)
                last = dict(stats)
    for p in list(conns):
        p.close()
    write_stats(args.stats)


if __name__ == "__main__":
    sys.exit(main())
