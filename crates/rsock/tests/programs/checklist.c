/*
 * The remote-socket checklist (../../../../../shared/RSOCK.md, docs/DESIGN.md §5), call by call,
 * straight against libc. The socket under test ("T") is made with libc's socket(), so under
 * ssi-exec it is a remote socket homed on the origin; its counterpart ("P") is made with raw
 * system calls, which the preload library never sees, so P is always a plain socket of the node
 * the program runs on. The same binary runs without ssi-exec too, and every line it prints
 * must be the same both ways: "ok NAME", or "FAIL NAME: what happened" (exit status 1).
 *
 *   checklist SELF_IP ORIGIN_IP
 *     SELF_IP    an IPv4 address of the node this runs on (P listens there)
 *     ORIGIN_IP  an IPv4 address of the origin (T binds there); SELF_IP without ssi-exec
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;
static struct in_addr self_ip, origin_ip;
static const char *program;

static int check(const char *name, int ok, const char *fmt, ...) {
    if (ok) {
        printf("ok %s\n", name);
    } else {
        va_list ap;
        failures++;
        printf("FAIL %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf(" (errno %d %s)\n", errno, strerror(errno));
    }
    fflush(stdout);
    return ok;
}

/* --- P: plain sockets through raw system calls (never intercepted) --- */
static int p_socket(int domain) { return (int)syscall(SYS_socket, domain, SOCK_STREAM | SOCK_CLOEXEC, 0); }
static int p_bind(int fd, const void *a, socklen_t l) { return (int)syscall(SYS_bind, fd, a, l); }
static int p_listen(int fd) { return (int)syscall(SYS_listen, fd, 16); }
static int p_accept(int fd) { return (int)syscall(SYS_accept4, fd, NULL, NULL, SOCK_CLOEXEC); }
static int p_connect(int fd, const void *a, socklen_t l) { return (int)syscall(SYS_connect, fd, a, l); }
static int p_name(int fd, struct sockaddr_in *a, int peer) {
    socklen_t l = sizeof *a;
    return (int)syscall(peer ? SYS_getpeername : SYS_getsockname, fd, a, &l);
}
static int p_shutdown(int fd, int how) { return (int)syscall(SYS_shutdown, fd, how); }

static struct sockaddr_in sin_of(struct in_addr ip, unsigned short port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr = ip;
    a.sin_port = htons(port);
    return a;
}

static char *fmt_addr(const struct sockaddr_in *a, char *buf) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    sprintf(buf, "%s:%u", ip, ntohs(a->sin_port));
    return buf;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b) {
    return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* A plain listener on SELF_IP with a kernel-chosen port. */
static int p_listener(struct sockaddr_in *addr) {
    int fd = p_socket(AF_INET);
    *addr = sin_of(self_ip, 0);
    if (fd < 0 || p_bind(fd, addr, sizeof *addr) || p_listen(fd) || p_name(fd, addr, 0)) {
        perror("plain listener");
        exit(2);
    }
    return fd;
}

static int wait_for(int fd, short events, int ms) {
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, ms);
    return n > 0 ? p.revents : 0;
}

/* T connected to a fresh plain listener; *peer is P's accepted end. */
static int t_connected(int *peer) {
    struct sockaddr_in at;
    int l = p_listener(&at);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    if (t < 0 || connect(t, (struct sockaddr *)&at, sizeof at)) {
        perror("connect to the plain listener");
        exit(2);
    }
    *peer = p_accept(l);
    close(l);
    if (*peer < 0) {
        perror("plain accept");
        exit(2);
    }
    return t;
}

static int int_opt(int fd, int level, int name) {
    int v = -12345;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) != 0) return -12345;
    return v;
}

static int set_int(int fd, int level, int name, int v) {
    return setsockopt(fd, level, name, &v, sizeof v);
}

