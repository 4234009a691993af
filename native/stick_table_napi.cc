#include "stick_table_napi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "args.h"
#include "errors.h"

namespace epoxy {

namespace {

// The seals every table's memfd gets: its size can never change again, so no process can shrink
// it under another's mapping (whose next access would be SIGBUS) and nobody can lift the seals.
constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

void CloseQuietly(int fd) {
  // Linux releases the fd whatever close(2) reports; this one was never shared, nothing is lost.
  int rc = close(fd);
  (void)rc;
}

bool ArgUint(const Napi::CallbackInfo& info, size_t i, const char* what, uint32_t* out) {
  int32_t v;
  if (!ArgInt(info, i, what, &v)) return false;
  if (v < 0) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG", std::string(what) + " must not be negative");
    return false;
  }
  *out = static_cast<uint32_t>(v);
  return true;
}

// JS: stickTableCreate(keyLength, size, expireMs, fields: Int32Array [kind, periodMs]...) -> fd.
// The caller owns the fd (MFD_CLOEXEC: it reaches a worker only through spawn's stdio).
Napi::Value StickTableCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t key_length, size, expire_ms;
  int32_t* fields;
  size_t field_ints;
  if (!ArgUint(info, 0, "keyLength", &key_length) || !ArgUint(info, 1, "size", &size) ||
      !ArgUint(info, 2, "expireMs", &expire_ms) ||
      !ArgInt32Array(info, 3, "fields", &fields, &field_ints)) {
    return env.Undefined();
  }
  if (field_ints % 2 != 0 || field_ints / 2 > kStMaxFields) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                    "fields must hold [kind, periodMs] pairs, at most MAX_FIELDS of them");
    return env.Undefined();
  }
  const uint32_t field_count = static_cast<uint32_t>(field_ints / 2);
  uint8_t kinds[kStMaxFields];
  uint32_t periods[kStMaxFields];
  for (uint32_t i = 0; i < field_count; ++i) {
    const int32_t kind = fields[2 * i], period = fields[2 * i + 1];
    if (kind < 0 || kind > kStRate || period < 0) {
      ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG",
                      "field " + std::to_string(i) + ": kind must be COUNTER, GAUGE or RATE, period >= 0");
      return env.Undefined();
    }
    kinds[i] = static_cast<uint8_t>(kind);
    periods[i] = static_cast<uint32_t>(period);
  }
  StHeader layout;
  const char* why = "";
  if (StLayout(key_length, size, expire_ms, field_count, kinds, periods, &layout, &why) < 0) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", std::string("stickTableCreate: ") + why);
    return env.Undefined();
  }
  uint64_t seed;
  ssize_t got;
  do {
    got = getrandom(&seed, sizeof seed, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    ThrowSystemError(env, errno, "getrandom");
    return env.Undefined();
  }
  if (got != static_cast<ssize_t>(sizeof seed)) {
    // getrandom returns up to 256 bytes whole once the pool is ready; short only if interrupted.
    ThrowSystemError(env, EAGAIN, "getrandom");
    return env.Undefined();
  }
  const int fd = memfd_create("epoxy-stick-table", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    ThrowSystemError(env, errno, "memfd_create");
    return env.Undefined();
  }
  // ftruncate gives zero-filled pages on demand: the bucket array and unused entries cost nothing
  // until touched (see stick_table.h, StRef).
  if (ftruncate(fd, static_cast<off_t>(layout.total_bytes)) < 0) {
    const int err = errno;
    CloseQuietly(fd);
    ThrowSystemError(env, err, "ftruncate");
    return env.Undefined();
  }
  void* region = mmap(nullptr, sizeof(StHeader), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (region == MAP_FAILED) {
    const int err = errno;
    CloseQuietly(fd);
    ThrowSystemError(env, err, "mmap");
    return env.Undefined();
  }
  const int rc = StInit(region, layout, seed);
  // munmap of a range we mapped just above fails only for invalid arguments: never here.
  munmap(region, sizeof(StHeader));
  if (rc < 0) {
    CloseQuietly(fd);
    ThrowSystemError(env, -rc, "pthread_mutex_init");
    return env.Undefined();
  }
  if (fcntl(fd, F_ADD_SEALS, kSeals) < 0) {
    const int err = errno;
    CloseQuietly(fd);
    ThrowSystemError(env, err, "fcntl(F_ADD_SEALS)");
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

}  // namespace

Napi::Function StickTableHandle::Define(Napi::Env env) {
  return DefineClass(env, "StickTable",
                     {
                         InstanceMethod<&StickTableHandle::Get>("get"),
                         InstanceMethod<&StickTableHandle::Update>("update"),
                         InstanceMethod<&StickTableHandle::Set>("set"),
                         InstanceMethod<&StickTableHandle::UpdateKey>("updateKey"),
                         InstanceMethod<&StickTableHandle::SetKey>("setKey"),
                         InstanceMethod<&StickTableHandle::Release>("release"),
                         InstanceMethod<&StickTableHandle::Clear>("clear"),
                         InstanceMethod<&StickTableHandle::Entries>("entries"),
                         InstanceMethod<&StickTableHandle::Close>("close"),
                         InstanceAccessor<&StickTableHandle::GetKeyLength>("keyLength"),
                         InstanceAccessor<&StickTableHandle::GetSize>("size"),
                         InstanceAccessor<&StickTableHandle::GetExpireMs>("expireMs"),
                         InstanceAccessor<&StickTableHandle::GetFieldCount>("fieldCount"),
                         InstanceAccessor<&StickTableHandle::GetUsed>("used"),
                         InstanceAccessor<&StickTableHandle::GetRepairs>("repairs"),
                         InstanceMethod<&StickTableHandle::HoldLockForTest>("_holdLockForTest"),
                         InstanceAccessor<&StickTableHandle::GetClosed>("closed"),
                     });
}

// JS: new StickTable(fd). Maps the whole memfd; the fd stays the caller's, and the mapping outlives
// its closing.
StickTableHandle::StickTableHandle(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<StickTableHandle>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  int32_t fd;
  if (!ArgInt(info, 0, "fd", &fd)) return;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    ThrowSystemError(env, errno, "fstat");
    return;
  }
  const uint64_t bytes = static_cast<uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || bytes < sizeof(StHeader) || bytes > kStMaxBytes) {
    ThrowSystemErrorDetail(env, EINVAL, "StickTable", "the fd is not a stick table's memfd (size or type)");
    return;
  }
  void* region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (region == MAP_FAILED) {
    ThrowSystemError(env, errno, "mmap");
    return;
  }
  const char* why = "";
  if (StValidate(region, bytes, &why) < 0) {
    munmap(region, bytes);
    ThrowSystemErrorDetail(env, EINVAL, "StickTable", why);
    return;
  }
  region_ = region;
  bytes_ = bytes;
  table_ = StickTable(region);
  if (napi_add_env_cleanup_hook(env, OnEnvCleanup, this) == napi_ok) cleanup_hook_ = true;
}

