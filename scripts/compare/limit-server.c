/*
 * limit-server: the smallest WebSocket fan-out server we could write, as a yardstick for livefeed-bench.
 * It is the physical limit of this kernel and load client, not a product: no history, no cursor, no caps,
 * no checks beyond what keeps it from crashing.
 *
 *   GET  /sub   WebSocket upgrade (RFC 6455); the subscriber then gets every published body as a text frame.
 *   POST /pub   the body (Content-Length, at most 64 KiB) is published; answered 201, keep-alive, with
 *               Livefeed-Commit-Clock: when it was published (CLOCK_MONOTONIC ns), as livefeed's --commit-clock.
 *
 * One process, one epoll loop. Frames published are encoded once into a tick buffer; TICK_MS (default 2, livefeed's
 * database poll interval) after the previous tick ended, a non-empty buffer goes to every subscriber with one send() each (after its
 * backlog, if the kernel refused part of an earlier one). A flush goes 256 subscribers per loop turn, so the
 * publisher is answered while it runs and what it publishes meanwhile rides in the next tick: under load ticks
 * batch more, as livefeed's do. Built by scripts/bench-compare: cc -O2 -o limit-server limit-server.c
 * Usage: limit-server PORT [TICK_MS] [--store PATH] [--store-bytes N] [--ingest-us N] [--pad N]
 *   (listens on 127.0.0.1 only; prints "ready PORT" when it accepts)
 *
 * The options make it a yardstick with a store, for taking livefeed's distance to it apart (docs/performance.md,
 * fifteenth session); they are off by default and the plain limit is what the goals are measured against:
 *   --store PATH     each published body is written to PATH and fdatasync'ed before its 201, as a durable store
 *                    must; PATH is a ring of 4 MiB overwritten in place, as SQLite's WAL is after a checkpoint
 *   --store-bytes N  bytes written per message, with --store (default: the body's own length; livefeed's commit writes nine
 *                    4 KiB pages, 36864 bytes)
 *   --ingest-us N    N µs of CPU spent per message before the write (a database's insert and commit)
 *   --pad N          N spaces added inside each published body's closing brace, so its frames are as large as
 *                    livefeed's envelope (~246 bytes against the bench's ~145)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define BODY_MAX 65536
#define BACKLOG_MAX (16 << 20)

/* ---- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept ---- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char *m = calloc(total, 1);
    memcpy(m, msg, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t block = 0; block < total; block += 64) {
        uint32_t w[80];
        for (int t = 0; t < 16; t++)
            w[t] = (uint32_t)m[block + 4 * t] << 24 | (uint32_t)m[block + 4 * t + 1] << 16 |
                   (uint32_t)m[block + 4 * t + 2] << 8 | m[block + 4 * t + 3];
        for (int t = 16; t < 80; t++) w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int t = 0; t < 80; t++) {
            uint32_t f, k;
            if (t < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
            else if (t < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
            else if (t < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6; }
            uint32_t temp = rol(a, 5) + f + e + k + w[t];
            e = d; d = c; c = rol(b, 30); b = a; a = temp;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
        out[o++] = table[v >> 18 & 63];
        out[o++] = table[v >> 12 & 63];
        out[o++] = i + 1 < len ? table[v >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? table[v & 63] : '=';
    }
    out[o] = 0;
}

/* ---- connections ---- */

enum kind { HTTP, SUBSCRIBER };

struct conn {
    int fd;
    enum kind kind;
    char *in;           /* HTTP: the request so far */
    size_t in_len;
    char *backlog;      /* SUBSCRIBER: bytes the kernel did not take yet, from backlog_off to backlog_len */
    size_t backlog_off, backlog_len, backlog_cap;
    int index;          /* SUBSCRIBER: position in subscribers[] */
};

static int epfd;
static struct conn **subscribers;
static int subscriber_count, subscriber_cap;
static char *turn;      /* frames published since the last tick began, encoded once */
static size_t turn_len, turn_cap;
static char *flushing;  /* the tick being sent, and how far through the subscribers it is */
static size_t flushing_len, flushing_cap;
static int flush_next = -1;

static void drop(struct conn *c) {
    if (c->kind == SUBSCRIBER) {
        struct conn *last = subscribers[--subscriber_count];
        subscribers[c->index] = last;
        last->index = c->index;
    }
    close(c->fd);
    free(c->in);
    free(c->backlog);
    free(c);
}

static void append(char **buf, size_t *len, size_t *cap, const void *bytes, size_t n) {
    if (*len + n > *cap) {
        *cap = (*len + n) * 2;
        *buf = realloc(*buf, *cap);
    }
    memcpy(*buf + *len, bytes, n);
    *len += n;
}

