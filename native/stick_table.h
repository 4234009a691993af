// Stick table: one table of keyed counters shared by every worker process, the storage half of
// HAProxy's `stick-table` (no configuration knowledge: fixed-length byte keys, numbered fields).
//
// The table is one memfd region that every process maps MAP_SHARED, at a different address in
// each: so the region holds indices, never pointers. A process-shared robust mutex in the header
// serialises every operation; an operation is a few hundred nanoseconds of work on a handful of
// cache lines, far below what a reader/writer split or per-bucket locks would pay back.
//
// Region layout (every part 8-byte aligned):
//
//   StHeader | buckets: uint32_t[bucket_count] | entries: entry_stride bytes * size
//
// Every link (bucket head, hash chain, LRU, free list) is a StRef: slot index + 1, 0 meaning none,
// so that a zero-filled memfd (what ftruncate gives) is already an empty table: creating one only
// writes the header, and pages of entries never used are never touched.
//
// An entry is an StEntry, then its field values at value_offsets[i] (8 bytes for a counter or a
// gauge, an StRate for a rate), then its key at key_offset:
//
//   bytes per entry = 32 + 8 * (counters + gauges) + 24 * rates + round_up(keyLength, 8)
//                     + 4 * bucket_count / size  (bucket heads: between 4 and 8 bytes an entry)
//
// Recency and expiry. Only unreferenced entries are on the LRU list, most recently touched at the
// head. Every touch sets expire_at = now + expire_ms, with `now` read under the lock, so the list
// is also sorted by expiry: purging walks from the tail and stops at the first live entry, and
// eviction takes the tail, both O(1) per entry freed, however many entries are referenced.
// Referenced entries (refs > 0) are off the list: they never expire nor are evicted, and are put
// back at the head (touched) when their last reference is released.
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

