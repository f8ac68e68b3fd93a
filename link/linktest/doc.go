// Package linktest owns xvs's in-memory link: MemBackend, a link.Backend
// whose queues take frames injected by a test and collect (or hand to a
// callback) what the engine transmits, and StaticRouter, a next-hop table
// fixed in advance. With them the whole per-packet pipeline runs in tests
// and benchmarks without a kernel, as wireguard-go's tun/tuntest does for
// its device. It imports link and encap only, never the engine.
package linktest