/* The store, when asked for (see the usage above). */
#define STORE_RING (4 << 20)
static int store_fd = -1;
static size_t store_bytes;      /* 0: the body's own length */
static long ingest_ns;
static size_t pad;
static long long store_offset;
static char *store_record;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A durable store's work for one message: CPU, then the write and the sync that a 201 waits for. Returns -1 when
 * the store fails (the POST then gets no answer and its connection is dropped). */
static int store(const char *body, size_t n) {
    if (ingest_ns > 0) {
        long long until = now_ns() + ingest_ns;
        while (now_ns() < until) {}
    }
    if (store_fd < 0) return 0;
    size_t len = store_bytes > 0 ? store_bytes : n;
    if (len > STORE_RING) len = STORE_RING;
    memcpy(store_record, body, n < len ? n : len);
    if (store_offset + (long long)len > STORE_RING) store_offset = 0;
    if (pwrite(store_fd, store_record, len, store_offset) != (ssize_t)len) return -1;
    store_offset += (long long)len;
    return fdatasync(store_fd);
}

static void publish(const char *body, size_t n) {
    static char padded[BODY_MAX + 4096];
    if (pad > 0 && n > 0 && body[n - 1] == '}' && n + pad <= sizeof padded) {
        memcpy(padded, body, n - 1);
        memset(padded + n - 1, ' ', pad);
        padded[n - 1 + pad] = '}';
        body = padded;
        n += pad;
    }
    unsigned char head[4];
    size_t h = 2;
    head[0] = 0x81;
    if (n < 126) head[1] = (unsigned char)n;
    else { head[1] = 126; head[2] = (unsigned char)(n >> 8); head[3] = (unsigned char)n; h = 4; }
    append(&turn, &turn_len, &turn_cap, head, h);
    append(&turn, &turn_len, &turn_cap, body, n);
}