namespace epoxy {

constexpr uint64_t kStMagic = 0x3162617473787065ULL;  // "epxstab1" read as little-endian bytes
constexpr uint32_t kStVersion = 1;    // bumped with any change of the region's layout
constexpr uint32_t kStMaxKey = 1024;  // bytes; HAProxy's largest key type (string) defaults to 32
constexpr uint32_t kStMaxFields = 32;  // HAProxy stores at most a few dozen data types per table
// Entries; a ceiling well above HAProxy deployments (millions of client addresses) that keeps every
// slot index, + 1, inside an int32 and the bucket count a power of two that fits a uint32.
constexpr uint32_t kStMaxSize = 1u << 24;
// Bytes of the whole region: with the entry ceiling this refuses tables of huge keys times many
// entries that would only fail later, page by page, as SIGBUS on a memfd the host cannot back.
constexpr uint64_t kStMaxBytes = 1ULL << 32;
constexpr uint32_t kStMaxExpireMs = 0x7fffffffu;  // HAProxy's own limit (a signed 32-bit tick)

// What a field holds.
enum StFieldKind : uint8_t {
  kStCounter = 0,  // uint64: add (saturating, floor 0) and set; gpc0, conn_cnt, bytes_in_cnt...
  kStGauge = 1,    // int64: add (a negative delta stops at 0) and set; conn_cur, server_id
  kStRate = 2,     // StRate event rate over a period in ms; conn_rate(10s), http_req_rate(1m)...
};

// flags of Get/UpdateKey.
enum StGetFlags : uint32_t {
  kStCreate = 1,  // create the entry when it is absent (or expired)
  kStRef = 2,     // take a reference: the entry then neither expires nor is evicted until Release
  // With kStCreate in a full table: purge expired entries only, never a live one (HAProxy's
  // `nopurge`: refuse newcomers rather than forget known clients). -ENOSPC when none expired.
  kStNoEvict = 4,
};

// Slot index + 1; 0 is "none" (see the layout comment above).
typedef uint32_t StRef;

// HAProxy's freq_ctr: events of the current period and of the previous one. Reading weighs the
// previous period by the part of it still inside a sliding window of one period ending now.
struct StRate {
  uint64_t curr_tick;  // CLOCK_MONOTONIC ms at which the current period began
  uint64_t curr_ctr;   // events counted since curr_tick
  uint64_t prev_ctr;   // events of the period before (0 if that period had none or is over)
};

// The head of each entry; field values and key follow at the header's offsets.
struct StEntry {
  StRef hash_next;     // next entry of the same bucket; on the free list, the next free slot
  StRef lru_prev;      // more recently touched neighbour (0 at the head or when off the list)
  StRef lru_next;      // less recently touched neighbour (0 at the tail or when off the list)
  uint32_t refs;       // references taken with kStRef and not released yet
  uint64_t expire_at;  // CLOCK_MONOTONIC ms after which an unreferenced entry is gone (0: never)
  uint32_t hash;       // the key's hash, compared before the key bytes
  uint32_t live;       // 1 from the moment key and values are written until removal begins
};
static_assert(sizeof(StEntry) == 32, "the memory formula above counts 32 bytes of entry head");

// The region's first bytes. Fields above `mutex` are written once by StInit and only read
// afterwards; those from `mutex` on change under it.
struct StHeader {
  uint64_t magic;                       // kStMagic: this is a stick table
  uint32_t version;                     // kStVersion: of this layout
  uint32_t key_length;                  // bytes of every key, 1..kStMaxKey
  uint32_t size;                        // entries at most, 1..kStMaxSize
  uint32_t expire_ms;                   // idle time after which an entry expires; 0: never
  uint32_t field_count;                 // fields per entry, 0..kStMaxFields
  uint32_t bucket_count;                // hash buckets: the power of two >= size
  uint32_t entry_stride;                // bytes from one entry to the next (multiple of 8)
  uint32_t key_offset;                  // of the key bytes within an entry
  uint64_t buckets_offset;              // of the bucket array within the region
  uint64_t entries_offset;              // of entry 0 within the region
  uint64_t total_bytes;                 // of the region: the memfd's size
  uint64_t hash_seed;                   // random per table, so clients cannot aim at one bucket
  uint8_t kinds[kStMaxFields];          // StFieldKind of each field (0 past field_count)
  uint32_t periods[kStMaxFields];       // ms, for rates (0 for other kinds)
  uint32_t value_offsets[kStMaxFields];  // of each field's value within an entry

  pthread_mutex_t mutex;  // PROCESS_SHARED, ROBUST, ERRORCHECK: guards what follows
  uint32_t used;          // live entries, expired ones included until they are purged
  uint32_t high_water;    // slots [0, high_water) have been used at least once
  StRef free_head;        // slots freed since, chained through hash_next
  StRef lru_head;         // most recently touched unreferenced entry
  StRef lru_tail;         // least recently touched unreferenced entry: the next to go
  uint32_t repairs;       // times a lock was taken over from a process that died holding it
};

// The immutable part of a header, computed from a table's parameters: kinds/periods point to
// field_count entries. Returns 0, or -EINVAL with `*why` set to what is wrong.
int StLayout(uint32_t key_length, uint32_t size, uint32_t expire_ms, uint32_t field_count,
             const uint8_t* kinds, const uint32_t* periods, StHeader* out, const char** why);

// Writes a fresh header (from StLayout) at the start of a zero-filled region of
// layout.total_bytes and initialises its mutex. 0 or -errno.
int StInit(void* region, const StHeader& layout, uint64_t hash_seed);

// Checks that `region` (of `bytes`) holds a table this build can use: magic, version, parameters
// that give back the same layout, a total size equal to `bytes`, and in-range shared state.
// 0, or -EINVAL with `*why` set.
int StValidate(const void* region, uint64_t bytes, const char** why);

// One entry as entries() reports it, written into a caller's buffer by StickTable::Snapshot.
// Followed by field_count doubles, then key_length bytes, the whole padded to 8.
struct StSnapshotRow {
  uint32_t refs;           // references held
  uint32_t slot;           // slot index
  int64_t expires_in_ms;   // ms until expiry; -1 when it cannot expire (referenced, or expire 0)
};

// One process's view of a mapped table. Every method takes the table's lock for its whole work;
// none allocates (but Snapshot's caller) nor makes a syscall other than clock_gettime and futex.
// Results are >= 0 or -errno.
class StickTable {
 public:
  StickTable() = default;
  explicit StickTable(void* region) : h_(static_cast<StHeader*>(region)) {}

