// What the native modules share: checked N-API calls and calling back into JavaScript from a
// libuv callback.
#ifndef TUGBOAT_NAPI_UTIL_H
#define TUGBOAT_NAPI_UTIL_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>

/* In a function returning napi_value: a failed N-API call throws and returns. */
#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, NULL, "tugboat native: N-API call failed: " #call); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

/*
 * Calls the function `fn` holds with `argc` values (made in the caller's handle scope), as a
 * callback from the event loop (the microtasks it queues run afterwards). Returns its result, or
 * NULL when it threw: what it throws goes to the process's uncaught exception handling. A call
 * that cannot be made at all is fatal, since every later one would fail too.
 */
static inline napi_value call_back_values(napi_env env, napi_async_context async, napi_ref fn, size_t argc, const napi_value *argv) {
  napi_value f, recv, result = NULL;
  napi_get_reference_value(env, fn, &f);
  napi_get_global(env, &recv); /* napi_make_callback wants an object as the receiver */
  napi_status st = napi_make_callback(env, async, recv, f, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
    return NULL;
  }
  if (st != napi_ok) napi_fatal_error("tugboat native", NAPI_AUTO_LENGTH, "cannot call back into JavaScript", NAPI_AUTO_LENGTH);
  return result;
}

/* call_back_values with up to 4 integers, in a handle scope of its own. */
static inline void call_back_n(napi_env env, napi_async_context async, napi_ref fn, size_t argc, const int32_t *args) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[4];
  if (argc > 4) argc = 4;
  for (size_t i = 0; i < argc; i++) napi_create_int32(env, args[i], &argv[i]);
  call_back_values(env, async, fn, argc, argv);
  napi_close_handle_scope(env, scope);
}

static inline void call_back(napi_env env, napi_async_context async, napi_ref fn, int32_t arg) {
  call_back_n(env, async, fn, 1, &arg);
}

#endif
