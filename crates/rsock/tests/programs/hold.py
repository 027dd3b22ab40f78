"""Connects to HOST:PORT, says hello, then waits for the connection to end and reports how:
"ended eof|reset|epipe <seconds>", timing from a line "go" on stdin (sent when the origin dies).
"""
import errno
import socket
import sys
import time

s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.sendall(b"hello\n")
print("connected", flush=True)
sys.stdin.readline()
start = time.monotonic()
s.settimeout(10)
how = "timeout"
try:
    while True:
        data = s.recv(4096)
        if not data:
            how = "eof"
            break
except ConnectionResetError:
    how = "reset"
except socket.timeout:
    how = "timeout"
if how == "eof":
    # The write side must fail too, not block.
    try:
        for _ in range(100):
            s.send(b"x" * 1024)
            time.sleep(0.01)
    except BrokenPipeError:
        how = "eof+epipe"
    except ConnectionResetError:
        how = "eof+reset"
print("ended", how, f"{time.monotonic() - start:.3f}", flush=True)
