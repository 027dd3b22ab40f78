"""What a process may bind, printed one result per line: "NAME ok" or "NAME errno=N".

  creds.py IP LOW_PORT HIGH_PORT [REUSEPORT_PORT]
"""
import socket
import sys


def attempt(name, fn):
    try:
        fn()
        print(name, "ok", flush=True)
    except OSError as e:
        print(name, f"errno={e.errno}", flush=True)


ip, low, high = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keep = []


def bind(port, reuseport=False):
    s = socket.socket()
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((ip, port))
    keep.append(s)


attempt("bind_low", lambda: bind(low))
attempt("bind_high", lambda: bind(high))
if len(sys.argv) > 4:
    attempt("bind_reuseport", lambda: bind(int(sys.argv[4]), reuseport=True))
if sys.stdin.isatty() is False and "--hold" in sys.argv:
    sys.stdin.read()