StickTableHandle::~StickTableHandle() { Unmap(); }

void StickTableHandle::OnEnvCleanup(void* arg) {
  StickTableHandle* self = static_cast<StickTableHandle*>(arg);
  self->cleanup_hook_ = false;  // Node has taken it off its list already
  self->Unmap();
}

void StickTableHandle::Unmap() {
  if (region_ != nullptr) {
    // Only invalid arguments make munmap fail, and these are the ones mmap gave us.
    munmap(region_, bytes_);
    region_ = nullptr;
    table_ = StickTable();
  }
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_ = false;
  }
}

bool StickTableHandle::CheckOpen(Napi::Env env) {
  if (region_ != nullptr) return true;
  ThrowCodedError(env, "ERR_EPOXY_HANDLE_CLOSED", "stick table is closed");
  return false;
}

bool StickTableHandle::ArgKey(const Napi::CallbackInfo& info, size_t i, const uint8_t** key) {
  Bytes bytes;
  if (!ArgBytes(info, i, "key", &bytes)) return false;
  const uint32_t length = table_.header()->key_length;
  if (bytes.length < length) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG",
                    "key must be at least keyLength (" + std::to_string(length) + ") bytes");
    return false;
  }
  *key = bytes.data;
  return true;
}

bool StickTableHandle::ArgValues(const Napi::CallbackInfo& info, size_t i, const char* what,
                                 bool optional, double** out) {
  size_t count;
  if (!ArgFloat64Array(info, i, what, optional, out, &count)) return false;
  if (*out != nullptr && count < table_.header()->field_count) {
    ThrowCodedError(info.Env(), "ERR_EPOXY_INVALID_ARG",
                    std::string(what) + " must hold at least fieldCount values");
    return false;
  }
  return true;
}

