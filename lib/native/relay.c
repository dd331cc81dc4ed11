// A TCP relay for the service proxy: a proxied connection's two sockets are relayed here, inside
// Node's event loop, without a call into JavaScript per read. Each direction reads into a 16 KiB
// buffer and writes it to the other socket; a write the kernel does not take whole stops reading
// that direction until the rest is written (back-pressure), a FIN is passed on as shutdown(WR)
// once the buffer is drained (half-close), and a connection with no traffic either way for the
// idle time ends (an idle time of 0: never). A reset or error on either side ends both, passing
// a reset on to the other.
//
// Two ways in:
// - start() takes a connection JavaScript has carried so far (the upstream picked, connected and
//   answering), on duplicates of its two descriptors.
// - connect() takes an accepted client socket nothing has read yet and connects the upstream
//   itself. Until the upstream has answered, every byte of the client is kept (up to a limit):
//   when the upstream refuses, times out, or resets before its first byte, JavaScript is asked
//   for the next endpoint (retry()) and the kept bytes are sent there again, so the client never
//   sees the failure.
//
// JavaScript keeps its own sockets open but idle, and closes them when the relay reports the end
// (or closes the relay first, which then reports nothing). A descriptor given to connect() as
// owned is the relay's alone: it closes it at the end, and JavaScript has no socket for it.
//
// listen() makes a listening socket whose connections are accepted here and offered to
// JavaScript as bare descriptors with the client's address, so that a connection relayed from
// its first byte never gets a Node socket (a handle, a stream, a getpeername) at all.
//
// All relays and listeners of an event loop share one epoll set, which the loop polls as one
// descriptor: a socket is added once and changed with one epoll_ctl, where a libuv poll per
// socket would cost several system calls per change. Linux only.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "napi_util.h"

#define BUFFER_BYTES (16 * 1024)

/* What the two kinds of handle are tagged with (see make_tagged_handle): retry() takes only a
   relay, close() either. */
static const napi_type_tag RELAY_TAG = {0x3f9b6e21d4a87c05ULL, 0x91c2e7f04b6d3a58ULL};
static const napi_type_tag LISTENER_TAG = {0xd25a80c7e13f4b96ULL, 0x6e04b9f28ac1d537ULL};

/* The events JavaScript hears, each with a detail. */
enum { EVENT_END = 0, EVENT_CONNECTED = 1, EVENT_FAILED = 2 };
/* EVENT_END: why the relay ended; the side that did not fail gets an RST. */
enum { END_CLOSED = 0, END_RESET_A = 1, END_RESET_B = 2, END_IDLE = 3, END_NO_UPSTREAM = 4 };
/* EVENT_FAILED: how the upstream failed before answering. */
enum { FAIL_CONNECT = 0, FAIL_RESET = 1, FAIL_TIMEOUT = 2 };

/* The epoll set of the relays and listeners of one event loop (one per N-API environment). */
/* Relays that ended, kept for the next ones (at most this many): no allocation, page faults or
   zeroing of their buffers per connection. */
#define SPARES 32
/* When this many relays have ended since the most there were, the allocator hands the free pages
   back to the system: after a flood of connections the process shrinks to its size before. */
#define TRIM_AFTER 1024

typedef struct {
  int epfd;
  uv_poll_t poll;        /* the loop polls the set; referenced while anything is in it */
  int members;
  void *spares[SPARES];
  int nspares;
  int relays;            /* relays allocated now, and the most since the last trim */
  int relays_peak;
} Set;

/*
 * What a relay and a listener share: the JavaScript handle around it and its callback, and a
 * timer whose close lets the memory go (with the handle dropped too). A close completes in the
 * loop's closing phase, never inside a batch of the set's events, so an event later in the same
 * batch can still look at something that stopped. `core` is the first member of both.
 */
typedef struct Core Core;
struct Core {
  napi_env env;
  Set *set;
  uv_timer_t timer;
  int closing_handles;   /* libuv handles not yet closed */
  int finalized;         /* JavaScript dropped its handle */
  int env_gone;
  napi_ref callback;
  /* Holds JavaScript's handle while running, so dropping it cannot end a live relay or listener. */
  napi_ref self;
  napi_async_context async;
  void (*stop)(Core *c, int from_hook);
};

/* What an epoll event points at: a relay's socket (side 0 or 1) or a listener (SIDE_LISTENER). */
#define SIDE_LISTENER 2
typedef struct {
  Core *owner;
  int side;
} Watch;

typedef struct {
  int from, to;          /* indexes into fds: bytes go fds[from] -> fds[to] */
  unsigned char *buf;     /* BUFFER_BYTES, at the relay's end */
  size_t off, len;       /* bytes read but not yet written */
  int eof;               /* the reading side sent FIN */
  int shut;              /* and it was passed on */
} Direction;