/* One send() per call: the new frames go behind any backlog, and what the kernel refuses stays for EPOLLOUT. */
static int flush(struct conn *c, const char *more, size_t more_len) {
    if (c->backlog_len > c->backlog_off) {
        if (more_len > 0) {
            if (c->backlog_len - c->backlog_off + more_len > BACKLOG_MAX) return -1;
            if (c->backlog_off > 0) {
                memmove(c->backlog, c->backlog + c->backlog_off, c->backlog_len - c->backlog_off);
                c->backlog_len -= c->backlog_off;
                c->backlog_off = 0;
            }
            append(&c->backlog, &c->backlog_len, &c->backlog_cap, more, more_len);
        }
        ssize_t w = send(c->fd, c->backlog + c->backlog_off, c->backlog_len - c->backlog_off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) return -1;
        if (w > 0) c->backlog_off += (size_t)w;
        if (c->backlog_off == c->backlog_len) c->backlog_off = c->backlog_len = 0;
        return 0;
    }
    if (more_len == 0) return 0;
    ssize_t w = send(c->fd, more, more_len, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return -1;
    if (w < 0) w = 0;
    if ((size_t)w < more_len) {
        c->backlog_off = c->backlog_len = 0;
        append(&c->backlog, &c->backlog_len, &c->backlog_cap, more + w, more_len - (size_t)w);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return 0;
}

static const char *header(const char *head, const char *name) {
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ') v++;
            return v;
        }
    return NULL;
}

/* Handles every complete request in c->in; returns -1 to drop the connection. */
static int serve(struct conn *c) {
    for (;;) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end) return c->in_len > HEAD_MAX ? -1 : 0;
        size_t head_len = (size_t)(end - c->in) + 4;
        end[2] = 0; /* the head as a string, ending after its last header line */
        if (strncmp(c->in, "GET /sub", 8) == 0) {
            const char *key = header(c->in, "Sec-WebSocket-Key");
            if (!key) return -1;
            size_t key_len = strcspn(key, "\r\n");
            char joined[128];
            if (key_len > 60) return -1;
            memcpy(joined, key, key_len);
            memcpy(joined + key_len, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
            unsigned char digest[20];
            char accept[32], reply[256];
            sha1((unsigned char *)joined, key_len + 36, digest);
            base64(digest, 20, accept);
            int n = snprintf(reply, sizeof reply,
                             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
            if (send(c->fd, reply, n, MSG_NOSIGNAL) != n) return -1;
            c->kind = SUBSCRIBER;
            free(c->in);
            c->in = NULL;
            c->in_len = 0;
            if (subscriber_count == subscriber_cap) {
                subscriber_cap = subscriber_cap ? subscriber_cap * 2 : 1024;
                subscribers = realloc(subscribers, sizeof *subscribers * subscriber_cap);
            }
            c->index = subscriber_count;
            subscribers[subscriber_count++] = c;
            return 0;
        }
        if (strncmp(c->in, "POST /pub", 9) != 0) return -1;
        const char *length = header(c->in, "Content-Length");
        long body_len = length ? strtol(length, NULL, 10) : 0;
        if (body_len < 0 || body_len > BODY_MAX) return -1;
        if (c->in_len < head_len + (size_t)body_len) return 0;
        if (store(c->in + head_len, (size_t)body_len) != 0) return -1;
        publish(c->in + head_len, (size_t)body_len);
        /* The "commit": the body is in the next tick. Stamped as livefeed's --commit-clock does, so the bench
         * measures both servers from the same point. */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        char created[128];
        int created_len = snprintf(created, sizeof created,
                                   "HTTP/1.1 201 Created\r\nLivefeed-Commit-Clock: %lld\r\nContent-Length: 0\r\n\r\n",
                                   (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
        if (send(c->fd, created, (size_t)created_len, MSG_NOSIGNAL) != (ssize_t)created_len) return -1;
        size_t used = head_len + (size_t)body_len;
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    const char *usage = "usage: limit-server PORT [TICK_MS] [--store PATH] [--store-bytes N] [--ingest-us N] [--pad N]\n";
    if (argc < 2) { fputs(usage, stderr); return 2; }
    long long tick_ms = 2, next_tick = 0;
    int arg = 2;
    if (arg < argc && argv[arg][0] != '-') tick_ms = atoll(argv[arg++]);
    const char *store_path = NULL;
    for (; arg + 1 < argc; arg += 2) {
        char *end;
        long long v = strtoll(argv[arg + 1], &end, 10);
        if (strcmp(argv[arg], "--store") == 0) store_path = argv[arg + 1];
        else if (end == argv[arg + 1] || *end != 0) { fputs(usage, stderr); return 2; } /* not a whole number */
        else if (strcmp(argv[arg], "--store-bytes") == 0 && v > 0 && v <= STORE_RING) store_bytes = (size_t)v;
        else if (strcmp(argv[arg], "--ingest-us") == 0 && v >= 0 && v <= 1000000) ingest_ns = (long)v * 1000;
        else if (strcmp(argv[arg], "--pad") == 0 && v >= 0 && v <= 4096) pad = (size_t)v;
        else { fputs(usage, stderr); return 2; }
    }
    /* --store-bytes says how much the store writes: without --store it would silently measure nothing. */
    if (arg != argc || tick_ms < 1 || (store_bytes > 0 && !store_path)) { fputs(usage, stderr); return 2; }
    if (store_path) {
        store_fd = open(store_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        store_record = calloc(1, STORE_RING);
        if (store_fd < 0 || !store_record || ftruncate(store_fd, STORE_RING) != 0) {
            perror("limit-server: --store");
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 4096) != 0) {
        perror("limit-server: bind/listen");
        return 1;
    }
    socklen_t address_len = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &address_len);
    epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
    printf("ready %d\n", ntohs(address.sin_port));
    fflush(stdout);

    static struct epoll_event events[512];
    static char buffer[65536];
    for (;;) {
        int timeout = -1;
        if (flush_next >= 0) timeout = 0;
        else if (turn_len > 0) {
            long long wait = next_tick - now_ms();
            timeout = wait > 0 ? (int)wait : 0;
        }
        int n = epoll_wait(epfd, events, 512, timeout);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *fresh = calloc(1, sizeof *fresh);
                    fresh->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = fresh};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                if (flush(c, NULL, 0) != 0) { drop(c); continue; }
                if (c->backlog_len == c->backlog_off) {
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
                }
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, buffer, sizeof buffer);
                if (r == 0 || (r < 0 && errno != EAGAIN)) { drop(c); continue; }
                if (r > 0 && c->kind == HTTP) {
                    size_t cap = c->in_len;
                    append(&c->in, &c->in_len, &cap, buffer, (size_t)r);
                    if (serve(c) != 0) drop(c);
                } /* a subscriber's own frames are read and ignored */
            }
        }
        if (flush_next < 0 && turn_len > 0 && now_ms() >= next_tick) {
            char *b = flushing; flushing = turn; turn = b;
            size_t c = flushing_cap; flushing_cap = turn_cap; turn_cap = c;
            flushing_len = turn_len;
            turn_len = 0;
            flush_next = 0;
        }
        if (flush_next >= 0) {
            /* A subscriber dropped meanwhile may move one not yet sent to below flush_next; it then misses this
             * tick. The bench's subscribers do not leave while it measures. */
            int end = flush_next + 256 < subscriber_count ? flush_next + 256 : subscriber_count;
            for (int s = flush_next; s < end; s++)
                if (flush(subscribers[s], flushing, flushing_len) != 0) { drop(subscribers[s--]); end--; }
            flush_next = end >= subscriber_count ? -1 : end;
            if (flush_next < 0) next_tick = now_ms() + tick_ms; /* livefeed's rule: an interval after the last tick ended */
        }
    }
}
