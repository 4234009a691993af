// Process-level helpers for the master/worker model: parent-death signal, open-file limits and
// close-on-exec control. Handing fds to a child at known numbers is done by Node's spawn() stdio
// array (src/process/fds.ts); these helpers prepare the fds for it.
#pragma once

#include <napi.h>

namespace epoxy {

void InitProcess(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
