// The per-request floor on this machine: an HTTP/1.1 keep-alive responder that does almost
// nothing in user space, so what it costs per request is roughly the kernel's share. anx's
// CPU per request is reported against it by perf/bench.py (the anx/floor column).
//
// io_uring only: one multishot accept, one multishot recv per connection into a ring of
// provided buffers, and one send per read carrying an answer for every request head the
// read completed (a head ends at CRLF CRLF, tracked across reads). No parsing, no routing:
// every head gets the same 200.
//
//   cc -O2 -o floor perf/floor/floor.c -luring        (Debian: liburing-dev)
//   taskset -c 0 ./floor PORT [SETUP_FLAGS]           (default COOP_TASKRUN|SINGLE_ISSUER|DEFER_TASKRUN)
#define _GNU_SOURCE
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char ANSWER[] =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
#define ANSWER_LEN (sizeof ANSWER - 1)

#define BUFFERS 2048
#define BUFFER_SIZE 4096
#define MAX_FD 65536
#define MAX_BATCH 64

enum op { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3 };

struct conn {
    uint8_t crlf_seen;   // how much of "\r\n\r\n" the last bytes matched
    uint8_t sending;     // a send is in flight (its bytes live in out)
    uint32_t owed;       // answers due but not yet handed to a send
    char *out;           // MAX_BATCH answers, sent from here
};

static struct io_uring ring;
static struct io_uring_buf_ring *buffers;
static char *buffer_memory;
static struct conn conns[MAX_FD];

static uint64_t tag(enum op op, int fd) { return ((uint64_t)fd << 8) | op; }

static struct io_uring_sqe *sqe(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
    }
    return s;
}

static void arm_recv(int fd) {
    struct io_uring_sqe *s = sqe();
    io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, tag(OP_RECV, fd));
}

static void send_owed(int fd) {
    struct conn *c = &conns[fd];
    if (c->sending || c->owed == 0) return;
    uint32_t n = c->owed < MAX_BATCH ? c->owed : MAX_BATCH;
    c->owed -= n;
    c->sending = 1;
    struct io_uring_sqe *s = sqe();
    io_uring_prep_send(s, fd, c->out, n * ANSWER_LEN, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, tag(OP_SEND, fd));
}

static void give_back(unsigned id) {
    io_uring_buf_ring_add(buffers, buffer_memory + (size_t)id * BUFFER_SIZE, BUFFER_SIZE, id,
                          io_uring_buf_ring_mask(BUFFERS), 0);
    io_uring_buf_ring_advance(buffers, 1);
}

// Counts the request heads that end in these bytes, carrying a partial CRLF CRLF over.
static uint32_t heads_ended(struct conn *c, const char *p, int n) {
    static const char end[4] = {'\r', '\n', '\r', '\n'};
    uint32_t heads = 0;
    uint8_t m = c->crlf_seen;
    for (int i = 0; i < n; i++) {
        if (p[i] == end[m]) {
            if (++m == 4) {
                heads++;
                m = 0;
            }
        } else {
            m = p[i] == '\r' ? 1 : 0;
        }
    }
    c->crlf_seen = m;
    return heads;
}

static void closed(int fd) {
    free(conns[fd].out);
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [SETUP_FLAGS]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    unsigned flags = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0)
                              : IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
                                    IORING_SETUP_DEFER_TASKRUN;
    int listener = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) {
        perror("listen");
        return 1;
    }
    struct io_uring_params params = {.flags = flags};
    if (io_uring_queue_init_params(4096, &ring, &params)) {
        perror("io_uring setup");
        return 1;
    }
    // Registered by hand: Debian 12's liburing (2.3) predates io_uring_setup_buf_ring.
    if (posix_memalign((void **)&buffers, 4096, BUFFERS * sizeof(struct io_uring_buf))) return 1;
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)buffers, .ring_entries = BUFFERS,
                                   .bgid = 0};
    int err = io_uring_register_buf_ring(&ring, &reg, 0);
    if (err) {
        fprintf(stderr, "provided-buffer ring: %s\n", strerror(-err));
        return 1;
    }
    io_uring_buf_ring_init(buffers);
    buffer_memory = malloc((size_t)BUFFERS * BUFFER_SIZE);
    for (unsigned i = 0; i < BUFFERS; i++) give_back(i);

    struct io_uring_sqe *s = sqe();
    io_uring_prep_multishot_accept(s, listener, NULL, NULL, 0);
    io_uring_sqe_set_data64(s, tag(OP_ACCEPT, listener));
    printf("floor: listening on 127.0.0.1:%d\n", port);
    fflush(stdout);

    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t t = cqe->user_data;
            int fd = (int)(t >> 8), res = cqe->res;
            switch ((enum op)(t & 0xff)) {
            case OP_ACCEPT:
                if (res >= 0 && res < MAX_FD) {
                    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                    conns[res].out = malloc(MAX_BATCH * ANSWER_LEN);
                    for (int i = 0; i < MAX_BATCH; i++)
                        memcpy(conns[res].out + i * ANSWER_LEN, ANSWER, ANSWER_LEN);
                    arm_recv(res);
                } else if (res >= 0) {
                    close(res);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) {
                    s = sqe();
                    io_uring_prep_multishot_accept(s, listener, NULL, NULL, 0);
                    io_uring_sqe_set_data64(s, tag(OP_ACCEPT, listener));
                }
                break;
            case OP_RECV:
                if (res <= 0) {
                    if (res == -ENOBUFS) {
                        arm_recv(fd);
                    } else if (!(cqe->flags & IORING_CQE_F_MORE)) {
                        closed(fd);
                    }
                    break;
                }
                if (cqe->flags & IORING_CQE_F_BUFFER) {
                    unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    conns[fd].owed += heads_ended(&conns[fd], buffer_memory + (size_t)id * BUFFER_SIZE, res);
                    give_back(id);
                }
                send_owed(fd);
                if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(fd);
                break;
            case OP_SEND:
                conns[fd].sending = 0;
                if (res < 0) break;
                send_owed(fd);
                break;
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
