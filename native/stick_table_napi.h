// JavaScript binding of the shared-memory stick table (stick_table.h): stickTableCreate() makes
// the memfd, a StickTable handle maps it in each process.
#pragma once

#include <napi.h>
#include <stdint.h>

#include "stick_table.h"

namespace epoxy {

class StickTableHandle : public Napi::ObjectWrap<StickTableHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit StickTableHandle(const Napi::CallbackInfo& info);
  ~StickTableHandle() override;

 private:
  // Data path: each returns a number >= 0 or -errno, and throws only for arguments of the wrong
  // shape or a closed handle.
  Napi::Value Get(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Set(const Napi::CallbackInfo& info);
  Napi::Value UpdateKey(const Napi::CallbackInfo& info);
  Napi::Value SetKey(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  // Control path.
  Napi::Value Clear(const Napi::CallbackInfo& info);
  Napi::Value Entries(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetKeyLength(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetExpireMs(const Napi::CallbackInfo& info);
  Napi::Value GetFieldCount(const Napi::CallbackInfo& info);
  Napi::Value GetUsed(const Napi::CallbackInfo& info);
  Napi::Value GetRepairs(const Napi::CallbackInfo& info);
  Napi::Value HoldLockForTest(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  bool CheckOpen(Napi::Env env);
  // Reads info[i] as a key of the table's length (longer views: the first key_length bytes).
  bool ArgKey(const Napi::CallbackInfo& info, size_t i, const uint8_t** key);
  // Reads info[i] as a Float64Array of at least field_count doubles (null if optional and absent).
  bool ArgValues(const Napi::CallbackInfo& info, size_t i, const char* what, bool optional, double** out);
  // munmap; idempotent.
  void Unmap();
  static void OnEnvCleanup(void* arg);

  StickTable table_;
  void* region_ = nullptr;  // the mapping, MAP_SHARED; null once closed
  uint64_t bytes_ = 0;      // its length
  bool cleanup_hook_ = false;
  napi_env env_ = nullptr;
};

void InitStickTable(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