typedef struct {
  Core core;
  int fds[2];            /* a (the client) and b (the upstream) */
  Watch watches[2];
  int events[2];         /* what each socket is polled for: EPOLLIN, EPOLLOUT, 0 (not in the set) */
  uint64_t idle_ms;
  uint64_t quiet_ms;     /* the idle time before any byte has moved either way (0: idle_ms) */
  int moved;             /* a byte has moved, one way or the other */
  uint64_t last_active;
  Direction dirs[2];     /* 0: a -> b, 1: b -> a */
  int ended;             /* no more I/O; handles are closing */

  /* connect() only. While `replay` is set, a's bytes go into it and are sent to b from there
     (dirs[0] is unused, and its buffer holds the first BUFFER_BYTES of them); it is dropped once
     b answered, or filled up, and all of it was sent. */
  int connecting;        /* b's connect is in progress */
  int connect_error;     /* a connect that failed at once, reported from the timer */
  int waiting;           /* b failed before answering: JavaScript is asked for another */
  int answered;          /* b sent a byte or its FIN: no retry any more */
  uint64_t connect_timeout_ms;
  uint64_t connect_started;
  unsigned char *replay;
  size_t replay_len, replay_cap, replay_sent, replay_limit;

  /* Last: a new relay zeroes everything before it. */
  unsigned char bufs[2][BUFFER_BYTES];
} Relay;

/* A listening socket: its connections are accepted here and offered to JavaScript. */
typedef struct {
  Core core;
  int fd;
  Watch watch;
  int events;
  int closed;
} Listener;

static void cleanup_hook(void *arg);
static void on_ready(Relay *r, int i, uint32_t events);
static void on_timer(uv_timer_t *timer);

static void stop_relay(Core *c, int from_hook);

/* Frees c, or keeps it as a spare for the next relay. */
static void discard(Core *c) {
  Set *set = c->set;
  if (c->env_gone || c->stop != stop_relay) {
    free(c);
    return;
  }
  set->relays--;
  if (set->nspares < SPARES) set->spares[set->nspares++] = c;
  else free(c);
#ifdef __GLIBC__
  if (set->relays_peak - set->relays >= TRIM_AFTER) {
    set->relays_peak = set->relays;
    malloc_trim(0);
  }
#endif
}

static void on_handle_closed(uv_handle_t *h) {
  Core *c = h->data;
  if (--c->closing_handles > 0) return;
  if (!c->env_gone) {
    napi_delete_reference(c->env, c->callback);
    napi_delete_reference(c->env, c->self);
    napi_async_destroy(c->env, c->async);
  }
  c->callback = NULL;
  if (c->finalized) discard(c);
}

/* The common end of a relay or listener that stopped: out of the environment's hooks and the
   set's count, its timer closing. */
static void release(Core *c, int from_hook) {
  if (!from_hook) {
    napi_remove_env_cleanup_hook(c->env, cleanup_hook, c);
    if (--c->set->members == 0) uv_unref((uv_handle_t *)&c->set->poll);
  }
  c->closing_handles = 1;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* Polls fd for `want` (EPOLLIN, EPOLLOUT; 0 takes it out of the set); *events is what it is
   polled for now. -1 (errno set, *events unchanged) when the kernel refused: a descriptor epoll
   cannot poll, or no memory or watches left. Taking one out cannot fail in a way that matters. */
static int poll_fd(Set *set, int fd, Watch *w, int *events, int want) {
  if (want == *events) return 0;
  struct epoll_event ev = {.events = (uint32_t)want, .data.ptr = w};
  int op = want == 0 ? EPOLL_CTL_DEL : *events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(set->epfd, op, fd, &ev) != 0 && want != 0) return -1;
  *events = want;
  return 0;
}

/* Polls the relay's socket i for `want`; as poll_fd. */
static int watch(Relay *r, int i, int want) {
  return poll_fd(r->core.set, r->fds[i], &r->watches[i], &r->events[i], want);
}

