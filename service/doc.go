// Package service owns xvs's virtual-service model: virtual services (protocol,
// VIP and port, or a named service group — xvs's equivalent of IPVS firewall-mark
// services), their real servers, forwarding methods, weights, thresholds and
// persistence, and the rules that make a configuration valid.
//
// A Config is a plain value. Every change (an ipvsadm command, a reloaded file)
// is applied to a clone and validated as a whole before anyone sees it, so a
// running engine only ever swaps one valid Config for another. The sentinel
// errors carry ipvsadm's own wording, and a FieldError says which field of
// which object is wrong and wraps the sentinel, so the admin tool can print
// them as is.
//
// service also owns the types an engine reports in: Stats (counters, rates
// and table figures per service and real server), Conn (one connection
// entry, its addresses as netip.AddrPort values) and Drop and DropReport
// (loss counters as queue, reason and count records). The forwarder fills
// them and the control plane, the metrics and xvsadm read them, none
// formatting for another to parse again.
package service
