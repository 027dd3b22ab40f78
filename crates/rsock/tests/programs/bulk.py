"""Bulk transfers for the remote-socket tests, with python's plain socket module.

  bulk.py serve PORT              (client namespace) one connection per request:
      "UP\n" then bytes until EOF  -> answers the SHA-256 of what arrived, hex, and closes
      "DOWN N SEED\n"              -> sends N pseudo-random bytes, closes
      prints "up <hex> <bytes>" / "down <hex> <bytes>" per transfer on stdout
  bulk.py up HOST PORT N SEED     sends N bytes; prints "sent <hex> <bytes>" and the server's hash
  bulk.py down HOST PORT N SEED   receives; prints "received <hex> <bytes>"
The data is a SHA-256 counter stream from SEED, so both ends can also recompute it.
"""
import hashlib
import socket
import sys

CHUNK = 1 << 20


def stream(n, seed):
    block = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(CHUNK // 32))
    sent = 0
    counter = 0
    while sent < n:
        # Vary each chunk cheaply: a counter prefix, then the fixed pseudo-random block.
        chunk = counter.to_bytes(8, "little") + block[8:]
        chunk = chunk[: n - sent]
        yield chunk
        sent += len(chunk)
        counter += 1


def serve(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(4)
    print("listening", flush=True)
    while True:
        conn, _ = srv.accept()
        f = conn.makefile("rb")
        line = f.readline().decode().split()
        if line[0] == "UP":
            h, total = hashlib.sha256(), 0
            while True:
                data = f.read1(CHUNK)
                if not data:
                    break
                h.update(data)
                total += len(data)
            conn.sendall(h.hexdigest().encode())
            print("up", h.hexdigest(), total, flush=True)
        else:
            n, seed = int(line[1]), line[2]
            h = hashlib.sha256()
            for chunk in stream(n, seed):
                conn.sendall(chunk)
                h.update(chunk)
            print("down", h.hexdigest(), n, flush=True)
        f.close()
        conn.close()


def up(host, port, n, seed):
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(b"UP\n")
    h = hashlib.sha256()
    for chunk in stream(n, seed):
        s.sendall(chunk)
        h.update(chunk)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        answer += data
    print("sent", h.hexdigest(), n, "server", answer.decode(), flush=True)


def down(host, port, n, seed):
    s = socket.create_connection((host, port), timeout=60)
    s.sendall(f"DOWN {n} {seed}\n".encode())
    h, total = hashlib.sha256(), 0
    while True:
        data = s.recv(CHUNK)
        if not data:
            break
        h.update(data)
        total += len(data)
    print("received", h.hexdigest(), total, flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]))
    elif cmd == "up":
        up(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        down(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