/* Closes fd with an RST. */
static void close_reset(int fd) {
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static void free_replay(Relay *r) {
  if (r->replay != r->bufs[0]) free(r->replay);
  r->replay = NULL;
}

/* Stops all I/O and closes the descriptors (but one set to -1: not the relay's); `reset_fd` (or
   -1) is closed with an RST. */
static void end_relay(Relay *r, int reset_fd, int from_hook) {
  if (r->ended) return;
  r->ended = 1;
  /* Out of the set before the close: a close takes a socket out only when no other descriptor
     (a duplicate, or a child's between its fork and exec) refers to it. */
  if (!from_hook) {
    watch(r, 0, 0);
    watch(r, 1, 0);
  }
  free_replay(r);
  for (int i = 0; i < 2; i++) {
    if (r->fds[i] < 0) continue;
    if (r->fds[i] == reset_fd) close_reset(r->fds[i]);
    else close(r->fds[i]);
  }
  release(&r->core, from_hook);
}

static void stop_relay(Core *c, int from_hook) {
  end_relay((Relay *)c, -1, from_hook);
}

/* Tells JavaScript of an event. One that throws is reported, and the relay goes on as if it had
   returned: a failed event that threw before calling retry() gets the client an RST. */
static void tell(Relay *r, int event, int detail) {
  int32_t args[2] = {event, detail};
  call_back_n(r->core.env, "relay", r->core.async, r->core.callback, 2, args);
}

/* Ends the relay and tells JavaScript why. */
static void finish(Relay *r, int reason) {
  if (r->ended) return;
  int reset_fd = reason == END_RESET_A ? r->fds[1] : (reason == END_RESET_B || reason == END_NO_UPSTREAM) ? r->fds[0] : -1;
  end_relay(r, reset_fd, 0);
  tell(r, EVENT_END, reason);
}

/* b is connected and has not failed. */
static int upstream_ready(const Relay *r) {
  return !r->connecting && !r->waiting;
}

/* What socket i is polled for: reading while its outgoing buffer is empty, writing while the
   incoming one is not; b only for its connect while that is in progress, and not at all while
   JavaScript picks another. */
static int wanted(const Relay *r, int i) {
  if (i == 1 && r->connecting) return EPOLLOUT;
  if (i == 1 && r->waiting) return 0;
  int want = 0;
  for (int d = 0; d < 2; d++) {
    const Direction *dir = &r->dirs[d];
    if (d == 0 && r->replay != NULL) {
      if (i == 0 && !dir->eof && r->replay_len < r->replay_limit) want |= EPOLLIN;
      if (i == 1 && r->replay_sent < r->replay_len) want |= EPOLLOUT;
      continue;
    }
    if (dir->from == i && dir->len == 0 && !dir->eof) want |= EPOLLIN;
    if (dir->to == i && dir->len > 0) want |= EPOLLOUT;
  }
  return want;
}

static void drop_replay(Relay *r);

/* Polls each socket for what it waits on: -1, or (errno set) the side whose poll the kernel
   refused. */
static int update_polls(Relay *r) {
  if (r->replay != NULL) drop_replay(r);
  for (int i = 0; i < 2; i++)
    if (watch(r, i, wanted(r, i)) != 0) return i;
  return -1;
}

/* update_polls in an event: a socket that cannot be polled any more fails its side, ending the
   relay instead of leaving it stuck (with both descriptors) until the idle time, or forever. */
static void repoll(Relay *r) {
  int failed = update_polls(r);
  if (failed >= 0) finish(r, failed == 0 ? END_RESET_A : END_RESET_B);
}

/* Writes what the direction holds; on an error, the side that failed (the writing one), else -1. */
static int flush(Relay *r, Direction *dir) {
  while (dir->len > 0) {
    ssize_t n = send(r->fds[dir->to], dir->buf + dir->off, dir->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
      return dir->to;
    }
    dir->off += (size_t)n;
    dir->len -= (size_t)n;
  }
  dir->off = 0;
  if (dir->eof && !dir->shut) {
    dir->shut = 1;
    /* With the other way shut already, the relay ends now: its close sends this FIN. */
    if (!r->dirs[dir == &r->dirs[0] ? 1 : 0].shut) shutdown(r->fds[dir->to], SHUT_WR);
  }
  return -1;
}

/* Reads from the direction's source and writes it on, until either side would block, a read
   comes back short (the socket is most likely drained: no recv just to hear EAGAIN) or READS
   reads were made, as libuv reads a stream; on an error, the side that failed, else -1. */
#define READS 16
#define DRAINED (-2)
static int pump_once(Relay *r, Direction *dir) {
  ssize_t n;
  do n = recv(r->fds[dir->from], dir->buf, BUFFER_BYTES, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? DRAINED : dir->from;
  if (n == 0) dir->eof = 1;
  else r->moved = 1;
  if (dir->from == 1) r->answered = 1;
  dir->off = 0;
  dir->len = (size_t)n;
  int rc = flush(r, dir);
  return rc < 0 && n < BUFFER_BYTES ? DRAINED : rc;
}

static int pump(Relay *r, Direction *dir) {
  for (int i = 0; i < READS && dir->len == 0 && !dir->eof; i++) {
    int rc = pump_once(r, dir);
    if (rc == DRAINED) return -1;
    if (rc >= 0) return rc;
  }
  return -1;
}

/* Sends the kept client bytes b has not had yet, then a's FIN if it came; as flush. */
static int flush_replay(Relay *r) {
  if (!upstream_ready(r)) return -1;
  while (r->replay_sent < r->replay_len) {
    ssize_t n = send(r->fds[1], r->replay + r->replay_sent, r->replay_len - r->replay_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
      return 1;
    }
    r->replay_sent += (size_t)n;
  }
  Direction *dir = &r->dirs[0];
  if (dir->eof && !dir->shut) {
    dir->shut = 1;
    shutdown(r->fds[1], SHUT_WR);
  }
  return -1;
}

/* Reads the client into the kept bytes (up to the limit) and sends them on; as pump. */
static int pump_replay(Relay *r) {
  for (int i = 0; i < READS && r->replay_len < r->replay_limit && !r->dirs[0].eof; i++) {
    if (r->replay_cap == r->replay_len) {
      size_t cap = r->replay_cap ? r->replay_cap * 2 : BUFFER_BYTES;
      if (cap > r->replay_limit) cap = r->replay_limit;
      unsigned char *grown = r->replay == r->bufs[0] ? malloc(cap) : realloc(r->replay, cap);
      if (grown == NULL) return 0;
      if (r->replay == r->bufs[0]) memcpy(grown, r->replay, r->replay_len);
      r->replay = grown;
      r->replay_cap = cap;
    }
    size_t room = r->replay_cap - r->replay_len;
    ssize_t n;
    do n = recv(r->fds[0], r->replay + r->replay_len, room, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return 0;
    }
    if (n == 0) r->dirs[0].eof = 1;
    else r->moved = 1;
    r->replay_len += (size_t)n;
    if ((size_t)n < room) break;
  }
  return flush_replay(r);
}

/* Once b answered (or the kept bytes filled up) and all of them were sent, a's bytes go
   straight through dirs[0]: no retry is possible any more. */
static void drop_replay(Relay *r) {
  if (r->replay_limit == 0 || r->replay_sent < r->replay_len) return;
  if (!r->answered && r->replay_len < r->replay_limit) return;
  free_replay(r);
  r->replay_limit = r->replay_len = r->replay_cap = r->replay_sent = 0;
}

/* b failed before answering: JavaScript may call retry() with the next endpoint; if it does not,
   the client gets an RST. */
static void upstream_failed(Relay *r, int how) {
  watch(r, 1, 0);
  uv_timer_stop(&r->core.timer);
  r->connecting = 0;
  r->connect_error = 0;
  r->waiting = 1;
  r->replay_sent = 0;
  r->dirs[0].shut = 0; /* a's FIN, if it came, goes again after the kept bytes */
  r->dirs[1].off = r->dirs[1].len = 0;
  tell(r, EVENT_FAILED, how);
  if (r->ended) return;
  if (r->waiting) finish(r, END_NO_UPSTREAM);
  else repoll(r);
}

/* A side failed: a retry where one is still possible, else the end (with an RST to the other). */
static void side_failed(Relay *r, int side) {
  if (side == 1 && r->replay != NULL && !r->answered) upstream_failed(r, r->connecting ? FAIL_CONNECT : FAIL_RESET);
  else finish(r, side == 0 ? END_RESET_A : END_RESET_B);
}

/* How long the relay may go without traffic now: the shorter quiet time until a first byte has
   moved (a connection that never speaks costs two descriptors, so it must not last long), the
   idle time after; 0 for no limit. */
static uint64_t idle_limit(const Relay *r) {
  if (!r->moved && r->quiet_ms > 0 && (r->idle_ms == 0 || r->quiet_ms < r->idle_ms)) return r->quiet_ms;
  return r->idle_ms;
}

static void start_idle_timer(Relay *r) {
  uint64_t limit = idle_limit(r);
  if (limit > 0) uv_timer_start(&r->core.timer, on_timer, limit, 0);
  else uv_timer_stop(&r->core.timer);
}

/* b reported `events` while connecting: writable once connected, an error or hang-up when the
   connect failed (no system call needed to tell). */
static void connect_done(Relay *r, uint32_t events) {
  if (events & (EPOLLERR | EPOLLHUP)) {
    upstream_failed(r, FAIL_CONNECT);
    return;
  }
  r->connecting = 0;
  r->last_active = uv_now(r->core.timer.loop);
  start_idle_timer(r);
  tell(r, EVENT_CONNECTED, 0);
  if (r->ended) return;
  int failed = flush_replay(r);
  if (failed >= 0) side_failed(r, failed);
  else repoll(r);
}

/* Socket i is ready for `events` (an error or hang-up counts as ready for what it is polled
   for: the next read, write or SO_ERROR tells what happened). */
static void on_ready(Relay *r, int i, uint32_t events) {
  if (r->ended || r->events[i] == 0) return;
  r->last_active = uv_now(r->core.timer.loop);
  if (i == 1 && r->connecting) {
    connect_done(r, events);
    return;
  }
  if (events & (EPOLLERR | EPOLLHUP)) events |= (uint32_t)r->events[i];
  events &= (uint32_t)r->events[i];
  int failed = -1;
  if (r->replay != NULL) {
    if (i == 0 && (events & EPOLLIN)) failed = pump_replay(r);
    else if (i == 1 && (events & EPOLLOUT)) failed = flush_replay(r);
  }
  for (int d = 0; d < 2 && failed < 0; d++) {
    Direction *dir = &r->dirs[d];
    if (d == 0 && r->replay != NULL) continue;
    if ((events & EPOLLOUT) && dir->to == i && dir->len > 0) failed = flush(r, dir);
    if (failed < 0 && (events & EPOLLIN) && dir->from == i && dir->len == 0 && !dir->eof) failed = pump(r, dir);
  }
  if (failed >= 0) {
    side_failed(r, failed);
    return;
  }
  if (r->dirs[0].shut && r->dirs[1].shut) finish(r, END_CLOSED);
  else repoll(r);
}

/* Accepts at most this many connections per readiness of a listener, as libuv does. */
#define ACCEPTS 64
/* After an accept failed for want of descriptors or memory, the listener rests this long (its
   pending connections wait in the kernel's queue), instead of spinning on it. */
#define ACCEPT_BACKOFF_MS 100

static void stop_listener(Core *c, int from_hook) {
  Listener *l = (Listener *)c;
  if (l->closed) return;
  l->closed = 1;
  if (!from_hook) poll_fd(c->set, l->fd, &l->watch, &l->events, 0);
  close(l->fd);
  release(c, from_hook);
}

static void on_backoff(uv_timer_t *timer) {
  Listener *l = timer->data;
  if (!l->closed && poll_fd(l->core.set, l->fd, &l->watch, &l->events, EPOLLIN) != 0) uv_timer_start(timer, on_backoff, ACCEPT_BACKOFF_MS, 0);
}

/* Offers an accepted connection to JavaScript: true when it took the descriptor. */
static int offer(Listener *l, int fd, const char *ip) {
  napi_env env = l->core.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value argv[2], result;
  bool taken = false;
  if (napi_create_int32(env, fd, &argv[0]) == napi_ok && napi_create_string_latin1(env, ip, NAPI_AUTO_LENGTH, &argv[1]) == napi_ok &&
      (result = call_back_values(env, "relay", l->core.async, l->core.callback, 2, argv)) != NULL)
    napi_get_value_bool(env, result, &taken);
  napi_close_handle_scope(env, scope);
  return taken;
}

/* The listener has connections waiting: each is accepted and offered to JavaScript; one it does
   not take, or throws on, is reset. */
static void on_listener(Listener *l) {
  for (int k = 0; k < ACCEPTS && !l->closed; k++) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        poll_fd(l->core.set, l->fd, &l->watch, &l->events, 0);
        uv_timer_start(&l->core.timer, on_backoff, ACCEPT_BACKOFF_MS, 0);
      }
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char ip[INET6_ADDRSTRLEN] = "";
    if (peer.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, ip, sizeof ip);
    else if (peer.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, ip, sizeof ip);
    if (!offer(l, fd, ip)) close_reset(fd);
  }
}

