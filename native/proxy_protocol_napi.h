// JavaScript bindings of the PROXY protocol parser and builders (proxy_protocol.h), and
// recvPeek(), the MSG_PEEK read a receiver uses to look at a header before consuming it.
#pragma once

#include <napi.h>

namespace epoxy {

void InitProxyProtocol(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
