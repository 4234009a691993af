// The two things every addon handle that lives in Node's loop needs: the loop itself, and a way
// to call back into JavaScript from a libuv callback. Kept in one place so the poller, the
// poll(2) watcher and the relay cannot drift apart in how they report errors.
#pragma once

#include <napi.h>
#include <uv.h>

#include "errors.h"

namespace epoxy {

// The libuv loop of this environment; throws ERR_EPOXY_NO_LOOP and returns nullptr when Node
// cannot give one (never expected on a supported Node).
inline uv_loop_t* LoopOrThrow(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    ThrowCodedError(env, "ERR_EPOXY_NO_LOOP", "no libuv loop for this environment");
    return nullptr;
  }
  return loop;
}

// Calls `fn` with one number from a libuv callback (no JS on the stack). An exception it throws
// is an uncaught exception of the program, reported the way Node reports exceptions thrown from
// its own I/O callbacks ('uncaughtException'). The caller holds a HandleScope.
inline void CallIntoJs(Napi::Env env, napi_async_context context, napi_value receiver, napi_value fn,
                       double argument) {
  napi_value argv[] = {Napi::Number::New(env, argument)};
  napi_value result;
  if (napi_make_callback(env, context, receiver, fn, 1, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
}

}  // namespace epoxy