  const StHeader* header() const { return h_; }
  uint32_t used() const { return __atomic_load_n(&h_->used, __ATOMIC_RELAXED); }
  uint32_t repairs() const { return __atomic_load_n(&h_->repairs, __ATOMIC_RELAXED); }

  // The entry for key[0, key_length): its slot, or -ENOENT (absent or expired, no kStCreate),
  // -ENOSPC (creation in a full table of referenced entries). Touches it; with kStRef takes a
  // reference. `values` (field_count doubles, may be null) receives every field's value.
  int Get(const uint8_t* key, uint32_t flags, double* values);
  // Adds deltas[i] to field i (rates: counts deltas[i] events) of a referenced slot, touches it,
  // fills `values` if not null. 0, or -EINVAL (slot not live and referenced, or a delta that is
  // not a finite integer in range, or negative for a rate: then nothing changes).
  int Update(int32_t slot, const double* deltas, double* values);
  // Sets a counter or gauge of a referenced slot. 0 or -EINVAL (bad slot, field, or value).
  int Set(int32_t slot, uint32_t field, double value);
  // Get (kStCreate honoured, kStRef refused with -EINVAL) then Update, under one lock. 0 or -errno.
  int UpdateKey(const uint8_t* key, uint32_t flags, const double* deltas, double* values);
  // Creates the entry when absent and sets one counter or gauge, under one lock. 0 or -errno.
  int SetKey(const uint8_t* key, uint32_t field, double value);
  // Gives back a reference and touches the entry. 0 or -EINVAL (slot not live or not referenced).
  int Release(int32_t slot);
  // Removes unreferenced entries: all, or the one of `key` (if not null). How many, or -errno.
  int Clear(const uint8_t* key);
  // Purges expired entries, then copies up to `capacity` live entries as rows (see
  // StSnapshotRow) into `out`, `row_bytes` each. The row count, or -errno.
  int Snapshot(uint8_t* out, size_t row_bytes, uint32_t capacity);
  // Bytes of one Snapshot row of this table.
  size_t SnapshotRowBytes() const;
  // Test hook: takes the lock and keeps it, so that a test process can exit holding it and prove
  // the next locker repairs the table. 0 or -errno.
  int HoldLockForTest() { return Lock(); }

 private:
  int Lock();
  void Unlock();
  void Repair();

  StEntry* At(StRef ref) const;
  uint8_t* KeyOf(StEntry* e) const;
  uint32_t Hash(const uint8_t* key) const;
  StRef* Bucket(uint32_t hash) const;

  // --- with the lock held ---
  StRef Find(const uint8_t* key, uint32_t hash, uint64_t now);
  int FindOrCreate(const uint8_t* key, uint32_t flags, uint64_t now, StRef* out);
  StRef Allocate(uint64_t now, bool evict);
  void Remove(StRef ref);
  bool Expired(const StEntry* e, uint64_t now) const;
  void Touch(StRef ref, uint64_t now);
  void LruUnlink(StRef ref);
  void LruPushHead(StRef ref);
  StRef LiveSlot(int32_t slot) const;
  int CheckDeltas(const double* deltas) const;
  void ApplyDeltas(StEntry* e, const double* deltas, uint64_t now);
  int SetValue(StEntry* e, uint32_t field, double value);
  void ReadValues(StEntry* e, uint64_t now, double* values) const;

  StHeader* h_ = nullptr;
};

// CLOCK_MONOTONIC in ms: the same clock in every process of the host.
uint64_t StNowMs();

}  // namespace epoxy
