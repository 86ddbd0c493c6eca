/* net.c - see net.h. */
#define _GNU_SOURCE /* accept4, MSG_MORE */
#include "shell/posix/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

#include "core/addr.h"

#define LISTEN_BACKLOG 511

/* Parses a numeric address; the wildcard gets IPv6 with IPV6_V6ONLY off. */
static int parse_address(const char *addr, uint16_t port, struct sockaddr_storage *ss,
                         socklen_t *len, int *dual_stack)
{
    char text[INET6_ADDRSTRLEN + 2];
    size_t n = addr ? strlen(addr) : 0;
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;

    memset(ss, 0, sizeof *ss);
    *dual_stack = 0;
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    if (n >= sizeof text) return MOTE_EADDR;
    memcpy(text, addr ? addr : "", n);
    text[n] = '\0';
    if (n == 0 || strcmp(text, "::") == 0) {
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        v6->sin6_port = htons(port);
        *len = sizeof *v6;
        *dual_stack = 1;
        return MOTE_OK;
    }
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof *v4;
        return MOTE_OK;
    }
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof *v6;
        return MOTE_OK;
    }
    return MOTE_EADDR;
}

/* Linux counts the deferral in seconds: past it, a silent connection is accepted anyway. */
static int defer_accept(int fd, unsigned flags)
{
#ifdef TCP_DEFER_ACCEPT
    int seconds = 1;
    if (flags & NET_DEFER_ACCEPT)
        return setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds);
#endif
    (void)fd;
    (void)flags;
    return 0;
}

static int open_listener(const struct sockaddr_storage *ss, socklen_t len, int dual_stack,
                         unsigned flags)
{
    int one = 1, v6only = dual_stack ? 0 : 1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        ((flags & NET_REUSE_PORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        defer_accept(fd, flags) < 0 ||
        bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int net_listen(const char *addr, uint16_t port, unsigned flags, char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int dual, fd;

    if (parse_address(addr, port, &ss, &len, &dual) < 0) {
        snprintf(err, err_len, "'%s' is not a numeric IPv4 or IPv6 address", addr ? addr : "");
        return MOTE_EADDR;
    }
    fd = open_listener(&ss, len, dual, flags);
    if (fd < 0 && dual && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
        /* a host without IPv6: the wildcard is IPv4's */
        struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)&ss;
        memset(&ss, 0, sizeof ss);
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons(port);
        fd = open_listener(&ss, sizeof *v4, 0, flags);
    }
    if (fd < 0) {
        snprintf(err, err_len, "cannot listen on [%s]:%u: %s", addr ? addr : "::", (unsigned)port,
                 strerror(errno));
        return errno == EADDRINUSE || errno == EADDRNOTAVAIL || errno == EACCES ? MOTE_EADDR
                                                                               : MOTE_ESYS;
    }
    return fd;
}

int net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return MOTE_ESYS;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
}

static void addr_from_sockaddr(const struct sockaddr_storage *ss, mote_addr *a)
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(a, 0, sizeof *a);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)ss;
        a->family = 4;
        memcpy(a->bytes, &v4->sin_addr, 4);
        a->port = ntohs(v4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)ss;
        a->port = ntohs(v6->sin6_port);
        if (memcmp(&v6->sin6_addr, v4_mapped, 12) == 0) {
            /* an IPv4 client of a dual-stack socket is shown as the IPv4 address it is */
            a->family = 4;
            memcpy(a->bytes, (const uint8_t *)&v6->sin6_addr + 12, 4);
        } else {
            a->family = 6;
            memcpy(a->bytes, &v6->sin6_addr, 16);
        }
    }
}

void net_local_address(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    mote_addr a;
    memset(&ss, 0, sizeof ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) ss.ss_family = AF_UNSPEC;
    addr_from_sockaddr(&ss, &a);
    if (addr_format(&a, buf, len) < 0 && len) buf[0] = '\0';
}

int net_accept(int listen_fd, mote_addr *peer)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return -1;
#ifndef __linux__
    {
        int one = 1; /* Linux copies TCP_NODELAY from the listener; others may not */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
#endif
    addr_from_sockaddr(&ss, peer);
    return fd;
}

static long system_recv(void *ctx, int fd, void *buf, size_t len)
{
    (void)ctx;
    return (long)recv(fd, buf, len, 0);
}

static long system_send(void *ctx, int fd, const void *buf, size_t len, int more)
{
    (void)ctx;
    return (long)send(fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static long system_sendv(void *ctx, int fd, const struct iovec *iov, int count, int more)
{
    struct msghdr m;
    (void)ctx;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)(uintptr_t)iov; /* sendmsg(2) only reads it */
    m.msg_iovlen = (size_t)count;
    return (long)sendmsg(fd, &m, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static long system_sendfile(void *ctx, int fd, int file_fd, uint64_t off, size_t len)
{
#ifdef __linux__
    off_t at = (off_t)off;
    (void)ctx;
    return (long)sendfile(fd, file_fd, &at, len);
#else
    /* no sendfile(2) of Linux's kind: a read and a send of one piece */
    char buf[16384];
    ssize_t n = pread(file_fd, buf, len < sizeof buf ? len : sizeof buf, (off_t)off);
    (void)ctx;
    if (n <= 0) return (long)n;
    return (long)send(fd, buf, (size_t)n, MSG_NOSIGNAL);
#endif
}

static int system_accept(void *ctx, int listen_fd, mote_addr *peer)
{
    (void)ctx;
    return net_accept(listen_fd, peer);
}

const net_io net_io_system = {system_recv, system_send, system_accept, system_sendfile, NULL,
                               system_sendv};

int net_adopt(int fd, char *err, size_t err_len)
{
    int type = 0, listening = 0, flags;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
        snprintf(err, err_len, "descriptor %d is not a stream socket", fd);
        return MOTE_EINVAL;
    }
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
        snprintf(err, err_len, "socket %d is not listening", fd);
        return MOTE_EINVAL;
    }
    if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        snprintf(err, err_len, "socket %d: %s", fd, strerror(errno));
        return MOTE_ESYS;
    }
    return MOTE_OK;
}
