#!/usr/bin/env bash
# Builds the PROXY protocol parser's libFuzzer target (test/fuzz/proxy_protocol_fuzz.cc with
# native/proxy_protocol.cc alone) with clang, AddressSanitizer and UndefinedBehaviorSanitizer,
# and runs it for a bounded time. Fails on any crash, sanitizer report, broken invariant, timeout
# or out-of-memory; libFuzzer then leaves the input as crash-*/timeout-*/oom-* in the output dir.
#
#   bash test/fuzz/run.sh [seconds]     (default 60)
#
# Needs clang and its compiler-rt runtimes (libFuzzer, ASan, UBSan). On Debian 12:
#   apt-get install clang libclang-rt-dev      (clang-14 and libclang-rt-14-dev)
# CLANGXX picks another compiler; FUZZ_OUT the output dir (default test-results/fuzz/proxy_protocol,
# where the grown corpus and any crashing input stay). Replay one input: <binary> <file>.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: $0 [seconds]" >&2
  exit 2
fi

clangxx=${CLANGXX:-}
if [ -z "$clangxx" ]; then
  for candidate in clang++ clang++-19 clang++-16 clang++-15 clang++-14; do
    if command -v "$candidate" >/dev/null; then
      clangxx=$candidate
      break
    fi
  done
fi
if [ -z "$clangxx" ]; then
  echo "fuzz: clang++ not found (Debian: apt-get install clang libclang-rt-dev)" >&2
  exit 1
fi

out=${FUZZ_OUT:-test-results/fuzz/proxy_protocol}
seeds=test/fuzz/corpus/proxy_protocol
mkdir -p "$out/corpus"
binary="$out/proxy_protocol_fuzz"

# -O1 keeps the sanitizers' reports readable while running many more inputs than -O0.
"$clangxx" -std=gnu++17 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -Inative \
  test/fuzz/proxy_protocol_fuzz.cc native/proxy_protocol.cc -o "$binary"

# The protocol's tokens, so mutations reach past the signatures and the v1 keywords quickly.
cat >"$out/proxy_protocol.dict" <<'DICT'
v1="PROXY "
tcp4="TCP4 "
tcp6="TCP6 "
unknown="UNKNOWN"
crlf="\x0D\x0A"
v4="255.255.255.255"
v6="ffff:ffff::ffff:1.2.3.4"
port="65535"
sig="\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"
proxy_cmd="\x21"
local_cmd="\x20"
inet="\x11"
inet6="\x21"
unix="\x31"
dgram="\x12"
tlv_crc="\x03\x00\x04"
tlv_ssl="\x20\x00\x05"
tlv_len_max="\x05\xFF\xFF"
DICT

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz: $binary for ${seconds}s (corpus $out/corpus + seeds $seeds)"
# New inputs go to the first corpus dir; the seeds are only read. -max_len above the v2 limit
# (1536) so oversized headers are explored too.
"$binary" "$out/corpus" "$seeds" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=2048 \
  -use_value_profile=1 -dict="$out/proxy_protocol.dict" \
  -artifact_prefix="$out/" -print_final_stats=1
