// Batched UDP for the DNS server: one recvmmsg(2) takes up to BATCH queries, one call into
// JavaScript answers them in place, one sendmmsg(2) sends the answers. Node's dgram costs a
// receive callback, a send request and a syscall per datagram; here those are paid per batch.
//
// JavaScript owns the memory: an input ArrayBuffer of BATCH slots of SLOT bytes, an output one of
// the same shape, and an Int32Array of 2 * BATCH lengths (received lengths, then answer lengths;
// an answer length of 0 sends nothing). The peer addresses stay here; peer(i) reads one out for
// an answer given later through sendTo. Linux only.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_util.h"

/* What a socket handle is tagged with (see make_tagged_handle). */
static const napi_type_tag SOCKET_TAG = {0x7c1d5a0e93b24f61ULL, 0xa8e2c4b7150f3d96ULL};

#define BATCH 32
#define SLOT 65536
/* Batches per readable event before the event loop gets a turn (libuv's dgram reads 32 datagrams). */
#define ROUNDS 4

typedef struct {
  napi_env env;
  int fd;
  int family;
  int closed;
  /* The handle is freed once both are set: libuv is done with the poll and JS with the handle. */
  int poll_closed;
  int finalized;
  /* Set while the environment tears down: no more N-API calls. */
  int env_gone;
  uv_poll_t poll;
  napi_ref onbatch;
  napi_ref in_ref, out_ref, lens_ref;
  napi_async_context async;
  unsigned char *in;
  unsigned char *out;
  int32_t *lens;
  struct sockaddr_storage peers[BATCH];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr sends[BATCH];
  struct iovec send_iov[BATCH];
} Batcher;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, err == EADDRINUSE ? "EADDRINUSE" : err == EACCES ? "EACCES" : "ERR_UDPBATCH", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

static int parse_address(int family, const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    *len = sizeof *a;
    return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -1;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  *len = sizeof *a;
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int port_of(const struct sockaddr_storage *ss) {
  return ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port : ((const struct sockaddr_in *)ss)->sin_port);
}

static void send_answers(Batcher *b, int count) {
  int n = 0;
  for (int i = 0; i < count; i++) {
    int32_t len = b->lens[BATCH + i];
    if (len <= 0 || len > SLOT) continue;
    b->send_iov[n].iov_base = b->out + (size_t)i * SLOT;
    b->send_iov[n].iov_len = (size_t)len;
    memset(&b->sends[n].msg_hdr, 0, sizeof b->sends[n].msg_hdr);
    b->sends[n].msg_hdr.msg_name = &b->peers[i];
    b->sends[n].msg_hdr.msg_namelen = b->msgs[i].msg_hdr.msg_namelen;
    b->sends[n].msg_hdr.msg_iov = &b->send_iov[n];
    b->sends[n].msg_hdr.msg_iovlen = 1;
    n++;
  }
  int sent = 0;
  while (sent < n) {
    int r = sendmmsg(b->fd, b->sends + sent, (unsigned)(n - sent), 0);
    if (r < 0 && errno == EINTR) continue;
    // A datagram the kernel refuses (a full buffer, an unreachable peer) is lost, as UDP may be:
    // the client asks again. The rest of the batch still goes.
    sent += r < 0 ? 1 : r;
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  Batcher *b = poll->data;
  if (status < 0 || !(events & UV_READABLE) || b->closed) return;
  napi_env env = b->env;
  for (int round = 0; round < ROUNDS && !b->closed; round++) {
    for (int i = 0; i < BATCH; i++) {
      b->iov[i].iov_base = b->in + (size_t)i * SLOT;
      b->iov[i].iov_len = SLOT;
      memset(&b->msgs[i].msg_hdr, 0, sizeof b->msgs[i].msg_hdr);
      b->msgs[i].msg_hdr.msg_name = &b->peers[i];
      b->msgs[i].msg_hdr.msg_namelen = sizeof b->peers[i];
      b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
      b->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int count = recvmmsg(b->fd, b->msgs, BATCH, MSG_DONTWAIT, NULL);
    if (count <= 0) return; // EAGAIN: drained; other errors (a queued ICMP error) end this turn
    for (int i = 0; i < count; i++) {
      b->lens[i] = (int32_t)b->msgs[i].msg_len;
      b->lens[BATCH + i] = 0;
    }

    /* A handler that threw may have answered some queries first: those answers still go. */
    call_back(env, "udpbatch", b->async, b->onbatch, count);
    if (b->closed) return;
    send_answers(b, count);
    if (count < BATCH) return;
  }
}

/* Lets go of what the socket holds of JavaScript: the callback, the buffers, the async context;
   each only if it was made. */
static void drop_js(Batcher *b) {
  napi_ref *refs[] = {&b->onbatch, &b->in_ref, &b->out_ref, &b->lens_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i] != NULL) napi_delete_reference(b->env, *refs[i]);
    *refs[i] = NULL;
  }
  if (b->async != NULL) napi_async_destroy(b->env, b->async);
  b->async = NULL;
}