/* The set has ready sockets: each goes to its relay or listener. One that stops meanwhile is
   not freed before the loop's next turn (see Core), so later events of the batch can still look
   at it. */
static void on_set(uv_poll_t *poll, int status, int events) {
  Set *set = poll->data;
  struct epoll_event ready[64];
  int n;
  do n = epoll_wait(set->epfd, ready, 64, 0);
  while (n < 0 && errno == EINTR);
  for (int k = 0; k < n; k++) {
    Watch *w = ready[k].data.ptr;
    if (w->side == SIDE_LISTENER) on_listener((Listener *)w->owner);
    else on_ready((Relay *)w->owner, w->side, ready[k].events);
  }
}

/* At the environment's end: the loop stops polling the set. The set's memory stays: the
   handle's close completes only in a later turn of the loop, if one comes. */
static void free_set(napi_env env, void *data, void *hint) {
  Set *set = data;
  if (!uv_is_closing((uv_handle_t *)&set->poll)) uv_close((uv_handle_t *)&set->poll, NULL);
  close(set->epfd);
  while (set->nspares > 0) free(set->spares[--set->nspares]);
}

static void free_closed_set(uv_handle_t *h) {
  free(h->data);
}

/* The epoll set of this environment's loop, made at the first relay; NULL when it cannot be. */
static Set *set_of(napi_env env, uv_loop_t *loop) {
  Set *set = NULL;
  if (napi_get_instance_data(env, (void **)&set) == napi_ok && set != NULL) return set;
  set = calloc(1, sizeof *set);
  if (set == NULL) return NULL;
  set->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (set->epfd < 0) {
    free(set);
    return NULL;
  }
  if (uv_poll_init(loop, &set->poll, set->epfd) != 0) {
    close(set->epfd);
    free(set);
    return NULL;
  }
  set->poll.data = set;
  if (uv_poll_start(&set->poll, UV_READABLE, on_set) != 0 || napi_set_instance_data(env, set, free_set, NULL) != napi_ok) {
    /* Nothing refers to the set yet: its memory can go with the poll's close. */
    uv_close((uv_handle_t *)&set->poll, free_closed_set);
    close(set->epfd);
    return NULL;
  }
  uv_unref((uv_handle_t *)&set->poll);
  return set;
}

