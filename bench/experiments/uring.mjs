// Does an io_uring relay cut the CPU per keep-alive request? (bench/experiments/README.md)
//
//   node bench/experiments/uring.mjs [--rounds 3] [--duration 5] [--connections 50]
//        [--targets uring,copy,epoxy,haproxy] [--syscalls 3]
//
// One nginx backend (128-byte body) and proxies in front of it, alternating over the rounds:
//   uring        bench/experiments/uring-relay (multishot accept + recv, provided-buffer ring,
//                SINGLE_ISSUER | DEFER_TASKRUN; one io_uring_enter per loop)
//   uring-fixed  the same with registered files (--fixed)
//   uring-coop   COOP_TASKRUN instead of DEFER_TASKRUN; uring-none: neither
//   copy         bench/experiments/sockmap-relay --mode copy (epoll + recv/send)
//   epoxy, haproxy with proxy.cfg
// then, per target, a separate run under perf stat for the proxy's syscalls per request.
// Needs liburing (liburing-dev) and root (perf). The measurement is keepalive.mjs's.
import { keepaliveBench } from './keepalive.mjs';

await keepaliveBench({ script: 'uring.mjs', targets: ['uring', 'copy', 'epoxy', 'haproxy'], syscalls: 3 });
