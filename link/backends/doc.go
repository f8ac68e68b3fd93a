// Package backends owns the choice of a real backend by name: Open takes
// "xdp", "afpacket" or "auto" and a list of interfaces, as xvs run's
// --backend flag does, so a Go program embedding the engine chooses the
// same way the daemon does.
//
// It is a package of its own because of the import graph: link/afxdp and
// link/afpacket import link, so link cannot import them, and the engine
// (package forwarder) stays free of any backend — it only knows
// link.Backend, and tests run it over linktest without the real two.
package backends
