// A TCP relay for the service proxy: once a proxied connection is past the part JavaScript must
// see (the upstream picked, connected and answering), its two sockets are relayed here, inside
// Node's event loop, without a call into JavaScript per read. Each direction reads into a 16 KiB
// buffer and writes it to the other socket; a write the kernel does not take whole stops reading
// that direction until the rest is written (back-pressure), a FIN is passed on as shutdown(WR)
// once the buffer is drained (half-close), and a connection with no traffic either way for the
// idle time ends (an idle time of 0: never). A reset or error on either side ends both, passing
// a reset on to the other.
//
// The relay works on duplicates of the two descriptors: JavaScript keeps its sockets open but
// idle, and closes them when the relay reports the end (or closes the relay first, which then
// reports nothing). Linux only.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_util.h"

#define BUFFER_BYTES (16 * 1024)

enum { END_CLOSED = 0, END_RESET_A = 1, END_RESET_B = 2, END_IDLE = 3 };

typedef struct Relay Relay;

typedef struct {
  int from, to;          /* indexes into fds: bytes go fds[from] -> fds[to] */
  unsigned char buf[BUFFER_BYTES];
  size_t off, len;       /* bytes read but not yet written */
  int eof;               /* the reading side sent FIN */
  int shut;              /* and it was passed on */
} Direction;

struct Relay {
  napi_env env;
  int fds[2];
  uv_poll_t polls[2];
  int events[2];
  uv_timer_t timer;
  uint64_t idle_ms;
  uint64_t last_active;
  Direction dirs[2];     /* 0: a -> b, 1: b -> a */
  int ended;             /* no more I/O; handles are closing */
  int closing_handles;   /* libuv handles not yet closed */
  int finalized;         /* JavaScript dropped its handle */
  int env_gone;
  napi_ref ondone;
  /* Holds JavaScript's handle while the relay runs, so dropping it cannot end a live relay. */
  napi_ref self;
  napi_async_context async;
};

static void cleanup_hook(void *arg);

static void on_handle_closed(uv_handle_t *h) {
  Relay *r = h->data;
  if (--r->closing_handles > 0) return;
  if (!r->env_gone) {
    napi_delete_reference(r->env, r->ondone);
    napi_delete_reference(r->env, r->self);
    napi_async_destroy(r->env, r->async);
  }
  r->ondone = NULL;
  if (r->finalized) free(r);
}

