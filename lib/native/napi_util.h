// What the native modules share: checked N-API calls, type-tagged handles, and calling back into
// JavaScript from a libuv callback.
#ifndef TUGBOAT_NAPI_UTIL_H
#define TUGBOAT_NAPI_UTIL_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>

/* In a function returning napi_value: a failed N-API call throws and returns. */
#define CHECK(call)                                                            \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error(env, NULL, "tugboat native: N-API call failed: " #call); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

/*
 * A handle is an external tagged with its kind: every external looks alike to
 * napi_get_value_external, so without the tag another module's handle, or another kind of this
 * one's, would be taken for the struct the function expects.
 */
static inline napi_status make_tagged_handle(napi_env env, void *data, const napi_type_tag *kind, napi_value *handle) {
  napi_status st = napi_create_external(env, data, NULL, NULL, handle);
  return st == napi_ok ? napi_type_tag_object(env, *handle, kind) : st;
}

/* What `v` holds when it is a handle of `kind`, else NULL (throwing nothing). */
static inline void *tagged_data(napi_env env, napi_value v, const napi_type_tag *kind) {
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  /* The type first: checking the tag of undefined or null would throw. */
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external) return NULL;
  if (napi_check_object_type_tag(env, v, kind, &tagged) != napi_ok || !tagged) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

/*
 * Takes the exception a callback threw and writes it to stderr with the module's name. A daemon
 * serves many clients through one callback: one that throws costs the event it was called for,
 * never the process (napi_fatal_exception would end it unless something handles
 * 'uncaughtException').
 */
static inline void report_exception(napi_env env, const char *module) {
  napi_value error, stack, text;
  napi_valuetype type = napi_undefined;
  char shown[4096] = "(an exception that cannot be shown)";
  size_t len;
  if (napi_get_and_clear_last_exception(env, &error) != napi_ok) return;
  /* Showing it runs JavaScript too (a stack getter, a toString), which may throw in turn. */
  if (napi_typeof(env, error, &type) == napi_ok && type == napi_object && napi_get_named_property(env, error, "stack", &stack) == napi_ok &&
      napi_typeof(env, stack, &type) == napi_ok && type == napi_string)
    text = stack;
  else if (napi_coerce_to_string(env, error, &text) != napi_ok)
    text = NULL;
  if (text == NULL || napi_get_value_string_utf8(env, text, shown, sizeof shown, &len) != napi_ok) napi_get_and_clear_last_exception(env, &error);
  fprintf(stderr, "tugboat native %s: a callback threw; serving goes on: %s\n", module, shown);
}

/*
 * Calls the function `fn` holds with `argc` values (made in the caller's handle scope), as a
 * callback from the event loop (the microtasks it queues run afterwards). Returns its result, or
 * NULL when it threw (reported, see report_exception) or JavaScript cannot be called any more:
 * the environment is ending, and its cleanup hooks stop everything that would call again.
 */
static inline napi_value call_back_values(napi_env env, const char *module, napi_async_context async, napi_ref fn, size_t argc, const napi_value *argv) {
  napi_value f, recv, result = NULL;
  bool pending = false;
  if (napi_get_reference_value(env, fn, &f) != napi_ok || f == NULL) return NULL;
  napi_get_global(env, &recv); /* napi_make_callback wants an object as the receiver */
  napi_status st = napi_make_callback(env, async, recv, f, argc, argv, &result);
  napi_is_exception_pending(env, &pending);
  if (pending) {
    report_exception(env, module);
    return NULL;
  }
  return st == napi_ok ? result : NULL;
}

/* call_back_values with up to 4 integers, in a handle scope of its own; false when it threw or
   could not be made. */
static inline bool call_back_n(napi_env env, const char *module, napi_async_context async, napi_ref fn, size_t argc, const int32_t *args) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
  napi_value argv[4];
  if (argc > 4) argc = 4;
  for (size_t i = 0; i < argc; i++) napi_create_int32(env, args[i], &argv[i]);
  bool called = call_back_values(env, module, async, fn, argc, argv) != NULL;
  napi_close_handle_scope(env, scope);
  return called;
}

static inline bool call_back(napi_env env, const char *module, napi_async_context async, napi_ref fn, int32_t arg) {
  return call_back_n(env, module, async, fn, 1, &arg);
}

#endif
