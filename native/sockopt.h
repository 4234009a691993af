// Socket options as one table: every option epoxy may set on a socket, with its level, its
// number and the shape of its value, so TypeScript names options by string and the addon alone
// knows the C constants.
#pragma once

#include <napi.h>

namespace epoxy {

// How an option's value crosses the boundary.
enum class SockoptKind {
  kBool,    // int 0/1 in C, boolean in JS
  kInt,     // int in C, number in JS (an integer in int32 range)
  kUint,    // int in C carrying a u32 (SO_MARK), number in JS in 0..2^32-1
  kLinger,  // struct linger in C, { enabled, seconds } in JS
  kString,  // char[] in C (device or algorithm name), string in JS
};

struct SockoptEntry {
  const char* name;  // the C name, which is also the JS name ('TCP_NODELAY')
  int level;         // SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP
  int optname;
  SockoptKind kind;
  bool readonly;  // only getsockopt is meaningful (SO_ERROR, SO_ACCEPTCONN...)
};

// Looks up an entry by name; nullptr for names not in the table.
const SockoptEntry* FindSockopt(const char* name);

void InitSockopt(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