// JS: get(key, flags, values?) -> slot | -ENOENT | -ENOSPC.
Napi::Value StickTableHandle::Get(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const uint8_t* key;
  int32_t flags;
  double* values;
  if (!ArgKey(info, 0, &key) || !ArgInt(info, 1, "flags", &flags) ||
      !ArgValues(info, 2, "values", true, &values)) {
    return env.Undefined();
  }
  return Napi::Number::New(env, table_.Get(key, static_cast<uint32_t>(flags), values));
}

// JS: update(slot, deltas, values?) -> 0 | -EINVAL.
Napi::Value StickTableHandle::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t slot;
  double* deltas;
  double* values;
  if (!ArgInt(info, 0, "slot", &slot) || !ArgValues(info, 1, "deltas", false, &deltas) ||
      !ArgValues(info, 2, "values", true, &values)) {
    return env.Undefined();
  }
  return Napi::Number::New(env, table_.Update(slot, deltas, values));
}

// JS: set(slot, field, value) -> 0 | -EINVAL.
Napi::Value StickTableHandle::Set(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t slot, field;
  if (!ArgInt(info, 0, "slot", &slot) || !ArgInt(info, 1, "field", &field)) return env.Undefined();
  if (info.Length() < 3 || !info[2].IsNumber()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "value must be a number");
    return env.Undefined();
  }
  return Napi::Number::New(
      env, table_.Set(slot, static_cast<uint32_t>(field), info[2].As<Napi::Number>().DoubleValue()));
}

// JS: updateKey(key, flags, deltas, values?) -> 0 | -ENOENT | -ENOSPC | -EINVAL.
Napi::Value StickTableHandle::UpdateKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const uint8_t* key;
  int32_t flags;
  double* deltas;
  double* values;
  if (!ArgKey(info, 0, &key) || !ArgInt(info, 1, "flags", &flags) ||
      !ArgValues(info, 2, "deltas", false, &deltas) || !ArgValues(info, 3, "values", true, &values)) {
    return env.Undefined();
  }
  return Napi::Number::New(env, table_.UpdateKey(key, static_cast<uint32_t>(flags), deltas, values));
}

// JS: setKey(key, field, value) -> 0 | -ENOSPC | -EINVAL.
Napi::Value StickTableHandle::SetKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const uint8_t* key;
  int32_t field;
  if (!ArgKey(info, 0, &key) || !ArgInt(info, 1, "field", &field)) return env.Undefined();
  if (info.Length() < 3 || !info[2].IsNumber()) {
    ThrowCodedError(env, "ERR_EPOXY_INVALID_ARG", "value must be a number");
    return env.Undefined();
  }
  return Napi::Number::New(
      env, table_.SetKey(key, static_cast<uint32_t>(field), info[2].As<Napi::Number>().DoubleValue()));
}

// JS: release(slot) -> 0 | -EINVAL.
Napi::Value StickTableHandle::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  int32_t slot;
  if (!ArgInt(info, 0, "slot", &slot)) return env.Undefined();
  return Napi::Number::New(env, table_.Release(slot));
}

// JS: clear(key?) -> entries removed (or -errno if the lock could not be taken).
Napi::Value StickTableHandle::Clear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const uint8_t* key = nullptr;
  if (info.Length() > 0 && !info[0].IsUndefined() && !ArgKey(info, 0, &key)) return env.Undefined();
  return Napi::Number::New(env, table_.Clear(key));
}

