// Socket addresses cross the TS boundary as the raw `struct sockaddr` bytes in a Uint8Array whose
// length is the socklen_t. TypeScript keeps them opaque and asks the addon to pack a textual
// address into bytes or unpack bytes into {family, address, port}; the hot path never formats.
#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <string>

namespace epoxy {

// Size of one peer-address slot in accept()'s batch output. Large enough for sockaddr_un (110)
// and sockaddr_in6 (28); a multiple of 8 so slots stay aligned.
constexpr size_t kAddrSlotSize = 112;

// Copies bytes into a sockaddr_storage after checking that the family and the length agree.
// Returns false (and leaves *len untouched) when the bytes are not a usable address.
bool SockaddrFromBytes(const uint8_t* data, size_t length, sockaddr_storage* out, socklen_t* len);

// "127.0.0.1" / "::1" / "/run/x.sock" (abstract unix names start with '@'); port -1 for unix.
void SockaddrDescribe(const sockaddr_storage* addr, socklen_t len, std::string* host, int* port);

// Human form used in messages: 127.0.0.1:80, [::1]:80, unix@/path.
std::string SockaddrToString(const sockaddr_storage* addr, socklen_t len);

Napi::Uint8Array SockaddrToJs(Napi::Env env, const sockaddr_storage* addr, socklen_t len);

void InitSockaddr(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
