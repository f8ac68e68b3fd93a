// Package control owns xvs's control plane: the daemon's API on a Unix socket
// (used by xvsadm and by Go programs), loading and atomically reloading the
// configuration file (LoadFile, and Reloader for SIGHUP and the socket's
// reload request), and the Prometheus metrics endpoint. Nothing here sits
// on the packet path; it drives an Engine.
package control
