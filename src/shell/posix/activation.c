/* activation.c - systemd's socket activation without libsystemd (sd_listen_fds(3)'s
 * protocol): the listening sockets a service manager opened, passed from descriptor 3 up, so
 * that they outlive each process that serves them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mote.h"

#define FIRST_FD 3

/* A decimal number without sign or leading junk, up to `max`; -1 when it is not one. */
static long parse_count(const char *s, long max)
{
    char *end;
    long v;
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    return (*end || errno || v > max) ? -1 : v;
}

static void forget_variables(void)
{
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
}

/* The i-th name of a colon-separated list into out (empty when there is none). */
static void nth_name(const char *names, long i, char *out, size_t len)
{
    size_t n;
    out[0] = '\0';
    while (names && i-- > 0) {
        names = strchr(names, ':');
        if (names) names++;
    }
    if (!names) return;
    n = strcspn(names, ":");
    if (n >= len) n = len - 1;
    memcpy(out, names, n);
    out[n] = '\0';
}

int mote_listen_fds(mote_inherited_fd *out, size_t max)
{
    const char *pid_text = getenv("LISTEN_PID"), *names = getenv("LISTEN_FDNAMES");
    long pid, count, i;
    if (!pid_text) return 0;
    pid = parse_count(pid_text, 0x7fffffffL);
    count = parse_count(getenv("LISTEN_FDS"), 4096);
    if (pid < 0 || count < 0) return MOTE_EINVAL;
    if (pid != (long)getpid()) return 0; /* meant for another process (our parent's) */
    forget_variables();
    for (i = 0; i < count; i++) {
        /* a child we start later must not inherit them */
        if (fcntl(FIRST_FD + (int)i, F_SETFD, FD_CLOEXEC) < 0) return MOTE_EINVAL;
        if ((size_t)i < max && out) {
            out[i].fd = FIRST_FD + (int)i;
            nth_name(names, i, out[i].name, sizeof out[i].name);
        }
    }
    return (size_t)count < max ? (int)count : (int)max;
}
