// An open-loop HTTP/1.1 load generator for bench/proxy: sends GET / at a fixed rate over a
// fixed set of keep-alive connections and reports latency percentiles. Requests are due on a
// schedule (t0 + i/rate) and each latency is measured from when it was due, so a stalled server
// cannot hide its stall by slowing the sender down (the wrk2 way). wrk itself has no rate option.
//
//   loadgen HOST PORT RATE SECONDS CONNECTIONS
//
// Each connection first carries one unrecorded request (the warm-up), then the schedule starts.
// Prints `requests N`, `rate R`, `late N` (requests sent over 1 ms past their due time),
// `errors N` (requests that got no response), `p50_us`, `p99_us`, `p999_us`. Expects responses with Content-Length.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_US 10000000 /* latencies are kept to 10 s, in 1 µs buckets up to 1 s and 100 µs above */
#define TICK_NS 50000   /* the sender wakes every 50 µs to send what is due */

typedef struct {
  int fd;
  int busy;
  uint64_t due_ns;
  char buf[8192];
  size_t len;
} conn_t;

static uint32_t fine[1000000];
static uint32_t coarse[(MAX_US - 1000000) / 100 + 1];
static uint64_t recorded;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record(uint64_t us) {
  if (us >= MAX_US) us = MAX_US - 1;
  if (us < 1000000) fine[us]++;
  else coarse[(us - 1000000) / 100]++;
  recorded++;
}

static uint64_t percentile(double q) {
  uint64_t want = (uint64_t)(q * (double)recorded), seen = 0;
  for (uint64_t i = 0; i < 1000000; i++)
    if ((seen += fine[i]) > want) return i;
  for (uint64_t i = 0; i < sizeof coarse / sizeof coarse[0]; i++)
    if ((seen += coarse[i]) > want) return 1000000 + i * 100;
  return MAX_US;
}

/** Returns the length of one complete response at the start of buf, 0 if incomplete, -1 if bad. */
static long complete_response(const char *buf, size_t len) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - buf) + 4;
  const char *cl = memmem(buf, head, "Content-Length:", 15);
  if (!cl) cl = memmem(buf, head, "content-length:", 15);
  if (!cl) return -1;
  size_t body = strtoul(cl + 15, NULL, 10);
  return head + body <= len ? (long)(head + body) : 0;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: loadgen HOST PORT RATE SECONDS CONNECTIONS\n");
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]), nconn = atoi(argv[5]);
  double rate = atof(argv[3]), seconds = atof(argv[4]);
  if (port <= 0 || rate <= 0 || seconds <= 0 || nconn <= 0) {
    fprintf(stderr, "loadgen: PORT, RATE, SECONDS and CONNECTIONS must be positive\n");
    return 2;
  }
  char request[256];
  int reqlen = snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n", host, port);

  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)nconn, sizeof *conns);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &addr.sin_addr);
  for (int i = 0; i < nconn; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
      perror("loadgen: connect");
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  // Warm every connection with one request, unpaced and not recorded, so the paced phase
  // measures a proxy carrying established connections (its steady state, as wrk2's calibration
  // period does): what a proxy spends setting a connection up is measured apart, by new
  // connections per second.
  for (int i = 0; i < nconn; i++) {
    if (write(conns[i].fd, request, (size_t)reqlen) != reqlen) {
      perror("loadgen: warm-up write");
      return 1;
    }
  }
  for (int warm = 0; warm < nconn;) {
    struct epoll_event ready[64];
    int n = epoll_wait(ep, ready, 64, 10000);
    if (n <= 0) {
      fprintf(stderr, "loadgen: %d of %d connections answered the warm-up request\n", warm, nconn);
      return 1;
    }
    for (int e = 0; e < n; e++) {
      conn_t *c = &conns[ready[e].data.u32];
      ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
      if (r <= 0) {
        fprintf(stderr, "loadgen: a connection closed during the warm-up\n");
        return 1;
      }
      c->len += (size_t)r;
      long whole = complete_response(c->buf, c->len);
      if (whole < 0) {
        fprintf(stderr, "loadgen: a warm-up response has no Content-Length\n");
        return 1;
      }
      if (whole > 0) {
        memmove(c->buf, c->buf + whole, c->len - (size_t)whole);
        c->len -= (size_t)whole;
        warm++;
      }
    }
  }

  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct itimerspec tick = {.it_interval = {0, TICK_NS}, .it_value = {0, TICK_NS}};
  timerfd_settime(tfd, 0, &tick, NULL);
  struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

  const uint64_t start = now_ns(), interval = (uint64_t)(1e9 / rate);
  const uint64_t total = (uint64_t)(rate * seconds);
  uint64_t sent = 0, done = 0, late = 0, errors = 0;
  int next_idle = 0;
  struct epoll_event events[256];
  while (done + errors < total) {
    uint64_t now = now_ns();
    if (now - start > (uint64_t)((seconds + 10) * 1e9)) break; /* the server stopped answering */
    // Send every request that is due, each on an idle connection; the rest wait their turn.
    while (sent < total && start + sent * interval <= now) {
      int c = -1;
      for (int k = 0; k < nconn; k++) {
        int i = (next_idle + k) % nconn;
        if (!conns[i].busy && conns[i].fd >= 0) {
          c = i;
          break;
        }
      }
      if (c < 0) break;
      next_idle = (c + 1) % nconn;
      conns[c].busy = 1;
      conns[c].due_ns = start + sent * interval;
      if (now - conns[c].due_ns > 1000000) late++;
      if (write(conns[c].fd, request, (size_t)reqlen) != reqlen) {
        errors++;
        conns[c].busy = 0;
      }
      sent++;
    }
    int n = epoll_wait(ep, events, 256, 100);
    for (int e = 0; e < n; e++) {
      uint32_t i = events[e].data.u32;
      if (i == UINT32_MAX) {
        uint64_t expirations;
        if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) perror("loadgen: timerfd");
        continue;
      }
      conn_t *c = &conns[i];
      ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
      if (r <= 0) {
        if (c->busy) errors++;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        c->busy = 0;
        continue;
      }
      c->len += (size_t)r;
      long whole = complete_response(c->buf, c->len);
      if (whole < 0 || (whole == 0 && c->len == sizeof c->buf)) {
        errors++;
        c->len = 0;
        c->busy = 0;
      } else if (whole > 0) {
        record((now_ns() - c->due_ns) / 1000);
        done++;
        memmove(c->buf, c->buf + whole, c->len - (size_t)whole);
        c->len -= (size_t)whole;
        c->busy = 0;
      }
    }
  }
  double elapsed = (double)(now_ns() - start) / 1e9;
  printf("requests %llu\nrate %.0f\nlate %llu\nerrors %llu\np50_us %llu\np99_us %llu\np999_us %llu\n", (unsigned long long)done,
         (double)done / elapsed, (unsigned long long)late, (unsigned long long)(total - done),
         (unsigned long long)percentile(0.5), (unsigned long long)percentile(0.99), (unsigned long long)percentile(0.999));
  return 0;
}
