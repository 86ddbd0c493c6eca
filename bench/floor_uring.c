/* floor_uring.c - floor.c's yardstick over io_uring instead of epoll: the cheapest keep-alive
 * responder a completion-based server can be on this kernel. One multishot accept, one multishot
 * recv per connection into a ring of provided buffers, a send per request whose success posts
 * no completion, and one io_uring_enter per batch (SINGLE_ISSUER + DEFER_TASKRUN, so the
 * receive work runs inside that call). No HTTP work: for each blank line it reads it sends the
 * canned response. It shows what a completion-based loop would save over epoll, before anyone
 * builds one.
 *
 * Raw system calls and <linux/io_uring.h> only (no liburing). Linux 6.1 or later. Not a server:
 * it trusts each request to arrive whole in one read, as wrk's do.
 *
 * usage: floor_uring PORT RESPONSE-FILE   (listens on 127.0.0.1:PORT; runs until killed) */
#define _GNU_SOURCE /* syscall */
#include <linux/io_uring.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "floor_common.h"

#define RING_ENTRIES 4096u
#define BUFFERS 4096u       /* provided receive buffers (a power of two) */
#define BUFFER_SIZE 2048u
#define GROUP 0

enum { OP_ACCEPT, OP_RECV, OP_SEND };

struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    unsigned to_submit;
    struct io_uring_buf_ring *bufs;
    unsigned short buf_tail;
    char *buf_memory;
};

