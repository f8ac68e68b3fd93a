// Package health owns deciding whether a real server is fit for traffic, the way keepalived's checker
// process decides it, so an operator who knows keepalived recognises every knob and every transition.
//
// It has three layers, each usable on its own:
//
//   - Probes: a Checker runs one probe and returns a Result with a short reason ("connect: connection
//     refused", "HTTP status 503", "digest mismatch", "DNS rcode SERVFAIL", "exit status 1"). TCP, HTTP,
//     UDP, DNS and Exec implement keepalived's TCP_CHECK, HTTP_GET/SSL_GET, UDP_CHECK, DNS_CHECK and
//     MISC_CHECK. Every network probe dials through a Net, which can bind a source address, set a
//     firewall mark, bind to a device, run a socket Control hook, and create its socket inside another
//     network namespace (Net.Enter), so a path-true DR/TUN probe can run from a probe namespace.
//   - The checker state machine (keepalived's tcp_epilog): delay_loop, retry, delay_before_retry,
//     warmup, alpha. A checker goes down after retry+1 consecutive failures (one at start-up), comes
//     back after one success, and never stops probing.
//   - The pool decision (keepalived's ipwrapper.c): a real server is alive while none of its checkers
//     failed; a dead one leaves the pool, or stays at weight 0 with inhibit_on_failure; quorum,
//     hysteresis and the sorry server follow update_quorum_state. The outcome is a call on Actions,
//     which the daemon implements, so this package never touches the forwarding engine.
//
// Engine ties the three together on an injected Clock: Start applies the initial pool and schedules
// every checker, Status returns a snapshot of every checker for `xvsadm --checks`, Stop ends it.
// Nothing here sits on the packet path.
package health
