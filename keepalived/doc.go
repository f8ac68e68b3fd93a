// Package keepalived reads keepalived.conf as operators write it into a plain Go model, Config:
// the checker half of the grammar (global_defs, include, virtual_server_group, virtual_server with
// real_server and every checker the health package implements), whose checkers are ready-made
// health.Checker values with their timing resolved the way keepalived inherits it (checker, then
// real server, then virtual server, then keepalived's per-kind default); and the VRRP half
// (vrrp_instance, vrrp_script, global_defs' vrrp_* defaults and lvs_sync_daemon), whose instances
// map onto package vrrp's.
//
// It also maps the file onto xvs's own models, so the daemon can run a keepalived.conf as its
// configuration: Config.Services gives the forwarding half as a validated service.Config (a
// virtual_server IP PORT is an address service, a virtual_server group a service group whose
// matches are the group's address ranges as prefixes; lb_algo, scheduler flags and ops,
// lb_kind with TUN's encapsulation, persistence, weights and thresholds become the service's
// and real servers' fields), and VirtualServer.Health the health engine's view, keyed by
// service.Key and service.RealKey so the engine's actions find their targets in those
// services; VirtualServer.SorryReal is the sorry server as a real server. Firewall marks are
// set by netfilter, which xvs's XDP path never sees: a virtual_server fwmark (or a group of
// marks only) is left out, with a warning that says what to write instead, and Forwarded lists
// the virtual servers that are kept. A group used by several virtual servers (its TCP and its
// UDP side) maps to one service group per use: NAME for the first in file order, NAME/udp or
// NAME/tcp for the other protocol.
//
// Nothing is dropped in silence: a keyword this reader does not implement (vrrp_sync_group, SMTP_CHECK,
// smtp_alert, ...), or a value read that changes nothing in forwarding (persistence_engine, a
// scheduler flag the scheduler does not take), becomes a Warning with its file:line, and a
// syntax error or a bad value (unknown checker or scheduler, zero or negative interval, a URL
// path that does not parse, a digest that is not 32 hex characters, SCTP, ops on TCP) is an
// *Error with file:line naming the server and the field. The package knows nothing of the
// forwarding engine itself.
package keepalived
