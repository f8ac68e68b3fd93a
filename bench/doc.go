// Package bench is xvs's benchmark harness: it measures delivered packets
// per second, new connections per second, latency and CPU per packet of xvs
// against baselines on the same machine, in the same run, and writes a
// report (results/report.md, chart.svg, results.json). The xvs-bench command
// (bench/cmd/xvs-bench) drives it; `make bench` and `make bench-smoke` run it.
//
// # What it owns
//
//   - Labs (topo.go): its own network namespaces, built with `ip -batch`
//     and removed on exit, on error and on SIGINT/SIGTERM; stale labs of a
//     dead run are removed at the start. Two-armed for NAT and the kernel
//     baselines, one-armed for DR and TUN. No bridge sits on the measured
//     path (see the diagram in topo.go).
//   - The generator (gen.go, frames.go): Go over AF_XDP TX (asavie/xdp) in
//     its own namespace, one core, pre-built UDP frames of any size patched per
//     flow (1 to millions of flows by source address and port) or TCP SYNs
//     from a new source each; every run bounded by time and count.
//   - The sink (sink.go, xdpprog.go): an XDP program in cilium/ebpf asm on
//     the real servers' link that counts frames per real server (by MAC) in a
//     per-CPU array and drops them, so the figure is frames delivered.
//   - Scenarios (scenario.go, xvs.go, bounce.go, nft.go): bin/xvs in NAT, DR
//     and TUN mode on each of its backends, AF_XDP (xvs-nat, xvs-dr,
//     xvs-tun) and AF_PACKET (the same with -afp), and the baselines: plain
//     kernel forwarding, kernel forwarding with nftables DNAT, and a bare
//     AF_XDP bounce (the ceiling of the path). xvs-nat-checks (checks.go,
//     checkd.go, checksidle.go) is xvs-nat with health checks running: a
//     keepalived.conf with the same services plus a virtual server whose
//     1000 real servers (one HTTP server, the __checkd child, on 1000
//     ports) are checked by HTTP_GET every second; no traffic goes to them.
//     Each of its trials (and each xvs-nat-sync trial, below) is followed
//     by xvs-nat-paced, xvs-nat with the generator held to the rate the
//     trial offered, so that the variant is judged against the same
//     daemon under the same load.
//     xvs-nat-sync (sync.go, syncinstall.go) is xvs-nat with an IPVS sync
//     master on the director's client-side interface and a
//     connsync.Backup in the bench counting what it sends, against
//     xvs-nat under the sync load (64 B, 10 k flows, one frame in 32 from
//     a new flow: about 10 k new connections a second); after it a backup
//     daemon is fed sync datagrams at known rates and its installs
//     counted. The TCP-load rows (tcpload.go, tcplab.go, tcptools.go) put real TCP
//     through the VIP in internal/testnet's NAT and DR labs (real servers
//     with namespaces and TCP stacks of their own): ab's HTTP requests
//     per second against nginx and one iperf3 stream's Gbit/s, xvs-nat
//     against nft-dnat and xvs-dr against kernel-ecmp (the director's
//     kernel forwarding the VIP over a multipath route). The nft-dnat baseline's table
//     (ip xvsbench) and the AF_PACKET backend's (netdev xvs_afpacket_*)
//     share the director namespace in turn; every AF_PACKET trial checks
//     that its daemon's table is gone before the next trial.
//   - Trials (plan.go, run.go): interleaved xvs/baseline order, rounds,
//     medians with min–max; CPU from /proc/stat (procstat.go); latency with a
//     UDP echo probe (latency.go), beside kernel forwarding on the
//     director's core and the cost of a wake-up across cores (wake.go);
//     the connection table's memory and the Go
//     benchmarks of conntrack and forwarder (ctmem.go, gobench.go).
//   - The report (report.go, chart.go, targets.go, backends.go,
//     checksreport.go, blockers.go): Markdown tables, the project's
//     targets (of the AF_XDP backend) with met/not met and, for each one
//     missed, what stands in its way in the run's own figures, the
//     AF_PACKET/AF_XDP ratio per mode and load, the health-check row (the daemon's CPU idle and under load
//     with and without the checks, the forwarding rate with ÷ without),
//     the connection-sync rows (syncreport.go: forwarding with a sync
//     master ÷ without, the master's datagrams and entries per second,
//     what the bench's backup received, a backup daemon's install rate
//     against the rate offered), the TCP-load rows (tcpload_report.go:
//     xvs ÷ kernel per lab and load, same-round ratios), an SVG chart.
//
// Child roles (generator, bounce, echo, probe, checked servers, table measurement) run as the
// same binary re-executed inside a lab namespace; a program embedding this
// package must call RunChild when IsChild(os.Args[1:]) says so, as the
// xvs-bench command and this package's tests do.
//
// # Running it
//
// As root, from the module root after `make build`:
//
//	go run ./bench/cmd/xvs-bench -out results     # full: 3 rounds, ~18 min
//	go run ./bench/cmd/xvs-bench -smoke -out DIR  # CI subset, ~1.5 min
//
// Loads of 100 k flows and more are prefilled for stateful directors
// (prefill.go): every flow is sent once, paced, before the trial, so the
// trial measures established flows. The full run also has a 64 B / 10 M
// flow load (Options.BigLoads) for the bounce and xvs-nat only: its
// prefill takes some 50 s a trial, about 2.5 minutes in all (-big=false
// leaves it out), and the daemon's table is sized for it (xvsCapacity).
//
// The health-check row adds about a minute and a half to the full run (each
// of its daemons waits some two seconds for keepalived's first-check
// delays) and some seven seconds to the smoke run.
// The sync rows add six trials and three install rounds (some 25 s) to the
// full run, two trials and one round (about 3 s) to the smoke run. The
// TCP-load rows add 24 runs of 2 s (about a minute) to the full run and 8 of 1 s
// (some 15 s, two labs built) to the smoke run.
//
// Useful flags: -rounds, -trial, -skip SCENARIO,..., -xvs off|auto|require
// (auto: a daemon that does not start marks xvs unavailable and only the
// baselines are measured; require: that fails the run), -no-latency,
// -no-gobench, -pin=false, -checks N (checked real servers of xvs-nat-checks,
// 0 leaves it out; the smoke run checks 100), -sync=false (no
// xvs-nat-sync), -sync-install N (entries per offer to the backup daemon,
// 0 leaves it out; the smoke run offers 10 k), -tcpload=false (no TCP-load
// rows), -tcpload-only (those rows alone), -tcpload-time D (each ab and
// iperf3 run; whole seconds), -tcpload-rps (the kernel baselines'
// forwarding steered to the director's core by RPS, as xvs's worker is). The TCP-load rows need ab, iperf3 and nginx,
// which scripts/deps.sh (make deps) installs. Tools it needs (nft, taskset) are installed by
// bench/deps.sh, which it runs by itself when they are missing. Any setup
// failure, or a scenario that delivers nothing, fails the run with a
// non-zero exit; targets that are not met do not.
//
// The product never imports this package.
package bench