static void on_poll_closed(uv_handle_t *handle) {
  Batcher *b = handle->data;
  if (!b->env_gone) drop_js(b);
  b->poll_closed = 1;
  if (b->finalized) free(b);
}

static void cleanup_hook(void *arg);

static void close_batcher(Batcher *b, int from_hook) {
  if (b->closed) return;
  b->closed = 1;
  if (!from_hook) napi_remove_env_cleanup_hook(b->env, cleanup_hook, b);
  uv_poll_stop(&b->poll);
  close(b->fd);
  uv_close((uv_handle_t *)&b->poll, on_poll_closed);
}

static void cleanup_hook(void *arg) {
  Batcher *b = arg;
  b->env_gone = 1;
  close_batcher(b, 1);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Batcher *b = data;
  b->finalized = 1;
  if (!b->env_gone) close_batcher(b, 0);
  if (b->poll_closed) free(b);
}

static Batcher *unwrap(napi_env env, napi_value v) {
  Batcher *b = tagged_data(env, v, &SOCKET_TAG);
  if (b == NULL) napi_throw_type_error(env, NULL, "udpbatch: not a socket handle of udpbatch.open()");
  return b;
}

/* The call's arguments, the first one a socket handle: NULL, with an exception thrown, when they are not. */
static Batcher *handle_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "udpbatch: missing arguments");
    return NULL;
  }
  return unwrap(env, argv[0]);
}

static int buffer_of(napi_env env, napi_value v, size_t want, void **data) {
  bool is;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok) return -1;
  size_t unit = type == napi_int32_array ? 4 : 1;
  return length * unit >= want ? 0 : -1;
}

/* Holds what the socket needs of JavaScript while it is open: the callback, the buffers it
   reads and writes, and the async context its callbacks run in. */
static bool hold_js(napi_env env, Batcher *b, const napi_value *argv) {
  napi_value resource, name;
  return napi_create_object(env, &resource) == napi_ok && napi_create_string_utf8(env, "tugboat:udpbatch", NAPI_AUTO_LENGTH, &name) == napi_ok &&
         napi_async_init(env, resource, name, &b->async) == napi_ok && napi_create_reference(env, argv[6], 1, &b->onbatch) == napi_ok &&
         napi_create_reference(env, argv[3], 1, &b->in_ref) == napi_ok && napi_create_reference(env, argv[4], 1, &b->out_ref) == napi_ok &&
         napi_create_reference(env, argv[5], 1, &b->lens_ref) == napi_ok;
}