/* Stops all I/O and closes the duplicates; `reset_fd` (or -1) is closed with an RST. */
static void stop_relay(Relay *r, int reset_fd, int from_hook) {
  if (r->ended) return;
  r->ended = 1;
  if (!from_hook) napi_remove_env_cleanup_hook(r->env, cleanup_hook, r);
  if (reset_fd >= 0) {
    struct linger lg = {1, 0};
    setsockopt(reset_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  r->closing_handles = 3;
  for (int i = 0; i < 2; i++) {
    uv_poll_stop(&r->polls[i]);
    close(r->fds[i]);
    uv_close((uv_handle_t *)&r->polls[i], on_handle_closed);
  }
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, on_handle_closed);
}

/* Ends the relay and tells JavaScript why. */
static void finish(Relay *r, int reason) {
  if (r->ended) return;
  int reset_fd = reason == END_RESET_A ? r->fds[1] : reason == END_RESET_B ? r->fds[0] : -1;
  stop_relay(r, reset_fd, 0);
  call_back(r->env, r->async, r->ondone, reason);
}

static void on_poll(uv_poll_t *poll, int status, int events);

/* Polls each socket for what its directions need: reading while its outgoing buffer is empty, writing while the incoming one is not. */
static void update_polls(Relay *r) {
  for (int i = 0; i < 2; i++) {
    int want = 0;
    for (int d = 0; d < 2; d++) {
      Direction *dir = &r->dirs[d];
      if (dir->from == i && dir->len == 0 && !dir->eof) want |= UV_READABLE;
      if (dir->to == i && dir->len > 0) want |= UV_WRITABLE;
    }
    if (want == r->events[i]) continue;
    r->events[i] = want;
    if (want) uv_poll_start(&r->polls[i], want, on_poll);
    else uv_poll_stop(&r->polls[i]);
  }
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
    shutdown(r->fds[dir->to], SHUT_WR);
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

static void on_poll(uv_poll_t *poll, int status, int events) {
  Relay *r = poll->data;
  if (r->ended) return;
  int i = poll == &r->polls[0] ? 0 : 1;
  r->last_active = uv_now(poll->loop);
  int failed = status < 0 ? i : -1;
  for (int d = 0; d < 2 && failed < 0; d++) {
    Direction *dir = &r->dirs[d];
    if ((events & UV_WRITABLE) && dir->to == i && dir->len > 0) failed = flush(r, dir);
    if (failed < 0 && (events & UV_READABLE) && dir->from == i && dir->len == 0 && !dir->eof) failed = pump(r, dir);
  }
  if (failed >= 0) finish(r, failed == 0 ? END_RESET_A : END_RESET_B);
  else if (r->dirs[0].shut && r->dirs[1].shut) finish(r, END_CLOSED);
  else update_polls(r);
}

static void on_timer(uv_timer_t *timer) {
  Relay *r = timer->data;
  if (r->ended) return;
  uint64_t idle = uv_now(timer->loop) - r->last_active;
  if (idle >= r->idle_ms) finish(r, END_IDLE);
  else uv_timer_start(&r->timer, on_timer, r->idle_ms - idle, 0);
}

static void cleanup_hook(void *arg) {
  Relay *r = arg;
  r->env_gone = 1;
  stop_relay(r, -1, 1);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  Relay *r = data;
  r->finalized = 1;
  if (!r->env_gone) stop_relay(r, -1, 0);
  if (r->closing_handles == 0 && r->ondone == NULL) free(r);
}

// start(fdA, fdB, idleMs, ondone(reason)) -> handle; idleMs 0 means no idle limit. The
// descriptors are duplicated; the caller keeps its own and must not read or write them while the
// relay runs.
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fa, fb;
  double idle;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fa) != napi_ok || napi_get_value_int32(env, argv[1], &fb) != napi_ok ||
      napi_get_value_double(env, argv[2], &idle) != napi_ok || fa < 0 || fb < 0 || !(idle >= 0)) {
    napi_throw_type_error(env, NULL, "relay.start(fdA, fdB, idleMs, ondone): two descriptors and an idle time (0: none)");
    return NULL;
  }
  int fds[2] = {fcntl(fa, F_DUPFD_CLOEXEC, 0), fcntl(fb, F_DUPFD_CLOEXEC, 0)};
  uv_loop_t *loop;
  Relay *r = calloc(1, sizeof *r);
  if (fds[0] < 0 || fds[1] < 0 || r == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init_socket(loop, &r->polls[0], fds[0]) != 0) {
    int err = errno;
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    free(r);
    char msg[128];
    snprintf(msg, sizeof msg, "relay: cannot take the sockets: %s", strerror(err));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  if (uv_poll_init_socket(loop, &r->polls[1], fds[1]) != 0) {
    /* The first poll is initialized: it must be closed through libuv before the memory goes. */
    close(fds[0]);
    close(fds[1]);
    r->polls[0].data = r;
    r->closing_handles = 1;
    r->finalized = 1;
    r->env_gone = 1;
    uv_close((uv_handle_t *)&r->polls[0], on_handle_closed);
    napi_throw_error(env, NULL, "relay: cannot poll the second socket");
    return NULL;
  }
  uv_timer_init(loop, &r->timer);
  r->env = env;
  r->fds[0] = fds[0];
  r->fds[1] = fds[1];
  r->polls[0].data = r->polls[1].data = r->timer.data = r;
  r->dirs[0].from = 0;
  r->dirs[0].to = 1;
  r->dirs[1].from = 1;
  r->dirs[1].to = 0;
  r->idle_ms = (uint64_t)idle;
  r->last_active = uv_now(loop);
  napi_value resource, name, handle;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "tugboat:relay", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, resource, name, &r->async));
  CHECK(napi_create_reference(env, argv[3], 1, &r->ondone));
  CHECK(napi_add_env_cleanup_hook(env, cleanup_hook, r));
  update_polls(r);
  if (r->idle_ms > 0) uv_timer_start(&r->timer, on_timer, r->idle_ms, 0);
  uv_unref((uv_handle_t *)&r->timer);
  CHECK(napi_create_external(env, r, finalize_handle, NULL, &handle));
  CHECK(napi_create_reference(env, handle, 1, &r->self));
  return handle;
}

// close(handle): ends the relay without telling ondone; idempotent.
static napi_value stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Relay *r = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, NULL, "relay.close(handle)");
    return NULL;
  }
  stop_relay(r, -1, 0);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, stop, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, 2, props));
  napi_value bytes;
  CHECK(napi_create_int32(env, BUFFER_BYTES, &bytes));
  CHECK(napi_set_named_property(env, exports, "BUFFER_BYTES", bytes));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
