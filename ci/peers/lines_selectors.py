"""The `lines` protocol on Python's selectors (epoll), written the way a careful Python user
would: non-blocking sockets, buffered output, every error of accept(), recv() and send()
handled. Greets "hello\\n"; answers each line L with "Lresponse\\n"; a line over 65536 bytes
gets "error: line too long (limit 65536 bytes)\\n" and a close. A benchmark peer, and a
correct server `muxsim run --service lines` must pass.

Usage: python3 lines_selectors.py [PORT]   (0 picks a free port; the port is printed first)
"""
import errno
import selectors
import socket
import sys
import time

MAX_LINE = 65536
TOO_LONG = b"error: line too long (limit 65536 bytes)\n"

sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
srv.listen(1024)
srv.setblocking(False)
print(srv.getsockname()[1], flush=True)
sel.register(srv, selectors.EVENT_READ)
# conn -> [input, output, closing]: closing once the peer ended or a line was too long; the
# connection closes when its output is flushed.
state = {}
accept_paused_until = 0.0


def close(conn):
    sel.unregister(conn)
    del state[conn]
    conn.close()


def flush(conn):
    st = state[conn]
    while st[1]:
        try:
            n = conn.send(st[1])
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            close(conn)
            return
        del st[1][:n]
    if not st[1] and st[2]:
        close(conn)
        return
    reading = 0 if st[2] else selectors.EVENT_READ
    events = reading | (selectors.EVENT_WRITE if st[1] else 0)
    if events:
        sel.modify(conn, events)


def accept_all():
    global accept_paused_until
    while True:
        try:
            conn, _ = srv.accept()
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionAbortedError:
            continue
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors: stop accepting for a moment instead of spinning.
                sel.unregister(srv)
                accept_paused_until = time.monotonic() + 0.05
                return
            raise
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        state[conn] = [bytearray(), bytearray(b"hello\n"), False]
        sel.register(conn, selectors.EVENT_READ)
        flush(conn)


def readable(sock):
    st = state[sock]
    try:
        data = sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        close(sock)
        return
    if data == b"":
        # The peer is done sending: answer what is owed, then close.
        st[2] = True
        return
    st[0] += data
    *lines, rest = st[0].split(b"\n")
    for line in lines:
        if len(line) > MAX_LINE:
            st[1] += TOO_LONG
            st[2] = True
            st[0] = bytearray()
            return
        st[1] += line + b"response\n"
    if len(rest) > MAX_LINE:
        st[1] += TOO_LONG
        st[2] = True
        rest = b""
    st[0] = bytearray(rest)


while True:
    timeout = None
    if accept_paused_until:
        timeout = max(0.0, accept_paused_until - time.monotonic())
    for key, mask in sel.select(timeout):
        sock = key.fileobj
        if sock is srv:
            accept_all()
            continue
        if sock not in state:
            continue
        if mask & selectors.EVENT_READ and not state[sock][2]:
            readable(sock)
        if sock in state:
            flush(sock)
    if accept_paused_until and time.monotonic() >= accept_paused_until:
        accept_paused_until = 0.0
        sel.register(srv, selectors.EVENT_READ)
        accept_all()
