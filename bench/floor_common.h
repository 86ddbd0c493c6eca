/* floor_common.h - what bench/floor.c and bench/floor_uring.c share: the listener, the canned
 * response and the count of request heads in what was read. Linux, bench only. */
#ifndef MOTE_BENCH_FLOOR_COMMON_H
#define MOTE_BENCH_FLOOR_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char response[4096];
static size_t response_len;

/* One error line and exit status 2, as for any bad option or file. */
static int fail(const char *prog, const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
    return 2;
}

/* Reads the canned response; 0, or the errno of the failure. */
static int load_response(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return errno;
    response_len = fread(response, 1, sizeof response, f);
    fclose(f);
    return response_len ? 0 : EINVAL;
}

static int listen_on(int port, int type_flags)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0), one = 1;
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1024) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* How many blank lines ("\r\n\r\n") end request heads in what one read returned. */
static size_t count_heads(const char *p, size_t n)
{
    size_t heads = 0, i;
    for (i = 0; i + 4 <= n; i++) {
        if (p[i] == '\r' && memcmp(p + i, "\r\n\r\n", 4) == 0) heads++;
    }
    return heads;
}

#endif
