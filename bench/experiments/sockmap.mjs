// Does a sockmap data path cut the CPU per keep-alive request? (bench/experiments/README.md)
//
//   node bench/experiments/sockmap.mjs [--rounds 3] [--duration 5] [--connections 50]
//        [--targets sockmap,copy,epoxy,haproxy] [--syscalls SECS]
//
// One nginx backend (128-byte body) and four proxies in front of it, alternating over the rounds:
//   sockmap  bench/experiments/sockmap-relay --mode sockmap  (BPF sk_skb verdict redirect)
//   copy     bench/experiments/sockmap-relay --mode copy     (epoll + recv/send, same program)
//   epoxy    node bin/epoxy -f proxy.cfg
//   haproxy  haproxy -db -f proxy.cfg                        (the same file)
// Needs root (BPF). The measurement itself, its metrics and its output are keepalive.mjs's.
import { keepaliveBench } from './keepalive.mjs';

await keepaliveBench({ script: 'sockmap.mjs', targets: ['sockmap', 'copy', 'epoxy', 'haproxy'] });