static ssize_t read_all(int fd, char *buf, size_t want, int ms) {
    size_t got = 0;
    while (got < want) {
        if (!(wait_for(fd, POLLIN, ms) & (POLLIN | POLLHUP | POLLERR))) break;
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0) return got ? (ssize_t)got : n;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static void socket_flags(void) {
    int t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    check("socket_nonblock_cloexec", t >= 0 && (fcntl(t, F_GETFL) & O_NONBLOCK) &&
          (fcntl(t, F_GETFD) & FD_CLOEXEC), "fd %d fl %x fd-flags %x", t, fcntl(t, F_GETFL), fcntl(t, F_GETFD));
    close(t);
    t = socket(AF_INET, SOCK_STREAM, 0);
    check("socket_plain_flags", t >= 0 && !(fcntl(t, F_GETFL) & O_NONBLOCK) &&
          !(fcntl(t, F_GETFD) & FD_CLOEXEC), "fd %d", t);
    check("so_type_domain_protocol", int_opt(t, SOL_SOCKET, SO_TYPE) == SOCK_STREAM &&
          int_opt(t, SOL_SOCKET, SO_DOMAIN) == AF_INET && int_opt(t, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP,
          "type %d domain %d protocol %d", int_opt(t, SOL_SOCKET, SO_TYPE), int_opt(t, SOL_SOCKET, SO_DOMAIN),
          int_opt(t, SOL_SOCKET, SO_PROTOCOL));
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    errno = 0;
    int r = getpeername(t, (struct sockaddr *)&a, &l);
    check("getpeername_enotconn", r == -1 && errno == ENOTCONN, "returned %d", r);
    close(t);
}

static void options(void) {
    int peer, t = t_connected(&peer);
    check("tcp_nodelay", set_int(t, IPPROTO_TCP, TCP_NODELAY, 1) == 0 && int_opt(t, IPPROTO_TCP, TCP_NODELAY) == 1,
          "got %d", int_opt(t, IPPROTO_TCP, TCP_NODELAY));
    check("so_keepalive", set_int(t, SOL_SOCKET, SO_KEEPALIVE, 1) == 0 && int_opt(t, SOL_SOCKET, SO_KEEPALIVE) == 1,
          "got %d", int_opt(t, SOL_SOCKET, SO_KEEPALIVE));
    check("tcp_keepidle", set_int(t, IPPROTO_TCP, TCP_KEEPIDLE, 33) == 0 && int_opt(t, IPPROTO_TCP, TCP_KEEPIDLE) == 33,
          "got %d", int_opt(t, IPPROTO_TCP, TCP_KEEPIDLE));
    check("so_rcvbuf", set_int(t, SOL_SOCKET, SO_RCVBUF, 65536) == 0 && int_opt(t, SOL_SOCKET, SO_RCVBUF) == 131072,
          "got %d", int_opt(t, SOL_SOCKET, SO_RCVBUF));
    errno = 0;
    check("bad_option_enoprotoopt", set_int(t, IPPROTO_TCP, 9999, 1) == -1 && errno == ENOPROTOOPT, "accepted");
    int v = 0;
    socklen_t negative = (socklen_t)-1; /* the kernel reads optlen as an int */
    errno = 0;
    check("getsockopt_negative_len_einval", getsockopt(t, SOL_SOCKET, SO_KEEPALIVE, &v, &negative) == -1 &&
          errno == EINVAL, "accepted, length %u", negative);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    char c;
    check("so_rcvtimeo", setsockopt(t, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
          read(t, &c, 1) == -1 && errno == EAGAIN, "read did not time out");
    write(peer, "12345", 5);
    wait_for(t, POLLIN, 3000);
    int queued = -1;
    usleep(50000);
    check("fionread", ioctl(t, FIONREAD, &queued) == 0 && queued == 5, "FIONREAD %d", queued);
    close(t);
    close(peer);
}

static void bind_listen_accept(void) {
    int t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = sin_of(origin_ip, 0), got, back;
    socklen_t l = sizeof got;
    char b1[64], b2[64];
    check("so_reuseaddr", set_int(t, SOL_SOCKET, SO_REUSEADDR, 1) == 0 && int_opt(t, SOL_SOCKET, SO_REUSEADDR) == 1,
          "got %d", int_opt(t, SOL_SOCKET, SO_REUSEADDR));
    int r = bind(t, (struct sockaddr *)&a, sizeof a);
    check("bind_port0_getsockname", r == 0 && getsockname(t, (struct sockaddr *)&got, &l) == 0 &&
          got.sin_port != 0 && got.sin_addr.s_addr == origin_ip.s_addr, "bind %d, name %s", r, fmt_addr(&got, b1));
    errno = 0;
    struct sockaddr_in again = sin_of(origin_ip, ntohs(got.sin_port));
    int t2 = socket(AF_INET, SOCK_STREAM, 0);
    check("listen_acceptconn", listen(t, 8) == 0 && int_opt(t, SOL_SOCKET, SO_ACCEPTCONN) == 1,
          "acceptconn %d", int_opt(t, SOL_SOCKET, SO_ACCEPTCONN));
    errno = 0;
    r = bind(t2, (struct sockaddr *)&again, sizeof again);
    check("bind_in_use_eaddrinuse", r == -1 && errno == EADDRINUSE, "bind returned %d", r);
    close(t2);
    errno = 0;
    r = accept4(t, NULL, NULL, 0);
    check("accept_eagain", r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "returned %d", r);
    check("listener_no_pollout", !(wait_for(t, POLLIN | POLLOUT, 100) & POLLOUT), "POLLOUT on a listener");
    int p = p_socket(AF_INET);
    check("peer_connects", p_connect(p, &got, sizeof got) == 0, "to %s", fmt_addr(&got, b1));
    check("listener_pollin", wait_for(t, POLLIN, 3000) & POLLIN, "no POLLIN after a connection");
    struct sockaddr_in from, pname;
    l = sizeof from;
    int n = accept4(t, (struct sockaddr *)&from, &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
    p_name(p, &pname, 0);
    check("accept4_flags", n >= 0 && (fcntl(n, F_GETFL) & O_NONBLOCK) && (fcntl(n, F_GETFD) & FD_CLOEXEC),
          "fd %d", n);
    check("accept_peer_address", n >= 0 && l == sizeof from && same_addr(&from, &pname), "accept said %s, peer is %s",
          fmt_addr(&from, b1), fmt_addr(&pname, b2));
    l = sizeof back;
    check("accepted_getsockname", getsockname(n, (struct sockaddr *)&back, &l) == 0 && same_addr(&back, &got),
          "%s, listener %s", fmt_addr(&back, b1), fmt_addr(&got, b2));
    char buf[16] = {0};
    write(p, "ping", 4);
    ssize_t k = read_all(n, buf, 4, 3000);
    write(n, "pong", 4);
    char buf2[16] = {0};
    ssize_t k2 = read_all(p, buf2, 4, 3000);
    check("accepted_data_both_ways", k == 4 && !memcmp(buf, "ping", 4) && k2 == 4 && !memcmp(buf2, "pong", 4),
          "read %zd/%zd", k, k2);
    close(n);
    close(p);
    close(t);
}

static void connects(void) {
    struct sockaddr_in at, seen, mine, peer_of_t;
    char b1[64], b2[64];
    int l = p_listener(&at);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    int r = connect(t, (struct sockaddr *)&at, sizeof at);
    int p = p_accept(l);
    socklen_t sl = sizeof mine;
    getsockname(t, (struct sockaddr *)&mine, &sl);
    sl = sizeof peer_of_t;
    getpeername(t, (struct sockaddr *)&peer_of_t, &sl);
    p_name(p, &seen, 1);
    check("connect_blocking", r == 0 && p >= 0, "connect %d", r);
    check("connect_leaves_from_origin", seen.sin_addr.s_addr == origin_ip.s_addr && same_addr(&seen, &mine),
          "the peer sees %s, getsockname says %s", fmt_addr(&seen, b1), fmt_addr(&mine, b2));
    check("connected_getpeername", same_addr(&peer_of_t, &at), "%s", fmt_addr(&peer_of_t, b1));
    errno = 0;
    r = connect(t, (struct sockaddr *)&at, sizeof at);
    check("connect_again_eisconn", r == -1 && errno == EISCONN, "returned %d", r);
    close(t);
    close(p);
    close(l);

    /* A port nothing listens on: P binds it, never listens, keeps it. */
    int hole = p_socket(AF_INET);
    struct sockaddr_in closed = sin_of(self_ip, 0);
    p_bind(hole, &closed, sizeof closed);
    p_name(hole, &closed, 0);
    t = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    r = connect(t, (struct sockaddr *)&closed, sizeof closed);
    check("connect_refused", r == -1 && errno == ECONNREFUSED, "returned %d", r);
    close(t);

    t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    errno = 0;
    r = connect(t, (struct sockaddr *)&closed, sizeof closed);
    int e = errno;
    int ev = wait_for(t, POLLOUT, 3000);
    int so_error = int_opt(t, SOL_SOCKET, SO_ERROR);
    check("nonblocking_refused_einprogress_pollout_so_error",
          r == -1 && e == EINPROGRESS && (ev & POLLOUT) && so_error == ECONNREFUSED,
          "connect %d errno %d, revents %x, SO_ERROR %d", r, e, ev, so_error);
    check("so_error_clears", int_opt(t, SOL_SOCKET, SO_ERROR) == 0, "second SO_ERROR %d", int_opt(t, SOL_SOCKET, SO_ERROR));
    close(t);
    close(hole);

    l = p_listener(&at);
    t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    errno = 0;
    r = connect(t, (struct sockaddr *)&at, sizeof at);
    e = errno;
    int again = connect(t, (struct sockaddr *)&at, sizeof at);
    int e2 = errno;
    ev = wait_for(t, POLLOUT, 3000);
    so_error = int_opt(t, SOL_SOCKET, SO_ERROR);
    check("nonblocking_connect", r == -1 && e == EINPROGRESS && (ev & POLLOUT) && so_error == 0,
          "connect %d errno %d, revents %x, SO_ERROR %d", r, e, ev, so_error);
    /* Linux answers 0 to the first connect after the handshake completed, EISCONN later. */
    check("nonblocking_connect_again", again == 0 || (again == -1 && (e2 == EALREADY || e2 == EISCONN)),
          "second connect %d errno %d", again, e2);
    sl = sizeof peer_of_t;
    check("nonblocking_connected_getpeername", getpeername(t, (struct sockaddr *)&peer_of_t, &sl) == 0 &&
          same_addr(&peer_of_t, &at), "%s", fmt_addr(&peer_of_t, b1));
    p = p_accept(l);
    write(t, "x", 1);
    char c = 0;
    check("nonblocking_connect_data", read_all(p, &c, 1, 3000) == 1 && c == 'x', "no byte");
    close(t);
    close(p);
    close(l);
}

static void shutdowns(void) {
    int peer, t = t_connected(&peer);
    char buf[16] = {0};
    write(t, "req", 3);
    check("shutdown_wr", shutdown(t, SHUT_WR) == 0, "shutdown");
    ssize_t n = read_all(peer, buf, 3, 3000);
    ssize_t eof = read_all(peer, buf + 3, 1, 3000);
    check("shutdown_wr_peer_reads_eof", n == 3 && eof == 0, "read %zd then %zd", n, eof);
    write(peer, "reply", 5);
    p_shutdown(peer, SHUT_WR);
    memset(buf, 0, sizeof buf);
    n = read_all(t, buf, 5, 3000);
    eof = read_all(t, buf + 5, 1, 3000);
    check("half_closed_still_reads", n == 5 && !memcmp(buf, "reply", 5) && eof == 0, "read %zd then %zd", n, eof);
    close(t);
    close(peer);

    t = t_connected(&peer);
    errno = 0;
    check("shutdown_bad_how_einval", shutdown(t, 7) == -1 && errno == EINVAL, "accepted");
    check("shutdown_rd_reads_eof", shutdown(t, SHUT_RD) == 0 && read(t, buf, 1) == 0, "read after SHUT_RD");
    close(t);
    close(peer);

    t = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    check("shutdown_unconnected_enotconn", shutdown(t, SHUT_RDWR) == -1 && errno == ENOTCONN, "accepted");
    close(t);
}

static void closes(void) {
    int peer, t = t_connected(&peer);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    char c;
    check("so_linger_0", setsockopt(t, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0, "setsockopt");
    close(t);
    int ev = wait_for(peer, POLLIN, 3000);
    errno = 0;
    ssize_t n = read(peer, &c, 1);
    check("linger_0_close_resets", ev && n == -1 && errno == ECONNRESET, "revents %x, read %zd", ev, n);
    close(peer);

    t = t_connected(&peer);
    int d = dup(t);
    close(t);
    check("close_with_dup_keeps_open", !(wait_for(peer, POLLIN, 300) & POLLIN), "the peer saw a close");
    int d2 = dup2(d, 200);
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    check("dup2_still_a_socket", d2 == 200 && getpeername(200, (struct sockaddr *)&a, &l) == 0, "getpeername");
    close(d);
    close(200);
    ev = wait_for(peer, POLLIN, 3000);
    check("last_close_sends_fin", (ev & POLLIN) && read(peer, &c, 1) == 0, "revents %x", ev);
    close(peer);
}

static void epoll_edges(void) {
    int peer, t = t_connected(&peer);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.fd = t}, out[4];
    epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev);
    write(peer, "a", 1);
    int n1 = epoll_wait(ep, out, 4, 3000);
    int in1 = n1 == 1 && (out[0].events & EPOLLIN);
    int n2 = epoll_wait(ep, out, 4, 200);
    write(peer, "b", 1);
    int n3 = epoll_wait(ep, out, 4, 3000);
    check("epoll_et", in1 && n2 == 0 && n3 == 1, "events %d, %d (want 0), %d", n1, n2, n3);
    p_shutdown(peer, SHUT_WR);
    int rdhup = 0;
    for (int i = 0; i < 3 && !rdhup; i++) {
        int n = epoll_wait(ep, out, 4, 3000);
        rdhup = n == 1 && (out[0].events & EPOLLRDHUP);
    }
    check("epoll_rdhup", rdhup, "no EPOLLRDHUP after the peer's FIN");
    close(ep);
    close(t);
    close(peer);
}

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int s) { (void)s; sigpipes++; }

static void sigpipe(void) {
    int peer, t = t_connected(&peer);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    close(peer);
    ssize_t r = 0;
    int e = 0;
    for (int i = 0; i < 300; i++) {
        r = write(t, "x", 1);
        if (r < 0) { e = errno; break; }
        usleep(10000);
    }
    check("write_after_peer_close_epipe_sigpipe", r == -1 && e == EPIPE && sigpipes > 0,
          "write %zd errno %d, %d SIGPIPE", r, e, (int)sigpipes);
    int before = sigpipes;
    errno = 0;
    r = send(t, "x", 1, MSG_NOSIGNAL);
    check("msg_nosignal", r == -1 && errno == EPIPE && sigpipes == before, "send %zd", r);
    signal(SIGPIPE, SIG_DFL);
    close(t);
}

static void fork_exec(void) {
    int peer, t = t_connected(&peer);
    pid_t pid = fork();
    if (pid == 0) {
        write(t, "child;", 6);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    write(t, "parent", 6);
    char buf[32] = {0};
    ssize_t n = read_all(peer, buf, 12, 3000);
    check("fork_shares_socket", n == 12 && !memcmp(buf, "child;parent", 12), "peer read %zd: %s", n, buf);

    fcntl(t, F_SETFD, 0);
    pid = fork();
    if (pid == 0) {
        char fd[16];
        sprintf(fd, "%d", t);
        execl("/proc/self/exe", program, "--exec-child", fd, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    memset(buf, 0, sizeof buf);
    n = read_all(peer, buf, 7, 3000);
    check("exec_inherits_socket", WIFEXITED(status) && WEXITSTATUS(status) == 0 && n == 7 && !memcmp(buf, "exec ok", 7),
          "child status %d, peer read %zd: %s", status, n, buf);
    close(t);
    close(peer);

    t = t_connected(&peer);
    pid = fork();
    if (pid == 0) {
        execl("/bin/true", "true", (char *)NULL); /* t is close-on-exec: the exec closes it */
        _exit(127);
    }
    waitpid(pid, &status, 0);
    close(t);
    int ev = wait_for(peer, POLLIN, 3000);
    char c;
    check("cloexec_and_exit_close", (ev & POLLIN) && read(peer, &c, 1) == 0, "revents %x", ev);
    close(peer);
}

/* After exec: the inherited socket still answers control calls and carries data. */
static int exec_child(int fd) {
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    if (getpeername(fd, (struct sockaddr *)&a, &l) != 0 || a.sin_family != AF_INET) return 3;
    if (int_opt(fd, SOL_SOCKET, SO_TYPE) != SOCK_STREAM) return 4;
    return write(fd, "exec ok", 7) == 7 ? 0 : 5;
}

static void ipv6(void) {
    int t = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a, got, from;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    socklen_t l = sizeof got;
    check("ipv6_v6only", set_int(t, IPPROTO_IPV6, IPV6_V6ONLY, 1) == 0 && int_opt(t, IPPROTO_IPV6, IPV6_V6ONLY) == 1,
          "got %d", int_opt(t, IPPROTO_IPV6, IPV6_V6ONLY));
    int ok = bind(t, (struct sockaddr *)&a, sizeof a) == 0 && listen(t, 4) == 0 &&
             getsockname(t, (struct sockaddr *)&got, &l) == 0 && got.sin6_port != 0;
    check("ipv6_bind_listen", ok, "bind/listen on [::1]:0");
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    int r = connect(c, (struct sockaddr *)&got, sizeof got);
    l = sizeof from;
    int n = accept(t, (struct sockaddr *)&from, &l);
    char buf[4] = {0};
    write(c, "v6", 2);
    check("ipv6_connect_accept", r == 0 && n >= 0 && from.sin6_family == AF_INET6 &&
          IN6_IS_ADDR_LOOPBACK(&from.sin6_addr) && read_all(n, buf, 2, 3000) == 2, "connect %d accept %d", r, n);
    close(n);
    close(c);
    close(t);
}

int main(int argc, char **argv) {
    program = argv[0];
    if (argc == 3 && !strcmp(argv[1], "--exec-child")) return exec_child(atoi(argv[2]));
    if (argc != 3 || !inet_pton(AF_INET, argv[1], &self_ip) || !inet_pton(AF_INET, argv[2], &origin_ip)) {
        fprintf(stderr, "usage: %s SELF_IP ORIGIN_IP\n", argv[0]);
        return 2;
    }
    alarm(120); /* never hang a test run */
    socket_flags();
    options();
    bind_listen_accept();
    connects();
    shutdowns();
    closes();
    epoll_edges();
    sigpipe();
    fork_exec();
    ipv6();
    return failures ? 1 : 0;
}