// open(host, port, ipv6, in: Uint8Array, out: Uint8Array, lens: Int32Array, onbatch) -> handle
static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype fn_type = napi_undefined;
  if (argc < 7 || napi_typeof(env, argv[6], &fn_type) != napi_ok || fn_type != napi_function) {
    napi_throw_type_error(env, NULL, "udpbatch.open(host, port, ipv6, in, out, lens, onbatch)");
    return NULL;
  }
  char host[64];
  size_t hostLen;
  int32_t port;
  bool ipv6;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostLen));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_bool(env, argv[2], &ipv6));
  void *in, *out, *lens;
  if (buffer_of(env, argv[3], (size_t)BATCH * SLOT, &in) || buffer_of(env, argv[4], (size_t)BATCH * SLOT, &out) ||
      buffer_of(env, argv[5], 2 * BATCH * sizeof(int32_t), &lens)) {
    napi_throw_range_error(env, NULL, "udpbatch: the buffers are smaller than batch * slot");
    return NULL;
  }
  int family = ipv6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage addr;
  socklen_t addrLen;
  if (port < 0 || port > 65535 || parse_address(family, host, port, &addr, &addrLen)) {
    napi_throw_type_error(env, NULL, "udpbatch: the address must be an IP literal and the port 0-65535");
    return NULL;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (bind(fd, (struct sockaddr *)&addr, addrLen) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  Batcher *b = calloc(1, sizeof *b);
  if (b == NULL) {
    close(fd);
    return throw_errno(env, "udpbatch", ENOMEM);
  }
  b->env = env;
  b->fd = fd;
  b->family = family;
  b->in = in;
  b->out = out;
  b->lens = lens;
  b->poll.data = b;
  uv_loop_t *loop;
  if (!hold_js(env, b, argv) || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &b->poll, fd) != 0) {
    drop_js(b);
    free(b);
    close(fd);
    napi_throw_error(env, NULL, "udpbatch: cannot poll the socket");
    return NULL;
  }
  /* From here the loop knows the poll: b goes only once the poll's close has completed and the
     handle's finalizer has run (or it is known that none will). */
  napi_value handle;
  if (make_tagged_handle(env, b, &SOCKET_TAG, &handle) != napi_ok || napi_add_finalizer(env, handle, b, finalize_handle, NULL, NULL) != napi_ok) {
    b->finalized = 1;
    close_batcher(b, 0); /* its cleanup hook is not added yet: removing it does nothing */
    napi_throw_error(env, NULL, "udpbatch: cannot make the socket's handle");
    return NULL;
  }
  if (napi_add_env_cleanup_hook(env, cleanup_hook, b) != napi_ok || uv_poll_start(&b->poll, UV_READABLE, on_readable) != 0) {
    close_batcher(b, 0);
    napi_throw_error(env, NULL, "udpbatch: cannot poll the socket");
    return NULL;
  }
  return handle;
}

// port(handle) -> the bound port
static napi_value bound_port(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  Batcher *b = handle_args(env, info, 1, argv);
  if (b == NULL) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (b->closed || getsockname(b->fd, (struct sockaddr *)&ss, &len) < 0) return throw_errno(env, "getsockname", b->closed ? EBADF : errno);
  CHECK(napi_create_int32(env, port_of(&ss), &result));
  return result;
}

// peer(handle, i) -> "address port" of query i of the batch being answered
static napi_value peer(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  Batcher *b = handle_args(env, info, 2, argv);
  if (b == NULL) return NULL;
  int32_t i;
  CHECK(napi_get_value_int32(env, argv[1], &i));
  if (i < 0 || i >= BATCH) {
    napi_throw_range_error(env, NULL, "udpbatch: no such query in the batch");
    return NULL;
  }
  char text[INET6_ADDRSTRLEN + 8];
  const struct sockaddr_storage *ss = &b->peers[i];
  if (ss->ss_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, text, INET6_ADDRSTRLEN);
  else inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, text, INET6_ADDRSTRLEN);
  snprintf(text + strlen(text), 8, " %d", port_of(ss));
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}

// sendTo(handle, bytes: Uint8Array, port, address) -> 0, or the errno of a datagram not sent
static napi_value send_to(napi_env env, napi_callback_info info) {
  napi_value argv[4], result;
  Batcher *b = handle_args(env, info, 4, argv);
  if (b == NULL) return NULL;
  void *data;
  napi_typedarray_type type;
  size_t length, offset;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset));
  int32_t port;
  char host[64];
  size_t hostLen;
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_string_utf8(env, argv[3], host, sizeof host, &hostLen));
  struct sockaddr_storage addr;
  socklen_t addrLen;
  int err = 0;
  if (b->closed) err = EBADF;
  else if (port < 1 || port > 65535 || parse_address(b->family, host, port, &addr, &addrLen)) err = EINVAL;
  else {
    ssize_t r;
    do r = sendto(b->fd, data, length, 0, (struct sockaddr *)&addr, addrLen);
    while (r < 0 && errno == EINTR);
    if (r < 0) err = errno;
  }
  CHECK(napi_create_int32(env, err, &result));
  return result;
}

// close(handle): stops reading and closes the socket at once; idempotent
static napi_value close_socket(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Batcher *b = handle_args(env, info, 1, argv);
  if (b == NULL) return NULL;
  close_batcher(b, 0);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, open_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"port", NULL, bound_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peer", NULL, peer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendTo", NULL, send_to, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_socket, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value batch, slot;
  CHECK(napi_create_int32(env, BATCH, &batch));
  CHECK(napi_create_int32(env, SLOT, &slot));
  CHECK(napi_set_named_property(env, exports, "BATCH", batch));
  CHECK(napi_set_named_property(env, exports, "SLOT", slot));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
