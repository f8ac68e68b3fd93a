// Package keepalived reads keepalived.conf as operators write it: the checker half of the grammar
// (global_defs, include, virtual_server_group, virtual_server with real_server and every checker
// the health package implements) into a plain Go model, Config, whose checkers are ready-made
// health.Checker values with their timing resolved the way keepalived inherits it (checker, then
// real server, then virtual server, then keepalived's per-kind default).
//
// Nothing is dropped in silence: a keyword this reader does not implement (vrrp_instance, SMTP_CHECK,
// smtp_alert, ...) becomes a Warning with its file:line, and a syntax error or a bad value (unknown
// checker, zero or negative interval, a URL path that does not parse, a digest that is not 32 hex
// characters) is an *Error with file:line naming the server and the field. The package knows nothing
// of the forwarding engine: mapping Config onto xvs's service model is the caller's job.
package keepalived
