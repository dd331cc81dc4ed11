// The least a user-space TCP proxy can do, as a floor for bench/proxy's figures: one thread, one
// epoll set, accept, a non-blocking connect to the next upstream in turn, and bytes copied both
// ways, with back-pressure (a direction whose write fell short stops reading until it drained).
// No timeouts, retries, health checks, half-close or metrics. What a proxy adds in latency on a
// machine, beyond what this adds on the same machine, is the proxy's own.
//
//   minrelay PORT UPSTREAM_PORT...      (127.0.0.1 only; runs until killed)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
#define BUF 16384

/* Per descriptor: its peer, and the bytes still to be written to it. */
typedef struct {
  int peer;
  int closing; /* the peer ended: close both once `pending` is written */
  char *pending;
  size_t off, len;
} side_t;

static side_t sides[MAX_FDS];
static int ep;

static void want(int fd, uint32_t events, int op) {
  struct epoll_event e = {.events = events, .data.fd = fd};
  epoll_ctl(ep, op, fd, &e);
}

/* fd reads while its peer has nothing pending, and waits to write while it has. */
static void update(int fd) {
  want(fd, (sides[sides[fd].peer].len ? 0 : EPOLLIN) | (sides[fd].len ? EPOLLOUT : 0), EPOLL_CTL_MOD);
}

static void drop(int fd) {
  int peer = sides[fd].peer;
  free(sides[fd].pending);
  free(sides[peer].pending);
  memset(&sides[fd], 0, sizeof sides[fd]);
  memset(&sides[peer], 0, sizeof sides[peer]);
  close(fd);
  close(peer);
}

/* Writes what is pending to fd; 1 when it all went, 0 when some waits, -1 on error. */
static int flush(int fd) {
  side_t *s = &sides[fd];
  while (s->off < s->len) {
    ssize_t n = send(fd, s->pending + s->off, s->len - s->off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    s->off += (size_t)n;
  }
  s->off = s->len = 0;
  return 1;
}

static void on_readable(int fd) {
  static char buf[BUF];
  int peer = sides[fd].peer;
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {
    if (sides[peer].len == 0) drop(fd);
    else sides[peer].closing = 1, want(fd, 0, EPOLL_CTL_DEL);
    return;
  }
  ssize_t sent = send(peer, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent < 0 && errno != EAGAIN) return drop(fd);
  if (sent == n) return;
  if (sent < 0) sent = 0;
  side_t *p = &sides[peer];
  if (!p->pending && !(p->pending = malloc(BUF))) return drop(fd);
  memcpy(p->pending, buf + sent, (size_t)(n - sent));
  p->off = 0;
  p->len = (size_t)(n - sent);
  update(fd);
  update(peer);
}

static void on_writable(int fd) {
  int r = flush(fd);
  if (r < 0 || (r > 0 && sides[fd].closing)) return drop(fd);
  if (r == 0) return;
  update(fd);
  update(sides[fd].peer);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: minrelay PORT UPSTREAM_PORT...\n");
    return 2;
  }
  int nups = argc - 2, next = 0, one = 1;
  struct sockaddr_in addr = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  addr.sin_port = htons((uint16_t)atoi(argv[1]));
  if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 4096)) {
    perror("minrelay: listen");
    return 1;
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  want(ls, EPOLLIN, EPOLL_CTL_ADD);
  struct epoll_event ready[256];
  for (;;) {
    int n = epoll_wait(ep, ready, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          int u = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
          struct sockaddr_in to = addr;
          to.sin_port = htons((uint16_t)atoi(argv[2 + next++ % nups]));
          if (u < 0 || u >= MAX_FDS || c >= MAX_FDS || (connect(u, (struct sockaddr *)&to, sizeof to) && errno != EINPROGRESS)) {
            close(c);
            if (u >= 0) close(u);
            continue;
          }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          sides[c].peer = u;
          sides[u].peer = c;
          want(c, EPOLLIN, EPOLL_CTL_ADD);
          want(u, EPOLLIN, EPOLL_CTL_ADD);
        }
        continue;
      }
      if (!sides[fd].peer) continue; /* dropped earlier in this batch */
      if (ready[i].events & EPOLLOUT) on_writable(fd);
      else if (ready[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(fd);
    }
  }
}