static void on_timer(uv_timer_t *timer) {
  Relay *r = timer->data;
  if (r->ended || r->waiting) return;
  uint64_t now = uv_now(timer->loop);
  if (r->connecting) {
    uint64_t spent = now - r->connect_started;
    if (r->connect_error) upstream_failed(r, FAIL_CONNECT);
    else if (spent >= r->connect_timeout_ms) upstream_failed(r, FAIL_TIMEOUT);
    else uv_timer_start(timer, on_timer, r->connect_timeout_ms - spent, 0);
    return;
  }
  uint64_t idle = now - r->last_active;
  uint64_t limit = idle_limit(r);
  if (limit == 0) return;
  if (idle >= limit) finish(r, END_IDLE);
  else uv_timer_start(timer, on_timer, limit - idle, 0);
}

static void cleanup_hook(void *arg) {
  Core *c = arg;
  c->env_gone = 1;
  c->stop(c, 1);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  Core *c = data;
  c->finalized = 1;
  if (!c->env_gone) c->stop(c, 0);
  if (c->closing_handles == 0 && c->callback == NULL) discard(c);
}

/* ip:port (port 0 and up) as a socket address; 0, or -1 with errno EINVAL. */
static int socket_address(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (port < 0 || port > 65535) {
    errno = EINVAL;
    return -1;
  }
  if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
  } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
  } else {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* A non-blocking socket connecting to ip:port; -1 (errno set) when it cannot be made. A connect
   that fails at once leaves its error in *connect_error. */
static int connect_to(const char *ip, int port, int *connect_error) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (port == 0) {
    errno = EINVAL;
    return -1;
  }
  if (socket_address(ip, port, &ss, &len) != 0) return -1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *connect_error = 0;
  if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) *connect_error = errno;
  return fd;
}

