// Package service owns xvs's virtual-service model: virtual services (protocol,
// VIP and port, or a named service group — xvs's equivalent of IPVS firewall-mark
// services), their real servers, forwarding methods, weights, thresholds and
// persistence, and the rules that make a configuration valid.
//
// A Config is a plain value. Every change (an ipvsadm command, a reloaded file)
// is applied to a clone and validated as a whole before anyone sees it, so a
// running engine only ever swaps one valid Config for another. The error values
// carry ipvsadm's own wording (see Error) so the admin tool can print them as is.
package service
