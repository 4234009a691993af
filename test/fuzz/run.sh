#!/usr/bin/env bash
# Builds a parser's libFuzzer target (test/fuzz/<target>_fuzz.cc with native/<target>.cc alone)
# with clang, AddressSanitizer and UndefinedBehaviorSanitizer, and runs it for a bounded time.
# Targets: proxy_protocol (the PROXY header parser), client_hello (the TLS ClientHello
# inspector). Fails on any crash, sanitizer report, broken invariant, timeout or out-of-memory;
# libFuzzer then leaves the input as crash-*/timeout-*/oom-* in the output dir.
#
#   bash test/fuzz/run.sh [seconds] [target]     (default 60, proxy_protocol)
#
# Needs clang and its compiler-rt runtimes (libFuzzer, ASan, UBSan). On Debian 12:
#   apt-get install clang libclang-rt-dev      (clang-14 and libclang-rt-14-dev)
# CLANGXX picks another compiler; FUZZ_OUT the output dir (default test-results/fuzz/<target>,
# where the grown corpus and any crashing input stay). Replay one input: <binary> <file>.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
target=${2:-proxy_protocol}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ] || ! [ -f "test/fuzz/${target}_fuzz.cc" ]; then
  echo "usage: $0 [seconds] [proxy_protocol|client_hello]" >&2
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

out=${FUZZ_OUT:-test-results/fuzz/$target}
seeds=test/fuzz/corpus/$target
mkdir -p "$out/corpus"
binary="$out/${target}_fuzz"

# -O1 keeps the sanitizers' reports readable while running many more inputs than -O0.
"$clangxx" -std=gnu++17 -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -Werror -Inative \
  "test/fuzz/${target}_fuzz.cc" "native/${target}.cc" -o "$binary"

# The protocol's tokens, so mutations reach past the signatures and the keywords quickly.
if [ "$target" = client_hello ]; then
  # -max_len above the largest record (16 KiB + 2 KiB) so oversized records are explored too.
  max_len=20000
  cat >"$out/$target.dict" <<'DICT'
handshake_tls10="\x16\x03\x01"
handshake_tls12="\x16\x03\x03"
client_hello="\x01\x00"
sni_ext="\x00\x00"
alpn_ext="\x00\x10"
groups_ext="\x00\x0A"
host_name="\x00\x00\x0B"
h2="\x02h2"
http11="\x08http/1.1"
sslv2="\x80\x2E\x01\x00\x02"
len_max="\xFF\xFF"
DICT
else
  # -max_len above the v2 limit (1536) so oversized headers are explored too.
  max_len=2048
  cat >"$out/$target.dict" <<'DICT'
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
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz: $binary for ${seconds}s (corpus $out/corpus + seeds $seeds)"
# New inputs go to the first corpus dir; the seeds are only read.
"$binary" "$out/corpus" "$seeds" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
  -use_value_profile=1 -dict="$out/$target.dict" \
  -artifact_prefix="$out/" -print_final_stats=1