static unsigned load_acquire(const unsigned *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(unsigned *p, unsigned v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static int ring_setup(struct ring *r)
{
    struct io_uring_params p;
    size_t sq_len, cq_len;
    char *sq, *cq;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    r->fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &p);
    if (r->fd < 0) return -errno;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) return -ENOTSUP;
    sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_len > sq_len) sq_len = cq_len;
    sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
              IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) return -errno;
    cq = sq; /* one mapping for both rings */
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) return -errno;
    r->sq_head = (unsigned *)(void *)(sq + p.sq_off.head);
    r->sq_tail = (unsigned *)(void *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(void *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(void *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(void *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(void *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(void *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(void *)(cq + p.cq_off.cqes);
    return 0;
}

static void buffer_give(struct ring *r, unsigned short id)
{
    struct io_uring_buf *b = &r->bufs->bufs[r->buf_tail & (BUFFERS - 1)];
    b->addr = (uint64_t)(uintptr_t)(r->buf_memory + (size_t)id * BUFFER_SIZE);
    b->len = BUFFER_SIZE;
    b->bid = id;
    r->buf_tail++;
}

static void buffers_publish(struct ring *r)
{
    __atomic_store_n(&r->bufs->tail, r->buf_tail, __ATOMIC_RELEASE);
}

static int buffers_setup(struct ring *r)
{
    struct io_uring_buf_reg reg;
    unsigned short i;
    r->bufs = mmap(NULL, BUFFERS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r->buf_memory = malloc((size_t)BUFFERS * BUFFER_SIZE);
    if (r->bufs == MAP_FAILED || !r->buf_memory) return -ENOMEM;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)r->bufs;
    reg.ring_entries = BUFFERS;
    reg.bgid = GROUP;
    if (syscall(__NR_io_uring_register, r->fd, IORING_REGISTER_PBUF_RING, &reg, 1) != 0)
        return -errno;
    for (i = 0; i < BUFFERS; i++) buffer_give(r, i);
    buffers_publish(r);
    return 0;
}

static int submit(struct ring *r, unsigned wait_for)
{
    unsigned n = r->to_submit;
    long rc;
    r->to_submit = 0;
    do {
        rc = syscall(__NR_io_uring_enter, r->fd, n, wait_for,
                     wait_for ? IORING_ENTER_GETEVENTS : 0u, NULL, 0);
    } while (rc < 0 && errno == EINTR && wait_for);
    return rc < 0 ? -errno : 0;
}

static uint64_t tag(int op, int fd)
{
    return (uint64_t)(unsigned)fd << 8 | (unsigned)op;
}

/* The next submission entry, for `opcode` on fd, tagged with our op for its completion. */
static struct io_uring_sqe *sqe_next(struct ring *r, unsigned char opcode, int op, int fd)
{
    unsigned tail = *r->sq_tail, index;
    struct io_uring_sqe *sqe;
    if (tail - load_acquire(r->sq_head) >= RING_ENTRIES) {
        submit(r, 0); /* the ring is full: hand these over first */
    }
    index = tail & *r->sq_mask;
    sqe = &r->sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = opcode;
    sqe->fd = fd;
    sqe->user_data = tag(op, fd);
    r->sq_array[index] = index;
    store_release(r->sq_tail, tail + 1);
    r->to_submit++;
    return sqe;
}

static void queue_accept(struct ring *r, int listener)
{
    sqe_next(r, IORING_OP_ACCEPT, OP_ACCEPT, listener)->ioprio = IORING_ACCEPT_MULTISHOT;
}

static void queue_recv(struct ring *r, int fd)
{
    struct io_uring_sqe *sqe = sqe_next(r, IORING_OP_RECV, OP_RECV, fd);
    sqe->ioprio = IORING_RECV_MULTISHOT;
    sqe->flags = IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
}

static void queue_send(struct ring *r, int fd)
{
    struct io_uring_sqe *sqe = sqe_next(r, IORING_OP_SEND, OP_SEND, fd);
    sqe->addr = (uint64_t)(uintptr_t)response;
    sqe->len = (unsigned)response_len;
    sqe->msg_flags = MSG_NOSIGNAL;
    sqe->flags = IOSQE_CQE_SKIP_SUCCESS; /* only a failure posts a completion */
}

static void received(struct ring *r, int fd, const struct io_uring_cqe *cqe)
{
    unsigned short id;
    size_t heads;
    if (cqe->res <= 0) {
        if (cqe->res == -ENOBUFS) queue_recv(r, fd); /* all buffers were taken: ask again */
        else close(fd);
        return;
    }
    id = (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    for (heads = count_heads(r->buf_memory + (size_t)id * BUFFER_SIZE, (size_t)cqe->res);
         heads > 0; heads--)
        queue_send(r, fd);
    buffer_give(r, id);
    if (!(cqe->flags & IORING_CQE_F_MORE)) queue_recv(r, fd); /* the multishot ended */
}

static void complete(struct ring *r, int listener)
{
    unsigned head = *r->cq_head, tail = load_acquire(r->cq_tail);
    for (; head != tail; head++) {
        const struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
        int op = (int)(cqe->user_data & 0xff), fd = (int)(cqe->user_data >> 8);
        if (op == OP_ACCEPT) {
            if (cqe->res >= 0) queue_recv(r, cqe->res);
            if (!(cqe->flags & IORING_CQE_F_MORE)) queue_accept(r, listener);
        } else if (op == OP_RECV) {
            received(r, fd, cqe);
        } else if (cqe->res < 0) {
            shutdown(fd, SHUT_RDWR); /* a failed send; the recv's end closes it */
        }
    }
    store_release(r->cq_head, head);
    buffers_publish(r);
}

int main(int argc, char **argv)
{
    struct ring r;
    int listener, rc;
    if (argc != 3) {
        fprintf(stderr, "usage: floor_uring PORT RESPONSE-FILE\n");
        return 2;
    }
    if ((rc = load_response(argv[2])) != 0) return fail("floor_uring", argv[2], rc);
    listener = listen_on(atoi(argv[1]), 0);
    if (listener < 0) return fail("floor_uring", "listen", errno);
    memset(&r, 0, sizeof r);
    if ((rc = ring_setup(&r)) != 0) return fail("floor_uring", "io_uring_setup", -rc);
    if ((rc = buffers_setup(&r)) != 0) return fail("floor_uring", "provided buffers", -rc);
    queue_accept(&r, listener);
    for (;;) {
        if ((rc = submit(&r, 1)) != 0) return fail("floor_uring", "io_uring_enter", -rc);
        complete(&r, listener);
    }
}