/* Starts b's connect (the first or a retry): fds[1] becomes the new socket, polled for writing. */
static void begin_connect(Relay *r, int connect_error) {
  r->connecting = 1;
  r->waiting = 0;
  r->connect_error = connect_error;
  r->connect_started = uv_now(r->core.timer.loop);
  uv_timer_start(&r->core.timer, on_timer, connect_error ? 0 : r->connect_timeout_ms, 0);
}

/* The epoll set of this environment's loop, or NULL having thrown. */
static Set *set_or_throw(napi_env env) {
  uv_loop_t *loop;
  Set *set = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || (set = set_of(env, loop)) == NULL)
    napi_throw_error(env, NULL, "relay: cannot make the epoll set of the relays");
  return set;
}

/*
 * Makes the JavaScript handle (tagged `kind`) around c, a relay or listener in `set` whose
 * callback is `fn`, and counts c in the set. NULL, having thrown, when it cannot: then nothing
 * of this is left, and c and its descriptors are still the caller's to let go.
 */
static napi_value make_handle(napi_env env, Core *c, Set *set, napi_value fn, const napi_type_tag *kind, void (*stop)(Core *, int)) {
  c->env = env;
  c->set = set;
  c->stop = stop;
  napi_value resource, name, handle;
  if (napi_create_object(env, &resource) != napi_ok || napi_create_string_utf8(env, "tugboat:relay", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, resource, name, &c->async) != napi_ok)
    goto failed;
  if (napi_create_reference(env, fn, 1, &c->callback) != napi_ok) goto drop_async;
  if (make_tagged_handle(env, c, kind, &handle) != napi_ok || napi_create_reference(env, handle, 1, &c->self) != napi_ok) goto drop_callback;
  if (napi_add_env_cleanup_hook(env, cleanup_hook, c) != napi_ok) goto drop_self;
  /* The last step that can fail: from here on the finalizer lets c go. */
  if (napi_add_finalizer(env, handle, c, finalize_handle, NULL, NULL) != napi_ok) goto drop_hook;
  uv_timer_init(set->poll.loop, &c->timer);
  uv_unref((uv_handle_t *)&c->timer);
  c->timer.data = c;
  if (set->members++ == 0) uv_ref((uv_handle_t *)&set->poll);
  return handle;

drop_hook:
  napi_remove_env_cleanup_hook(env, cleanup_hook, c);
drop_self:
  napi_delete_reference(env, c->self);
drop_callback:
  napi_delete_reference(env, c->callback);
drop_async:
  napi_async_destroy(env, c->async);
failed:
  napi_throw_error(env, NULL, "relay: cannot make the handle");
  return NULL;
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[192];
  snprintf(msg, sizeof msg, "relay: %s: %s", what, strerror(err));
  napi_throw_error(env, strerrorname_np(err), msg);
  return NULL;
}

/* Closes the descriptors of a relay that never ran, but fds[0] when keep_a. */
static void close_fds(int fds[2], int keep_a) {
  close(fds[1]);
  if (!keep_a) close(fds[0]);
}

/*
 * A relay of fds[0] and fds[1], with its handle in *handle; its sockets are not polled yet. NULL,
 * having thrown, when memory or the handle cannot be made: the descriptors are closed then (but
 * fds[0] when keep_a).
 */
static Relay *new_relay(napi_env env, Set *set, int fds[2], int keep_a, double idle, napi_value onevent, napi_value *handle) {
  Relay *r = set->nspares > 0 ? set->spares[--set->nspares] : malloc(sizeof *r);
  if (r == NULL) {
    close_fds(fds, keep_a);
    throw_errno(env, ENOMEM, "cannot make a relay");
    return NULL;
  }
  memset(r, 0, offsetof(Relay, bufs));
  if (++set->relays > set->relays_peak) set->relays_peak = set->relays;
  r->fds[0] = fds[0];
  r->fds[1] = fds[1];
  for (int i = 0; i < 2; i++) {
    r->watches[i].owner = &r->core;
    r->watches[i].side = i;
  }
  r->dirs[0].from = 0;
  r->dirs[0].to = 1;
  r->dirs[0].buf = r->bufs[0];
  r->dirs[1].from = 1;
  r->dirs[1].to = 0;
  r->dirs[1].buf = r->bufs[1];
  r->idle_ms = (uint64_t)idle;
  r->last_active = uv_now(set->poll.loop);
  *handle = make_handle(env, &r->core, set, onevent, &RELAY_TAG, stop_relay);
  if (*handle == NULL) {
    discard(&r->core);
    close_fds(fds, keep_a);
    return NULL;
  }
  return r;
}

