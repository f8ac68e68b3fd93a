package testnet

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
)

// idPrefix starts every namespace and interface name of a lab.
const idPrefix = "xvs"

// maxIfName is IFNAMSIZ-1: the longest interface name Linux accepts.
const maxIfName = 15

// netnsDir is where `ip netns` keeps the namespaces' bind mounts.
const netnsDir = "/run/netns"

// labSeq numbers the labs of this process; two base-36 digits of it end the ID.
var labSeq atomic.Uint32

// nsNameRE matches the namespaces this package creates: ID "-" host. The ID
// is "xvs", the creator's pid in base 36 and a two-digit base-36 sequence.
var nsNameRE = regexp.MustCompile(`^(` + idPrefix + `([0-9a-z]{1,5})[0-9a-z]{2})-([a-z][a-z0-9]{0,15})$`)

// newID returns a lab ID for this process that no namespace uses yet.
func newID() (string, error) {
	pid := strconv.FormatInt(int64(os.Getpid()), 36)
	for range 36 * 36 {
		seq := labSeq.Add(1) % (36 * 36)
		id := fmt.Sprintf("%s%s%02s", idPrefix, pid, strconv.FormatInt(int64(seq), 36))
		if !idInUse(id) {
			return id, nil
		}
	}
	return "", fmt.Errorf("no free lab id for pid %d", os.Getpid())
}

// idInUse reports whether a namespace of id exists (a lab of this process
// still open after the sequence wrapped).
func idInUse(id string) bool { return len(labNamespaces(id)) > 0 }

// labNamespaces lists the existing namespaces of lab id.
func labNamespaces(id string) []string {
	ents, _ := os.ReadDir(netnsDir)
	var ns []string
	for _, e := range ents {
		if lid, _, _, ok := parseNSName(e.Name()); ok && lid == id {
			ns = append(ns, e.Name())
		}
	}
	return ns
}

// parseNSName splits a lab namespace name into its ID, creator pid and host
// name; ok is false for names this package did not make.
func parseNSName(name string) (id string, pid int, host string, ok bool) {
	m := nsNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", 0, "", false
	}
	p, err := strconv.ParseInt(m[2], 36, 32)
	if err != nil || p <= 0 {
		return "", 0, "", false
	}
	return m[1], int(p), m[3], true
}

// nsName returns the namespace name of host in lab id.
func nsName(id, host string) string { return id + "-" + host }

// ifName returns the interface name for tag in lab id; it panics on a name
// longer than the kernel allows, which only a change to the plan can cause.
func ifName(id, tag string) string {
	n := id + "-" + tag
	if len(n) > maxIfName {
		panic("testnet: interface name too long: " + n)
	}
	return n
}
