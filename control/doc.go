// Package control owns xvs's control plane: the daemon's API on a Unix socket
// (used by xvsadm and by Go programs), loading and atomically reloading the
// configuration file (LoadFile, and Reloader for SIGHUP and the socket's
// reload request), and the Prometheus metrics endpoint. Nothing here sits
// on the packet path; it drives an Engine. The bgp: block's model, status
// and metrics live here too (configbgp*.go); the BGP speaker itself is
// package announce, so GoBGP stays out of this package.
package control
