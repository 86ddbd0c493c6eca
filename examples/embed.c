/* embed - mote inside an event loop the application already has.
 *
 * The application owns the loop (here a poll(2) over its own descriptors); mote adds one
 * descriptor to watch and a deadline to wake up for. Whenever either fires, one non-blocking
 * mote_server_step() does mote's share of the work. Usage: embed [port] (0 picks a free one). */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mote.h"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static void status(mote_request *req, mote_response *res, void *user)
{
    const unsigned long *ticks = user;
    char body[64];
    (void)req;
    snprintf(body, sizeof body, "ticks: %lu\n", *ticks);
    mote_respond(res, 200, "text/plain", body);
}

int main(int argc, char **argv)
{
    mote_server *srv;
    struct sigaction sa;
    struct pollfd fds[2];
    unsigned long ticks = 0;
    int listener, fd;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (mote_server_create(&srv, NULL) < 0) return 1;
    mote_route(srv, &(mote_route_def){.path = "/status", .handler = status, .user = &ticks});
    listener = mote_listen(srv, "127.0.0.1", (uint16_t)(argc > 1 ? atoi(argv[1]) : 8080));
    fd = mote_server_fd(srv);
    if (listener < 0 || fd < 0) {
        fprintf(stderr, "embed: %s\n", mote_strerror(listener < 0 ? listener : fd));
        mote_server_destroy(srv);
        return 1;
    }
    printf("embed: listening on 127.0.0.1 port %d\n", mote_listener_port(srv, listener));
    fflush(stdout);

    fds[0].fd = fd;                  /* mote's work */
    fds[0].events = POLLIN;
    fds[1].fd = STDIN_FILENO;        /* the application's own: each line read is a "tick" */
    fds[1].events = POLLIN;
    while (!quit) {
        int timeout = mote_server_timeout_ms(srv);
        if (poll(fds, 2, timeout) < 0) continue; /* EINTR: look at quit */
        if (fds[1].revents) {
            char buf[256];
            ssize_t i, n = read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0) fds[1].fd = -1;
            for (i = 0; i < n; i++) ticks += buf[i] == '\n';
        }
        if (mote_server_step(srv, 0) != MOTE_RUNNING) break; /* also runs due timers */
    }
    mote_server_stop(srv);
    while (mote_server_step(srv, mote_server_timeout_ms(srv)) == MOTE_RUNNING) {
    }
    mote_server_destroy(srv);
    printf("embed: stopped after %lu ticks\n", ticks);
    return 0;
}
