// Package nft owns xvs's nf_tables netlink client: just enough of the
// protocol to create a netdev table with base chains on interfaces' ingress
// hooks and regular chains, to replace the regular chains' rules in one
// atomic batch, to list tables and to delete them — and to clean up the
// tables of runs that died. Messages are built by hand (there is no
// nftables library in go.mod and the nft binary may be missing); every
// change goes to the kernel as one batch, which it applies atomically.
//
// A Rule is a list of byte comparisons (payload, meta or IPv6 extension
// header loads, optionally masked) and a verdict. Which rules to install is
// not this package's business: afpacket generates them from the steering
// rules, beside its socket filter.
package nft
