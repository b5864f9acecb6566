"""Benchmark peer: the `lines` protocol on Python's selectors (epoll), written the way a
Python user would. Greets "hello\\n"; answers each line L with "Lresponse\\n".

Usage: python3 lines_selectors.py [PORT]   (0 picks a free port; the port is printed first)
"""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
srv.listen(1024)
srv.setblocking(False)
print(srv.getsockname()[1], flush=True)
sel.register(srv, selectors.EVENT_READ)
state = {}  # conn -> [inbuf, outbuf]


def close(conn):
    sel.unregister(conn)
    del state[conn]
    conn.close()


def flush(conn):
    st = state[conn]
    try:
        n = conn.send(st[1])
    except BlockingIOError:
        n = 0
    except OSError:
        close(conn)
        return
    del st[1][:n]
    events = selectors.EVENT_READ | (selectors.EVENT_WRITE if st[1] else 0)
    sel.modify(conn, events)


while True:
    for key, mask in sel.select():
        sock = key.fileobj
        if sock is srv:
            while True:
                try:
                    conn, _ = srv.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                state[conn] = [bytearray(), bytearray(b"hello\n")]
                sel.register(conn, selectors.EVENT_READ)
                flush(conn)
            continue
        if sock not in state:
            continue
        if mask & selectors.EVENT_READ:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                close(sock)
                continue
            if data == b"":
                close(sock)
                continue
            if data:
                st = state[sock]
                st[0] += data
                *lines, rest = st[0].split(b"\n")
                st[0] = bytearray(rest)
                for line in lines:
                    st[1] += line + b"response\n"
        if sock in state and state[sock][1]:
            flush(sock)
