// Per-environment state of the addon (one per Node environment: main thread or worker thread).
#pragma once

#include <napi.h>

namespace epoxy {

struct InstanceData {
  Napi::FunctionReference system_error_class;  // src/errors.ts EpoxySystemError, once registered
  Napi::FunctionReference epoxy_error_class;   // src/errors.ts EpoxyError, once registered
  Napi::FunctionReference poller_class;        // the Poller constructor, for instanceof checks
};

inline InstanceData* GetInstanceData(Napi::Env env) { return env.GetInstanceData<InstanceData>(); }

}  // namespace epoxy
