// Package keepalived reads keepalived.conf as operators write it into a plain Go model, Config:
// the checker half of the grammar (global_defs, include, virtual_server_group, virtual_server with
// real_server and every checker the health package implements), whose checkers are ready-made
// health.Checker values with their timing resolved the way keepalived inherits it (checker, then
// real server, then virtual server, then keepalived's per-kind default); and the VRRP half
// (vrrp_instance, vrrp_script, global_defs' vrrp_* defaults and lvs_sync_daemon), whose instances
// map onto package vrrp's.
//
// Nothing is dropped in silence: a keyword this reader does not implement (vrrp_sync_group, SMTP_CHECK,
// smtp_alert, ...) becomes a Warning with its file:line, and a syntax error or a bad value (unknown
// checker, zero or negative interval, a URL path that does not parse, a digest that is not 32 hex
// characters) is an *Error with file:line naming the server and the field. The package knows nothing
// of the forwarding engine: mapping Config onto xvs's service model is the caller's job.
package keepalived
