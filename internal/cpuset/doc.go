// Package cpuset owns the daemon's CPU placement: parsing CPU lists as
// taskset and the kernel write them ("0-3,8"), checking them against the
// CPUs the process may use, and pinning threads to them.
//
// Why it exists: a director's forwarding workers busy-poll their queues,
// and everything else the daemon does (health checks, VRRP, sync,
// metrics, the Go runtime's own work) competes with them for the same
// cores unless they are kept apart. The usual layout of a dedicated
// forwarder (Katran's, DPDK's) is the one xvs run offers with
// --worker-cpus and --control-cpus: each worker on a core of its own, the
// control plane on housekeeping cores.
package cpuset