/*
 * Polls a new relay's sockets for the first time. False, having thrown, when the kernel refuses
 * (a descriptor epoll cannot poll, no watches left): the relay is stopped then and its
 * descriptors closed, but a's when keep_a (out of the set first, as it stays the caller's).
 */
static bool first_polls(napi_env env, Relay *r, int keep_a) {
  if (update_polls(r) < 0) return true;
  int err = errno;
  if (keep_a) {
    watch(r, 0, 0);
    r->fds[0] = -1;
  }
  end_relay(r, -1, 0);
  throw_errno(env, err, "cannot poll the sockets");
  return false;
}

static int get_number(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == napi_ok && *out >= 0;
}

static int is_function(napi_env env, napi_value v) {
  napi_valuetype type = napi_undefined;
  return napi_typeof(env, v, &type) == napi_ok && type == napi_function;
}

// start(fdA, fdB, idleMs, onevent(event, detail), quietMs?) -> handle; idleMs 0 means no idle
// limit; quietMs, when given, is the idle limit until a first byte moves. The descriptors are
// duplicated; the caller keeps its own and must not read or write them while the relay runs.
// The only event is the end.
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fa, fb;
  double idle, quiet = 0;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fa) != napi_ok || napi_get_value_int32(env, argv[1], &fb) != napi_ok ||
      !get_number(env, argv[2], &idle) || fa < 0 || fb < 0 || !is_function(env, argv[3]) || (argc > 4 && !get_number(env, argv[4], &quiet))) {
    napi_throw_type_error(env, NULL, "relay.start(fdA, fdB, idleMs, onevent, quietMs?): two descriptors, an idle time (0: none), a function and a quiet time");
    return NULL;
  }
  Set *set = set_or_throw(env);
  if (set == NULL) return NULL;
  int fds[2] = {fcntl(fa, F_DUPFD_CLOEXEC, 0), -1};
  if (fds[0] < 0) return throw_errno(env, errno, "cannot take the sockets");
  if ((fds[1] = fcntl(fb, F_DUPFD_CLOEXEC, 0)) < 0) {
    int err = errno;
    close(fds[0]);
    return throw_errno(env, err, "cannot take the sockets");
  }
  napi_value handle;
  Relay *r = new_relay(env, set, fds, 0, idle, argv[3], &handle);
  if (r == NULL) return NULL;
  r->quiet_ms = (uint64_t)quiet;
  if (!first_polls(env, r, 0)) return NULL;
  start_idle_timer(r);
  return handle;
}

// connect(fdClient, ip, port, idleMs, connectTimeoutMs, replayLimit, onevent(event, detail), owned,
// quietMs?) -> handle: connects to ip:port and relays the client there, keeping up to replayLimit
// client bytes until the upstream answers; until a first byte moves either way, the idle limit is
// quietMs when given. Nothing may have read from the client descriptor. Unless
// `owned`, it is duplicated (the caller keeps its own); an owned one is the relay's once this
// returns (it closes it at the end), and stays the caller's when this throws. Events: connected;
// failed (the upstream, before answering: call retry() during it, or the client gets an RST);
// the end.
static napi_value connect_upstream(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fa, port;
  double idle, timeout, limit, quiet = 0;
  bool owned = false;
  char ip[64];
  size_t iplen;
  if (argc < 7 || napi_get_value_int32(env, argv[0], &fa) != napi_ok || fa < 0 ||
      napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &iplen) != napi_ok || napi_get_value_int32(env, argv[2], &port) != napi_ok ||
      !get_number(env, argv[3], &idle) || !get_number(env, argv[4], &timeout) || !(timeout > 0) || !get_number(env, argv[5], &limit) || !(limit > 0) ||
      !is_function(env, argv[6]) || (argc > 7 && napi_get_value_bool(env, argv[7], &owned) != napi_ok) || (argc > 8 && !get_number(env, argv[8], &quiet))) {
    napi_throw_type_error(env, NULL, "relay.connect(fdClient, ip, port, idleMs, connectTimeoutMs, replayLimit, onevent, owned, quietMs?)");
    return NULL;
  }
  Set *set = set_or_throw(env);
  if (set == NULL) return NULL;
  int fds[2] = {owned ? fa : fcntl(fa, F_DUPFD_CLOEXEC, 0), -1};
  if (fds[0] < 0) return throw_errno(env, errno, "cannot take the client socket");
  int connect_error = 0;
  if ((fds[1] = connect_to(ip, port, &connect_error)) < 0) {
    int err = errno;
    char what[112];
    if (!owned) close(fds[0]);
    snprintf(what, sizeof what, "cannot connect to %s port %d", ip, port);
    return throw_errno(env, err, what);
  }
  napi_value handle;
  Relay *r = new_relay(env, set, fds, owned, idle, argv[6], &handle);
  if (r == NULL) return NULL;
  /* The client's writes go out at once, as the upstream's do (Nagle would hold a response's
     tail until the client acknowledged its head); an owned descriptor is listen()'s, set so. */
  int one = 1;
  if (!owned) setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  r->connect_timeout_ms = (uint64_t)timeout;
  r->quiet_ms = (uint64_t)quiet;
  r->replay_limit = (size_t)limit;
  /* The replay mode: the client's first bytes go into dirs[0]'s buffer, unused until then. */
  r->replay = r->bufs[0];
  r->replay_cap = r->replay_limit < BUFFER_BYTES ? r->replay_limit : BUFFER_BYTES;
  begin_connect(r, connect_error);
  return first_polls(env, r, owned) ? handle : NULL;
}

