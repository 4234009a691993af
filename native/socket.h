// Socket syscalls. Setup calls (socket, bind, listen, getsockname...) throw SystemError-like
// errors; the calls made per connection (accept, connect, shutdown, close, recv, send) never
// throw: they return a count, 0, or -errno, so the proxy's hot path handles EAGAIN and friends as
// ordinary values.
#pragma once

#include <napi.h>

namespace epoxy {

void InitSocket(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