// JS: entries() -> [{ key, refs, expiresInMs, values }]. Rows are copied out under the lock into
// one buffer and turned into objects after it is released, so other processes never wait on V8.
Napi::Value StickTableHandle::Entries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  const StHeader* h = table_.header();
  const size_t row_bytes = table_.SnapshotRowBytes();
  uint32_t capacity = table_.used() + 64;
  if (capacity > h->size) capacity = h->size;
  uint8_t* rows = nullptr;
  int count;
  for (;;) {
    free(rows);
    rows = static_cast<uint8_t*>(malloc(row_bytes * capacity));
    if (rows == nullptr) {
      ThrowSystemError(env, ENOMEM, "malloc");
      return env.Undefined();
    }
    count = table_.Snapshot(rows, row_bytes, capacity);
    // Others may have added entries between used() and the lock: try again with room for them.
    if (count < 0 || static_cast<uint32_t>(count) < capacity || capacity == h->size) break;
    capacity = capacity * 2 > h->size ? h->size : capacity * 2;
  }
  if (count < 0) {
    free(rows);
    ThrowSystemError(env, -count, "pthread_mutex_lock");
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const uint8_t* row = rows + static_cast<size_t>(i) * row_bytes;
    StSnapshotRow head;
    memcpy(&head, row, sizeof head);
    Napi::Object entry = Napi::Object::New(env);
    Napi::Uint8Array key = Napi::Uint8Array::New(env, h->key_length);
    memcpy(key.Data(), row + sizeof head + h->field_count * sizeof(double), h->key_length);
    Napi::Array values = Napi::Array::New(env, h->field_count);
    for (uint32_t f = 0; f < h->field_count; ++f) {
      double v;
      memcpy(&v, row + sizeof head + f * sizeof(double), sizeof v);
      values.Set(f, Napi::Number::New(env, v));
    }
    entry.Set("key", key);
    entry.Set("slot", Napi::Number::New(env, head.slot));
    entry.Set("refs", Napi::Number::New(env, head.refs));
    entry.Set("expiresInMs", Napi::Number::New(env, static_cast<double>(head.expires_in_ms)));
    entry.Set("values", values);
    out.Set(static_cast<uint32_t>(i), entry);
  }
  free(rows);
  return out;
}

// JS: close(). Idempotent; every other member but `closed` then throws ERR_EPOXY_HANDLE_CLOSED.
Napi::Value StickTableHandle::Close(const Napi::CallbackInfo& info) {
  Unmap();
  return info.Env().Undefined();
}

Napi::Value StickTableHandle::GetKeyLength(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), table_.header()->key_length);
}

Napi::Value StickTableHandle::GetSize(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), table_.header()->size);
}

Napi::Value StickTableHandle::GetExpireMs(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), table_.header()->expire_ms);
}

Napi::Value StickTableHandle::GetFieldCount(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), table_.header()->field_count);
}

Napi::Value StickTableHandle::GetUsed(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), table_.used());
}

Napi::Value StickTableHandle::GetRepairs(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), table_.repairs());
}

// JS: _holdLockForTest() -> 0 | -errno. Takes the table's lock and never gives it back: only for
// a test child about to exit, which leaves the lock to be recovered (EOWNERDEAD) by the next locker.
Napi::Value StickTableHandle::HoldLockForTest(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env())) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), table_.HoldLockForTest());
}

Napi::Value StickTableHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), region_ == nullptr);
}

void InitStickTable(Napi::Env env, Napi::Object exports) {
  exports.Set("stickTableCreate", Napi::Function::New(env, StickTableCreate, "stickTableCreate"));
  exports.Set("StickTable", StickTableHandle::Define(env));
  Napi::Object c = Napi::Object::New(env);
  c.Set("CREATE", static_cast<double>(kStCreate));
  c.Set("REF", static_cast<double>(kStRef));
  c.Set("NO_EVICT", static_cast<double>(kStNoEvict));
  c.Set("COUNTER", static_cast<double>(kStCounter));
  c.Set("GAUGE", static_cast<double>(kStGauge));
  c.Set("RATE", static_cast<double>(kStRate));
  c.Set("MAX_FIELDS", static_cast<double>(kStMaxFields));
  c.Set("MAX_KEY", static_cast<double>(kStMaxKey));
  c.Set("MAX_SIZE", static_cast<double>(kStMaxSize));
  exports.Set("stickTable", c);
}

}  // namespace epoxy