// listen(host, port, backlog, onaccept(fd, ip) -> taken) -> [handle, port]: a listening socket
// on host:port (port 0: any free one, the port returned), its connections accepted here. Each
// comes to onaccept as a non-blocking descriptor with TCP_NODELAY set, and the client's
// address; one it does not take (returns anything but true, or throws) gets an RST. Throws an
// error whose code is the errno's name (EADDRINUSE, EACCES) when the socket cannot listen.
static napi_value listen_native(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t hostlen;
  int32_t port, backlog;
  if (argc < 4 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostlen) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || napi_get_value_int32(env, argv[2], &backlog) != napi_ok || backlog < 1 ||
      !is_function(env, argv[3])) {
    napi_throw_type_error(env, NULL, "relay.listen(host, port, backlog, onaccept)");
    return NULL;
  }
  char what[112];
  snprintf(what, sizeof what, "cannot listen on %s port %d", host, port);
  struct sockaddr_storage ss;
  socklen_t len;
  if (socket_address(host, port, &ss, &len) != 0) return throw_errno(env, errno, what);
  Set *set = set_or_throw(env);
  if (set == NULL) return NULL;
  int one = 1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, what);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, what);
  }
  int bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
  napi_value result, port_value;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok || napi_create_int32(env, bound, &port_value) != napi_ok) {
    close(fd);
    napi_throw_error(env, NULL, "relay.listen: cannot make its result");
    return NULL;
  }
  Listener *l = calloc(1, sizeof *l);
  if (l == NULL) {
    close(fd);
    return throw_errno(env, ENOMEM, what);
  }
  l->fd = fd;
  l->watch.owner = &l->core;
  l->watch.side = SIDE_LISTENER;
  napi_value handle = make_handle(env, &l->core, set, argv[3], &LISTENER_TAG, stop_listener);
  if (handle == NULL) {
    free(l);
    close(fd);
    return NULL;
  }
  /* From here on stop_listener lets go of the socket, and the handle's finalizer of l. */
  if (poll_fd(set, fd, &l->watch, &l->events, EPOLLIN) != 0) {
    int err = errno;
    stop_listener(&l->core, 0);
    return throw_errno(env, err, what);
  }
  if (napi_set_element(env, result, 0, handle) != napi_ok || napi_set_element(env, result, 1, port_value) != napi_ok) {
    stop_listener(&l->core, 0);
    napi_throw_error(env, NULL, "relay.listen: cannot make its result");
    return NULL;
  }
  return result;
}

/* The relay (or, when `listeners`, also the listener) whose handle is argv[0]; NULL when that is
   anything else, another module's handle too. */
static Core *core_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv, bool listeners) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return NULL;
  Core *c = tagged_data(env, argv[0], &RELAY_TAG);
  if (c == NULL && listeners) c = tagged_data(env, argv[0], &LISTENER_TAG);
  return c;
}

// retry(handle, ip, port): during a failed event, connects to the next upstream and sends it the
// client's bytes again. Throws when the relay is not waiting for one or the address is bad.
static napi_value retry(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Relay *r = (Relay *)core_arg(env, info, 3, argv, false);
  char ip[64];
  size_t iplen;
  int32_t port;
  if (r == NULL || napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &iplen) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok) {
    napi_throw_type_error(env, NULL, "relay.retry(handle, ip, port): the handle of a relay.connect()");
    return NULL;
  }
  if (r->ended || !r->waiting) {
    napi_throw_error(env, NULL, "relay.retry: the relay is not waiting for another upstream");
    return NULL;
  }
  int connect_error = 0;
  int fd = connect_to(ip, port, &connect_error);
  if (fd < 0) {
    int err = errno;
    char what[112];
    snprintf(what, sizeof what, "cannot connect to %s port %d", ip, port);
    return throw_errno(env, err, what);
  }
  /* The failed socket is out of the set; the new one takes its descriptor number. */
  if (dup3(fd, r->fds[1], O_CLOEXEC) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "cannot take the new upstream socket");
  }
  close(fd);
  begin_connect(r, connect_error);
  return NULL;
}

// close(handle): stops a relay (without telling onevent) or a listener (the connections it
// accepted go on); idempotent.
static napi_value stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Core *c = core_arg(env, info, 1, argv, true);
  if (c == NULL) {
    napi_throw_type_error(env, NULL, "relay.close(handle): the handle of a relay.start(), connect() or listen()");
    return NULL;
  }
  c->stop(c, 0);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, connect_upstream, NULL, NULL, NULL, napi_enumerable, NULL},
      {"retry", NULL, retry, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listen", NULL, listen_native, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, stop, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
