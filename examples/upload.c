/* upload - files up and down, streamed: PUT /files/<name> writes the request body to disk as it
 * arrives, GET /files/<name> sends a file back with mote_response_send_file() (sendfile(2): the
 * kernel copies it, never the program). Neither holds more than one piece of a file in memory,
 * whatever its size.
 *
 *     curl -T big.iso http://127.0.0.1:8080/files/big.iso
 *     curl -o copy.iso http://127.0.0.1:8080/files/big.iso
 *
 * Usage: upload [port] [directory] (8080 and "."; port 0 picks a free one). One line on stdout
 * for each upload: "stored NAME, N bytes" or "not stored NAME, N bytes received". */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mote.h"

#define PREFIX "/files/"
#define MAX_FILE_SIZE ((uint64_t)4 << 30) /* more: 413 (before a byte is read, when declared) */

static int dir_fd;             /* the directory, opened once: names are resolved inside it */
static unsigned long uploads;  /* numbers the temporary files */

static void reply(mote_response *res, int status, const char *text)
{
    mote_respond(res, status, "text/plain", text);
}

/* The file name after /files/, or NULL for one we refuse: a '/' could reach outside the
 * directory (mote has decoded %2F and removed dot-segments already), a leading '.' would make
 * hidden files (and ".", ".."), control characters make names no one can type. */
static const char *file_name(const mote_request *req)
{
    mote_str path = mote_request_path(req); /* "/files/..." : the route is that prefix */
    const char *name = path.ptr + strlen(PREFIX);
    size_t i, len = path.len - strlen(PREFIX);
    if (len == 0 || len > 255 || name[0] == '.') return NULL;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '/' || ch < 0x20 || ch == 0x7f) return NULL;
    }
    return name;
}

/* ---- PUT: the body goes to a temporary file, renamed to its name once complete ------------ */

typedef struct upload {
    int fd;                  /* the temporary file; -1 once closed */
    char temp[64];           /* its name, ".upload.PID.N": no client can name a dot file */
    char name[256];          /* the name it takes once the whole body is in */
    unsigned long long bytes;
    int stored;              /* renamed: there is nothing to remove */
} upload;

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The request's release: it is over, answered or cut off; what did not become the file goes. */
static void upload_closed(void *user, int completed)
{
    upload *u = user;
    (void)completed;
    if (u->fd >= 0) close(u->fd);
    if (!u->stored) unlinkat(dir_fd, u->temp, 0);
    printf("%s %s, %llu bytes%s\n", u->stored ? "stored" : "not stored", u->name, u->bytes,
           u->stored ? "" : " received");
    free(u);
}

/* Each piece of the body as it arrives, then data == NULL at its end. */
static void upload_data(mote_request *req, const void *data, size_t len, void *user)
{
    upload *u = user;
    mote_response *res = mote_request_response(req);
    char text[48];
    int existed, err;

    if (data) {
        if (write_all(u->fd, data, len) == 0) {
            u->bytes += len;
            return;
        }
        err = errno;
        /* The disk refuses: answer now rather than after the whole body. Pausing stops further
         * pieces, and "Connection: close" spares the client sending the rest. */
        mote_request_pause(req);
        mote_response_header(res, "Connection", "close");
        if (err == ENOSPC || err == EDQUOT || err == EFBIG)
            reply(res, 507, "insufficient storage\n");
        else
            reply(res, 500, "cannot write the file\n");
        return;
    }
    if (close(u->fd) < 0) { /* some file systems report write errors only here */
        u->fd = -1;
        reply(res, 500, "cannot write the file\n");
        return;
    }
    u->fd = -1;
    existed = faccessat(dir_fd, u->name, F_OK, 0) == 0;
    if (renameat(dir_fd, u->temp, dir_fd, u->name) < 0) { /* replaces an older one at once */
        reply(res, 500, "cannot store the file\n");
        return;
    }
    u->stored = 1;
    snprintf(text, sizeof text, "%llu bytes\n", u->bytes);
    reply(res, existed ? 200 : 201, text); /* 201 Created, or 200 for a file replaced */
}

static void put_file(mote_request *req, mote_response *res, const char *name)
{
    upload *u = calloc(1, sizeof *u);
    if (!u) {
        reply(res, 503, "out of memory\n");
        return;
    }
    snprintf(u->temp, sizeof u->temp, ".upload.%ld.%lu", (long)getpid(), ++uploads);
    strcpy(u->name, name); /* file_name() checked its length */
    u->fd = openat(dir_fd, u->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (u->fd < 0) {
        free(u);
        reply(res, 500, "cannot create the file\n");
        return;
    }
    /* the response stays open past this handler, until the body has ended; upload_closed runs
     * once the request is over, however it ends, also when the client goes away in the middle */
    mote_request_set_user(req, u, upload_closed);
    mote_request_read_body(req, upload_data, u);
}

/* ---- GET: the file from the disk to the socket, by the kernel -------------------------------- */

static void get_file(mote_response *res, const char *name)
{
    struct stat st;
    mote_file file;
    /* O_NONBLOCK: a FIFO left in the directory must not block the server (files ignore it) */
    int fd = openat(dir_fd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        reply(res, 404, "no such file\n");
        return;
    }
    file = mote_file_from_fd(fd); /* mote closes it once sent (HEAD: at once) */
    mote_response_header(res, "Content-Type", "application/octet-stream");
    if (mote_response_send_file(res, &file, 0, (uint64_t)st.st_size) < 0) {
        close(fd);
        reply(res, 503, "cannot send the file\n");
    }
}

static void files(mote_request *req, mote_response *res, void *user)
{
    const char *name = file_name(req);
    (void)user;
    if (!name) reply(res, 400, "bad file name\n");
    else if (mote_request_method_id(req) == MOTE_PUT) put_file(req, res, name);
    else get_file(res, name); /* GET or HEAD: the route takes no other method */
}

static mote_server *server;

static void on_signal(int sig)
{
    (void)sig;
    mote_server_stop(server); /* safe in a signal handler: the loop finishes what is open */
}

int main(int argc, char **argv)
{
    const mote_route_def route = {.path = PREFIX, .match = MOTE_ROUTE_PREFIX, .handler = files,
                                  .methods = MOTE_GET | MOTE_PUT, .max_body_size = MAX_FILE_SIZE};
    const char *dir = argc > 2 ? argv[2] : ".";
    struct sigaction sa;
    int listener, rc;

    setvbuf(stdout, NULL, _IOLBF, 0); /* a line at a time, also into a pipe */
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        fprintf(stderr, "upload: %s: %s\n", dir, strerror(errno));
        return 2;
    }
    if (mote_server_create(&server, NULL) < 0) return 1;
    mote_route(server, &route);
    listener = mote_listen(server, NULL, (uint16_t)(argc > 1 ? atoi(argv[1]) : 8080));
    if (listener < 0) {
        fprintf(stderr, "upload: %s\n", mote_strerror(listener));
        mote_server_destroy(server);
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("upload: listening on port %d, files in %s\n", mote_listener_port(server, listener),
           dir);
    rc = mote_server_run(server);
    signal(SIGINT, SIG_DFL); /* from now on the handler would reach a destroyed server */
    signal(SIGTERM, SIG_DFL);
    mote_server_destroy(server);
    close(dir_fd);
    return rc < 0;
}
