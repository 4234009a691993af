// JavaScript binding of the ClientHello inspector (client_hello.h).
#pragma once

#include <napi.h>

namespace epoxy {

void InitClientHello(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
