// Header-only Linux shim: Swift's Glibc module does not expose these calls and macros.
#ifndef LIVEFEED_CLINUX_H
#define LIVEFEED_CLINUX_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

// Declared here rather than through _GNU_SOURCE, which would change struct layouts that Swift's Glibc module
// also imports (fd_set) and make the two modules disagree.
extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
extern int pipe2(int fds[2], int flags);
#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0x40000000
#endif

static inline int lf_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}
static inline int lf_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
static inline int lf_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int lf_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}
/// epoll_event is packed on x86_64; copy out fields here so Swift never sees the packed layout.
static inline int lf_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i] = evs[i].events;
        data[i] = evs[i].data.u64;
    }
    return n;
}
static inline int lf_signalfd(const sigset_t *mask) { return signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC); }
static inline int lf_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// Result flags of lf_recv_with_fd and lf_recv_with_fds.
enum { LF_RECV_CTRUNC = 1, LF_RECV_TRUNC = 2, LF_RECV_BADCMSG = 4 };

/// Descriptors one message of lf_send_with_fds / lf_recv_with_fds carries at most (the kernel's SCM_MAX_FD is 253).
enum { LF_MAX_FDS = 64 };

/// Sends `len` bytes and `count` descriptors (0...LF_MAX_FDS) as one SCM_RIGHTS message, in order.
static inline ssize_t lf_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int count) {
    if (count < 0 || count > LF_MAX_FDS) { errno = EINVAL; return -1; }
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    union { char buf[CMSG_SPACE(sizeof(int) * LF_MAX_FDS)]; struct cmsghdr align; } control;
    if (count > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)count);
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/// Receives into buf; passed descriptors (close-on-exec) land in fds_out in the order sent, at most `capacity`
/// (<= LF_MAX_FDS), their number in *count_out. Any beyond `capacity`, and any of a foreign cmsg, is closed and
/// reported through *flags so none leaks; LF_RECV_CTRUNC means the kernel dropped some (our table was full).
static inline ssize_t lf_recv_with_fds(int sock, void *buf, size_t len, int *fds_out, int capacity, int *count_out,
                                       int *flags) {
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    union { char buf[CMSG_SPACE(sizeof(int) * LF_MAX_FDS)]; struct cmsghdr align; } control;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    if (capacity > LF_MAX_FDS) capacity = LF_MAX_FDS;
    *count_out = 0;
    *flags = 0;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) return n;
    if (msg.msg_flags & MSG_CTRUNC) *flags |= LF_RECV_CTRUNC;
    if (msg.msg_flags & MSG_TRUNC) *flags |= LF_RECV_TRUNC;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *fds = (int *)CMSG_DATA(c);
            for (size_t i = 0; i < count; i++) {
                int got;
                memcpy(&got, &fds[i], sizeof got);
                if (*count_out < capacity) { fds_out[(*count_out)++] = got; } else { close(got); *flags |= LF_RECV_BADCMSG; }
            }
        } else {
            *flags |= LF_RECV_BADCMSG;
        }
    }
    return n;
}

/// Sends `len` bytes and, when fd >= 0, one descriptor as SCM_RIGHTS.
static inline ssize_t lf_send_with_fd(int sock, const void *buf, size_t len, int fd) {
    return lf_send_with_fds(sock, buf, len, &fd, fd >= 0 ? 1 : 0);
}

/// Receives into buf; a passed descriptor (close-on-exec) lands in *fd_out (else -1). Every descriptor
/// beyond the first, and any of a foreign cmsg, is closed and reported through *flags so none leaks.
static inline ssize_t lf_recv_with_fd(int sock, void *buf, size_t len, int *fd_out, int *flags) {
    int count = 0;
    *fd_out = -1;
    return lf_recv_with_fds(sock, buf, len, fd_out, 1, &count, flags);
}

/// An anonymous in-memory file, close-on-exec (memfd_create(2) through syscall(2): glibc declares it only with
/// _GNU_SOURCE).
static inline int lf_memfd(const char *name) { return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */); }

/// pidfd_open(2) (Linux 5.3): a descriptor that polls readable once the process exits; -1 with errno where the
/// kernel lacks it.
static inline int lf_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0U);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static inline size_t lf_cmsg_space_one_fd(void) { return CMSG_SPACE(sizeof(int)); }

static inline int lf_spawn(pid_t *pid, const char *path, int child_fd, int target_fd, int stderr_fd,
                           char *const argv[], char *const envp[]) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // dup2 clears FD_CLOEXEC on the target, so only the control socket (and stderr) survive exec.
    if (child_fd >= 0) posix_spawn_file_actions_adddup2(&actions, child_fd, target_fd);
    if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // The child starts with every signal at its default, and with only the signals an operator sends to a whole
    // unit (`systemctl kill -s HUP`, USR1, USR2) blocked: one that arrives between fork and the moment the worker
    // ignores it stays pending, then is discarded, instead of killing a worker that is just starting.
    sigset_t operator, all;
    sigemptyset(&operator);
    sigaddset(&operator, SIGHUP);
    sigaddset(&operator, SIGUSR1);
    sigaddset(&operator, SIGUSR2);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &operator);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}

static inline int lf_errno(void) { return errno; }

#endif
