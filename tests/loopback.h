/* loopback.h - a blocking TCP client for the tests that run a server in-process: it connects
 * to 127.0.0.1:port with receive and send timeouts (a hang becomes a failed read, never a stuck
 * test) and TCP_NODELAY (no delayed-ACK stalls between small writes). */
#ifndef MOTE_TEST_LOOPBACK_H
#define MOTE_TEST_LOOPBACK_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A connected socket, or -1. */
static inline int loopback_dial(int port, int timeout_s)
{
    struct sockaddr_in sa;
    struct timeval tv;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    tv.tv_sec = timeout_s;
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#endif
