#include "stick_table.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

namespace epoxy {

namespace {

constexpr uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

// A seeded multiply-rotate hash over 8-byte words (murmur3's 64-bit mixing). Keys are client
// addresses an attacker can choose: the per-table random seed keeps them from predicting buckets.
// It is not a keyed PRF like SipHash, which would cost several times as much per lookup; a flood
// aimed at it would have to learn the seed from timing first.
uint64_t Mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

uint64_t HashBytes(const uint8_t* key, uint32_t length, uint64_t seed) {
  uint64_t h = seed ^ (length * 0x9e3779b97f4a7c15ULL);
  uint32_t i = 0;
  for (; i + 8 <= length; i += 8) {
    uint64_t k = Load64(key + i) * 0x87c37b91114253d5ULL;
    k = (k << 31) | (k >> 33);
    h ^= k * 0x4cf5ad432745937fULL;
    h = ((h << 27) | (h >> 37)) * 5 + 0x52dce729;
  }
  if (i < length) {
    uint64_t k = 0;
    memcpy(&k, key + i, length - i);
    h ^= Mix(k + 0x38495ab5);
  }
  return Mix(h);
}

// freq_ctr rotation: moves the current period into the previous one if it is over, and drops both
// once two periods have gone by without an event. Periods stay aligned on the first tick, as in
// HAProxy, so a steady event stream reads the same whoever counts it.
void RateRotate(StRate* r, uint32_t period, uint64_t now) {
  if (now < r->curr_tick) return;  // not possible with one clock read under the lock; harmless
  const uint64_t elapsed = now - r->curr_tick;
  if (elapsed < period) return;
  r->prev_ctr = elapsed < 2ULL * period ? r->curr_ctr : 0;
  r->curr_ctr = 0;
  r->curr_tick += elapsed - elapsed % period;
}

// Events in the sliding window of one period ending now: the current period's, plus the part of
// the previous period's still inside the window, truncated (HAProxy's read_freq_ctr_period).
double RateRead(const StRate* stored, uint32_t period, uint64_t now) {
  StRate r = *stored;
  RateRotate(&r, period, now);
  const uint64_t elapsed = now > r.curr_tick ? now - r.curr_tick : 0;
  const unsigned __int128 weighted = static_cast<unsigned __int128>(r.prev_ctr) * (period - elapsed);
  return static_cast<double>(r.curr_ctr) + static_cast<double>(static_cast<uint64_t>(weighted / period));
}

// A delta or value as an int64: finite, integral after truncation, and within range.
bool ToInt64(double d, int64_t* out) {
  if (!isfinite(d)) return false;
  const double t = trunc(d);
  // 2^63 is the first double outside int64; -2^63 is inside.
  if (t >= 9223372036854775808.0 || t < -9223372036854775808.0) return false;
  *out = static_cast<int64_t>(t);
  return true;
}

}  // namespace

uint64_t StNowMs() {
  timespec ts;
  // CLOCK_MONOTONIC cannot fail with a valid timespec pointer; the vDSO answers without a syscall.
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

int StLayout(uint32_t key_length, uint32_t size, uint32_t expire_ms, uint32_t field_count,
             const uint8_t* kinds, const uint32_t* periods, StHeader* out, const char** why) {
  if (key_length < 1 || key_length > kStMaxKey) {
    *why = "keyLength must be 1..MAX_KEY";
    return -EINVAL;
  }
  if (size < 1 || size > kStMaxSize) {
    *why = "size must be 1..16777216";
    return -EINVAL;
  }
  if (expire_ms > kStMaxExpireMs) {
    *why = "expireMs must be 0..2147483647";
    return -EINVAL;
  }
  if (field_count > kStMaxFields) {
    *why = "at most MAX_FIELDS fields";
    return -EINVAL;
  }
  memset(out, 0, sizeof *out);
  out->magic = kStMagic;
  out->version = kStVersion;
  out->key_length = key_length;
  out->size = size;
  out->expire_ms = expire_ms;
  out->field_count = field_count;
  uint32_t offset = sizeof(StEntry);
  for (uint32_t i = 0; i < field_count; ++i) {
    if (kinds[i] > kStRate) {
      *why = "a field kind must be COUNTER, GAUGE or RATE";
      return -EINVAL;
    }
    if (kinds[i] == kStRate && (periods[i] == 0 || periods[i] > kStMaxExpireMs)) {
      *why = "a rate's period must be 1..2147483647 ms";
      return -EINVAL;
    }
    out->kinds[i] = kinds[i];
    out->periods[i] = kinds[i] == kStRate ? periods[i] : 0;
    out->value_offsets[i] = offset;
    offset += kinds[i] == kStRate ? sizeof(StRate) : sizeof(uint64_t);
  }
  out->key_offset = offset;
  // At most 32 + 32 * 24 + 1024 bytes: no overflow in 32 bits.
  out->entry_stride = static_cast<uint32_t>(Align8(offset + key_length));
  uint32_t buckets = 1;
  while (buckets < size) buckets <<= 1;
  out->bucket_count = buckets;
  out->buckets_offset = Align8(sizeof(StHeader));
  out->entries_offset = Align8(out->buckets_offset + uint64_t{buckets} * sizeof(StRef));
  // size <= 2^24 and stride < 2^11: the product fits 64 bits many times over.
  out->total_bytes = out->entries_offset + uint64_t{size} * out->entry_stride;
  if (out->total_bytes > kStMaxBytes) {
    *why = "the table would exceed 4 GiB (size times bytes per entry)";
    return -EINVAL;
  }
  return 0;
}

int StInit(void* region, const StHeader& layout, uint64_t hash_seed) {
  StHeader* h = static_cast<StHeader*>(region);
  memcpy(h, &layout, offsetof(StHeader, mutex));
  h->hash_seed = hash_seed;
  h->used = h->high_water = h->free_head = h->lru_head = h->lru_tail = h->repairs = 0;
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc != 0) return -rc;
  rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  // Relocking by the owner returns EDEADLK instead of hanging the process: the owner check is a
  // compare with the thread id the lock already stores, free next to the futex itself.
  if (rc == 0) rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  if (rc == 0) rc = pthread_mutex_init(&h->mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  return -rc;
}

int StValidate(const void* region, uint64_t bytes, const char** why) {
  if (bytes < sizeof(StHeader)) {
    *why = "the fd is smaller than a stick table header";
    return -EINVAL;
  }
  const StHeader* h = static_cast<const StHeader*>(region);
  if (h->magic != kStMagic) {
    *why = "the fd does not hold a stick table (bad magic)";
    return -EINVAL;
  }
  if (h->version != kStVersion) {
    *why = "the stick table was made by another layout version";
    return -EINVAL;
  }
  if (h->field_count > kStMaxFields) {
    *why = "the stick table header is corrupt (field count)";
    return -EINVAL;
  }
  StHeader expect;
  if (StLayout(h->key_length, h->size, h->expire_ms, h->field_count, h->kinds, h->periods, &expect,
               why) < 0) {
    return -EINVAL;
  }
  expect.hash_seed = h->hash_seed;
  if (memcmp(&expect, h, offsetof(StHeader, mutex)) != 0) {
    *why = "the stick table header does not match its own parameters";
    return -EINVAL;
  }
  if (h->total_bytes != bytes) {
    *why = "the fd's size is not the stick table's size";
    return -EINVAL;
  }
  // Shared state is read without the lock here: a table in use by others is only ever consistent
  // under it, but these bounds hold at every instant (each is stored whole).
  if (h->used > h->size || h->high_water > h->size || h->free_head > h->size ||
      h->lru_head > h->size || h->lru_tail > h->size) {
    *why = "the stick table header is corrupt (state out of range)";
    return -EINVAL;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Locking
//
// The mutex is robust: when a worker dies holding it (killed mid-operation), the next locker gets
// EOWNERDEAD instead of waiting forever. The tradeoff: we mark the mutex consistent and carry on
// rather than declaring the table unusable (ENOTRECOVERABLE) for every other worker. A dead
// worker can have left at most one operation half done. Repair() rebuilds every link from the
// entries' `live` flags, which are set last when an entry is made and cleared first when it is
// removed, so no chain or list can point at garbage. What cannot be recovered: a half-applied
// update (some fields of one entry changed, others not), recency order (entries are relinked in
// slot order), and the references the dead worker held, which keep their entries pinned (no
// expiry, no eviction, spared by clear()) for the table's life. Counters slightly off for a few
// clients harm a proxy far less than a table every worker must stop using, or connections
// blocking for good on a lock nobody will release.

int StickTable::Lock() {
  int rc = pthread_mutex_lock(&h_->mutex);
  if (rc == EOWNERDEAD) {
    Repair();
    rc = pthread_mutex_consistent(&h_->mutex);
    if (rc != 0) {
      pthread_mutex_unlock(&h_->mutex);
      return -rc;
    }
    return 0;
  }
  // ENOTRECOVERABLE only follows an unlock without consistent(), which this code never does;
  // EDEADLK, a relock by the owner, only HoldLockForTest's.
  return -rc;
}

void StickTable::Unlock() {
  // Fails only for a mutex this thread does not own: Lock() succeeded just before.
  int rc = pthread_mutex_unlock(&h_->mutex);
  (void)rc;
}

void StickTable::Repair() {
  h_->repairs++;
  if (h_->high_water > h_->size) h_->high_water = h_->size;
  memset(reinterpret_cast<uint8_t*>(h_) + h_->buckets_offset, 0, h_->bucket_count * sizeof(StRef));
  h_->free_head = h_->lru_head = h_->lru_tail = 0;
  h_->used = 0;
  // Backwards: the free list then hands out low slots first, and the lowest slot (in use the
  // longest, as a guess) ends up at the LRU tail, next to be evicted.
  for (uint32_t i = h_->high_water; i > 0; --i) {
    StEntry* e = At(i);
    e->lru_prev = e->lru_next = 0;
    if (!e->live) {
      e->hash_next = h_->free_head;
      h_->free_head = i;
      continue;
    }
    h_->used++;
    e->hash = Hash(KeyOf(e));
    StRef* bucket = Bucket(e->hash);
    e->hash_next = *bucket;
    *bucket = i;
    if (e->refs == 0) {
      e->lru_prev = h_->lru_tail;
      if (h_->lru_tail != 0) At(h_->lru_tail)->lru_next = i; else h_->lru_head = i;
      h_->lru_tail = i;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Addressing

StEntry* StickTable::At(StRef ref) const {
  return reinterpret_cast<StEntry*>(reinterpret_cast<uint8_t*>(h_) + h_->entries_offset +
                                    uint64_t{ref - 1} * h_->entry_stride);
}

uint8_t* StickTable::KeyOf(StEntry* e) const { return reinterpret_cast<uint8_t*>(e) + h_->key_offset; }

uint32_t StickTable::Hash(const uint8_t* key) const {
  return static_cast<uint32_t>(HashBytes(key, h_->key_length, h_->hash_seed));
}

StRef* StickTable::Bucket(uint32_t hash) const {
  return reinterpret_cast<StRef*>(reinterpret_cast<uint8_t*>(h_) + h_->buckets_offset) +
         (hash & (h_->bucket_count - 1));
}

// ---------------------------------------------------------------------------------------------
// With the lock held

bool StickTable::Expired(const StEntry* e, uint64_t now) const {
  return e->refs == 0 && e->expire_at != 0 && now >= e->expire_at;
}

void StickTable::LruUnlink(StRef ref) {
  StEntry* e = At(ref);
  if (e->lru_prev != 0) At(e->lru_prev)->lru_next = e->lru_next; else h_->lru_head = e->lru_next;
  if (e->lru_next != 0) At(e->lru_next)->lru_prev = e->lru_prev; else h_->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = 0;
}

void StickTable::LruPushHead(StRef ref) {
  StEntry* e = At(ref);
  e->lru_prev = 0;
  e->lru_next = h_->lru_head;
  if (h_->lru_head != 0) At(h_->lru_head)->lru_prev = ref; else h_->lru_tail = ref;
  h_->lru_head = ref;
}

void StickTable::Touch(StRef ref, uint64_t now) {
  StEntry* e = At(ref);
  e->expire_at = h_->expire_ms == 0 ? 0 : now + h_->expire_ms;
  if (e->refs == 0 && h_->lru_head != ref) {
    LruUnlink(ref);
    LruPushHead(ref);
  }
}

void StickTable::Remove(StRef ref) {
  StEntry* e = At(ref);
  // live goes first (see Repair): from here on a dying process leaves a free slot, not a torn entry.
  __atomic_store_n(&e->live, 0, __ATOMIC_RELEASE);
  StRef* link = Bucket(e->hash);
  while (*link != ref) link = &At(*link)->hash_next;
  *link = e->hash_next;
  if (e->refs == 0) LruUnlink(ref);
  e->hash_next = h_->free_head;
  h_->free_head = ref;
  h_->used--;
}

StRef StickTable::Find(const uint8_t* key, uint32_t hash, uint64_t now) {
  for (StRef ref = *Bucket(hash); ref != 0;) {
    StEntry* e = At(ref);
    const StRef next = e->hash_next;
    if (e->hash == hash && memcmp(KeyOf(e), key, h_->key_length) == 0) {
      if (!Expired(e, now)) return ref;
      Remove(ref);  // purged lazily, by whoever meets it first
      return 0;
    }
    ref = next;
  }
  return 0;
}

// A free slot for a new entry: a never-used one, a freed one, an expired one, or the least
// recently touched unreferenced one. 0 when every entry is referenced.
StRef StickTable::Allocate(uint64_t now, bool evict) {
  if (h_->free_head == 0 && h_->high_water == h_->size) {
    // The LRU list is sorted by expiry: every expired entry sits at its tail.
    while (h_->lru_tail != 0 && Expired(At(h_->lru_tail), now)) Remove(h_->lru_tail);
    if (h_->free_head == 0) {
      if (h_->lru_tail == 0 || !evict) return 0;
      Remove(h_->lru_tail);
    }
  }
  if (h_->free_head != 0) {
    const StRef ref = h_->free_head;
    h_->free_head = At(ref)->hash_next;
    return ref;
  }
  return ++h_->high_water;
}

int StickTable::FindOrCreate(const uint8_t* key, uint32_t flags, uint64_t now, StRef* out) {
  const uint32_t hash = Hash(key);
  StRef ref = Find(key, hash, now);
  if (ref == 0) {
    if ((flags & kStCreate) == 0) return -ENOENT;
    ref = Allocate(now, (flags & kStNoEvict) == 0);
    if (ref == 0) return -ENOSPC;
    StEntry* e = At(ref);
    // Values zeroed, rates starting their first period now, key copied: all before `live`.
    memset(reinterpret_cast<uint8_t*>(e) + sizeof(StEntry), 0, h_->key_offset - sizeof(StEntry));
    for (uint32_t i = 0; i < h_->field_count; ++i) {
      if (h_->kinds[i] == kStRate) {
        reinterpret_cast<StRate*>(reinterpret_cast<uint8_t*>(e) + h_->value_offsets[i])->curr_tick = now;
      }
    }
    memcpy(KeyOf(e), key, h_->key_length);
    e->refs = 0;
    e->hash = hash;
    e->lru_prev = e->lru_next = 0;
    e->expire_at = 0;
    StRef* bucket = Bucket(hash);
    e->hash_next = *bucket;
    __atomic_store_n(&e->live, 1, __ATOMIC_RELEASE);
    *bucket = ref;
    LruPushHead(ref);
    h_->used++;
  }
  StEntry* e = At(ref);
  if ((flags & kStRef) != 0) {
    // Off the LRU list while referenced: neither expiry nor eviction looks at it.
    if (e->refs == 0) LruUnlink(ref);
    e->refs++;
  }
  Touch(ref, now);
  *out = ref;
  return 0;
}

StRef StickTable::LiveSlot(int32_t slot) const {
  if (slot < 0 || static_cast<uint32_t>(slot) >= h_->high_water) return 0;
  const StRef ref = static_cast<StRef>(slot) + 1;
  const StEntry* e = At(ref);
  return e->live && e->refs > 0 ? ref : 0;
}

int StickTable::CheckDeltas(const double* deltas) const {
  for (uint32_t i = 0; i < h_->field_count; ++i) {
    int64_t d;
    if (!ToInt64(deltas[i], &d)) return -EINVAL;
    if (h_->kinds[i] == kStRate && d < 0) return -EINVAL;
  }
  return 0;
}

void StickTable::ApplyDeltas(StEntry* e, const double* deltas, uint64_t now) {
  uint8_t* base = reinterpret_cast<uint8_t*>(e);
  for (uint32_t i = 0; i < h_->field_count; ++i) {
    if (deltas[i] == 0) continue;
    int64_t d = 0;
    ToInt64(deltas[i], &d);  // checked by CheckDeltas
    uint8_t* value = base + h_->value_offsets[i];
    switch (h_->kinds[i]) {
      case kStCounter: {
        uint64_t v;
        memcpy(&v, value, sizeof v);
        // Saturates both ways: a counter neither wraps to 2^64 - 1 nor back to 0.
        if (d < 0) {
          const uint64_t m = static_cast<uint64_t>(-(d + 1)) + 1;
          v = v > m ? v - m : 0;
        } else {
          v = __builtin_add_overflow(v, static_cast<uint64_t>(d), &v) ? UINT64_MAX : v;
        }
        memcpy(value, &v, sizeof v);
        break;
      }
      case kStGauge: {
        int64_t v;
        memcpy(&v, value, sizeof v);
        int64_t sum;
        if (__builtin_add_overflow(v, d, &sum)) sum = d > 0 ? INT64_MAX : INT64_MIN;
        // conn_cur style: a decrement never goes below 0 (a release racing a clear()).
        if (d < 0 && sum < 0) sum = 0;
        memcpy(value, &sum, sizeof sum);
        break;
      }
      case kStRate: {
        StRate* r = reinterpret_cast<StRate*>(value);
        RateRotate(r, h_->periods[i], now);
        const uint64_t n = static_cast<uint64_t>(d);
        r->curr_ctr = __builtin_add_overflow(r->curr_ctr, n, &r->curr_ctr) ? UINT64_MAX : r->curr_ctr;
        break;
      }
    }
  }
}

int StickTable::SetValue(StEntry* e, uint32_t field, double value) {
  if (field >= h_->field_count) return -EINVAL;
  int64_t v;
  if (!ToInt64(value, &v)) return -EINVAL;
  uint8_t* p = reinterpret_cast<uint8_t*>(e) + h_->value_offsets[field];
  switch (h_->kinds[field]) {
    case kStCounter: {
      if (v < 0) return -EINVAL;
      const uint64_t u = static_cast<uint64_t>(v);
      memcpy(p, &u, sizeof u);
      return 0;
    }
    case kStGauge:
      memcpy(p, &v, sizeof v);
      return 0;
    default:
      return -EINVAL;  // a rate is made of events over time, not set
  }
}

void StickTable::ReadValues(StEntry* e, uint64_t now, double* values) const {
  const uint8_t* base = reinterpret_cast<const uint8_t*>(e);
  for (uint32_t i = 0; i < h_->field_count; ++i) {
    const uint8_t* p = base + h_->value_offsets[i];
    switch (h_->kinds[i]) {
      case kStCounter: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        values[i] = static_cast<double>(v);
        break;
      }
      case kStGauge: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        values[i] = static_cast<double>(v);
        break;
      }
      default:
        values[i] = RateRead(reinterpret_cast<const StRate*>(p), h_->periods[i], now);
        break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Operations

int StickTable::Get(const uint8_t* key, uint32_t flags, double* values) {
  int rc = Lock();
  if (rc < 0) return rc;
  // Read under the lock, so that touches reach the LRU list in the order of their expiry.
  const uint64_t now = StNowMs();
  StRef ref;
  rc = FindOrCreate(key, flags, now, &ref);
  if (rc == 0) {
    if (values != nullptr) ReadValues(At(ref), now, values);
    rc = static_cast<int>(ref - 1);
  }
  Unlock();
  return rc;
}

int StickTable::Update(int32_t slot, const double* deltas, double* values) {
  int rc = CheckDeltas(deltas);
  if (rc < 0) return rc;
  rc = Lock();
  if (rc < 0) return rc;
  const uint64_t now = StNowMs();
  const StRef ref = LiveSlot(slot);
  if (ref == 0) {
    rc = -EINVAL;
  } else {
    ApplyDeltas(At(ref), deltas, now);
    Touch(ref, now);
    if (values != nullptr) ReadValues(At(ref), now, values);
  }
  Unlock();
  return rc;
}

int StickTable::Set(int32_t slot, uint32_t field, double value) {
  int rc = Lock();
  if (rc < 0) return rc;
  const uint64_t now = StNowMs();
  const StRef ref = LiveSlot(slot);
  if (ref == 0) {
    rc = -EINVAL;
  } else {
    rc = SetValue(At(ref), field, value);
    Touch(ref, now);
  }
  Unlock();
  return rc;
}

int StickTable::UpdateKey(const uint8_t* key, uint32_t flags, const double* deltas, double* values) {
  if ((flags & ~uint32_t{kStCreate | kStNoEvict}) != 0) return -EINVAL;
  int rc = CheckDeltas(deltas);
  if (rc < 0) return rc;
  rc = Lock();
  if (rc < 0) return rc;
  const uint64_t now = StNowMs();
  StRef ref;
  rc = FindOrCreate(key, flags, now, &ref);
  if (rc == 0) {
    ApplyDeltas(At(ref), deltas, now);
    if (values != nullptr) ReadValues(At(ref), now, values);
  }
  Unlock();
  return rc;
}

int StickTable::SetKey(const uint8_t* key, uint32_t field, double value) {
  // Checked before anything is created: a refused set must not leave a new empty entry behind.
  int64_t v;
  if (field >= h_->field_count || h_->kinds[field] == kStRate || !ToInt64(value, &v) ||
      (h_->kinds[field] == kStCounter && v < 0)) {
    return -EINVAL;
  }
  int rc = Lock();
  if (rc < 0) return rc;
  const uint64_t now = StNowMs();
  StRef ref;
  rc = FindOrCreate(key, kStCreate, now, &ref);
  if (rc == 0) rc = SetValue(At(ref), field, value);
  Unlock();
  return rc;
}

int StickTable::Release(int32_t slot) {
  int rc = Lock();
  if (rc < 0) return rc;
  const uint64_t now = StNowMs();
  const StRef ref = LiveSlot(slot);
  if (ref == 0) {
    rc = -EINVAL;
  } else {
    StEntry* e = At(ref);
    if (--e->refs == 0) LruPushHead(ref);
    Touch(ref, now);
  }
  Unlock();
  return rc;
}

int StickTable::Clear(const uint8_t* key) {
  int rc = Lock();
  if (rc < 0) return rc;
  const uint64_t now = StNowMs();
  int removed = 0;
  if (key != nullptr) {
    const uint32_t hash = Hash(key);
    const StRef ref = Find(key, hash, now);  // an expired one is purged there, and not counted
    if (ref != 0 && At(ref)->refs == 0) {
      Remove(ref);
      removed = 1;
    }
  } else {
    // Exactly the unreferenced entries are on the LRU list.
    while (h_->lru_tail != 0) {
      Remove(h_->lru_tail);
      removed++;
    }
  }
  Unlock();
  return removed;
}

size_t StickTable::SnapshotRowBytes() const {
  return sizeof(StSnapshotRow) + h_->field_count * sizeof(double) + Align8(h_->key_length);
}

int StickTable::Snapshot(uint8_t* out, size_t row_bytes, uint32_t capacity) {
  int rc = Lock();
  if (rc < 0) return rc;
  const uint64_t now = StNowMs();
  while (h_->lru_tail != 0 && Expired(At(h_->lru_tail), now)) Remove(h_->lru_tail);
  uint32_t rows = 0;
  for (StRef ref = 1; ref <= h_->high_water && rows < capacity; ++ref) {
    StEntry* e = At(ref);
    if (!e->live) continue;
    uint8_t* row = out + rows * row_bytes;
    StSnapshotRow head;
    head.refs = e->refs;
    head.slot = ref - 1;
    // A referenced entry's clock runs as HAProxy's does (`show table` counts it down, to 0,
    // while the entry stays); 0 too for an expired one still here after a repair left the LRU
    // list out of expiry order.
    head.expires_in_ms = e->expire_at == 0 ? -1
                         : e->expire_at > now ? static_cast<int64_t>(e->expire_at - now)
                                              : 0;
    memcpy(row, &head, sizeof head);
    double* values = reinterpret_cast<double*>(row + sizeof head);
    ReadValues(e, now, values);
    memcpy(row + sizeof head + h_->field_count * sizeof(double), KeyOf(e), h_->key_length);
    rows++;
  }
  Unlock();
  return static_cast<int>(rows);
}

}  // namespace epoxy
