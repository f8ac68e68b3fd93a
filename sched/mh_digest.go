package sched

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// MHTable describes the lookup table of an mh scheduler, for operators who compare the directors behind one
// ECMP router (xvsadm -L --mh): with equal digests two directors send every new flow to the same real server,
// as long as they also agree on which servers are available (weight > 0, not overloaded).
type MHTable struct {
	// Size is the number of slots M.
	Size int
	// Flags are the scheduler's mh flags (mh-port, mh-fallback); they are part of the digest.
	Flags Flags
	// Digest is the hex of the first 8 bytes of a SHA-256 over the flags and, slot by slot, the address and
	// port of the slot's server (all zero for an empty slot): see mhDigest.
	Digest string
	// Shares are the servers in the table's canonical order (address, then port) with the slots each owns.
	Shares []MHShare
}

// MHShare is one server's part of an mh table.
type MHShare struct {
	ID     uint32 // the Dest's ID
	Addr   [16]byte
	Port   uint16
	Weight int32 // the current weight (the table is built from last_weight)
	Slots  int
}

// MaglevTable returns the table of s when s is an mh scheduler. It hashes the table on the first call after
// each Update (about 1 ms per 65537 slots), never on the packet path.
func MaglevTable(s Scheduler) (MHTable, bool) {
	mh, ok := s.(*mhSched)
	if !ok {
		return MHTable{}, false
	}
	st := mh.st.Load()
	flags := mh.flags & (FlagMHPort | FlagMHFallback)
	st.digestOnce.Do(func() { st.digest = mhDigest(st, flags) })
	t := MHTable{Size: int(mh.m), Flags: flags, Digest: st.digest, Shares: make([]MHShare, len(st.dests))}
	for i, d := range st.dests {
		t.Shares[i] = MHShare{ID: d.ID, Addr: d.Addr, Port: d.Port, Weight: d.Weight()}
	}
	for _, i := range st.lookup {
		if i >= 0 {
			t.Shares[i].Slots++
		}
	}
	return t, true
}

// mhDigestLen is how many bytes of the SHA-256 the digest keeps: 64 bits, plenty to tell tables apart.
const mhDigestLen = 8

// mhDigest hashes "xvs-mh-v1", M and the flags as big-endian uint32s, then for every slot in order the 16-byte
// address and big-endian port of its server, or 18 zero bytes when the slot is empty. Only what Pick reads
// goes in: no ids, pointers or list positions, so equal tables give equal digests on any director.
func mhDigest(st *mhState, flags Flags) string {
	h := sha256.New()
	var hdr [9 + 8]byte
	copy(hdr[:], "xvs-mh-v1")
	binary.BigEndian.PutUint32(hdr[9:], uint32(len(st.lookup)))
	binary.BigEndian.PutUint32(hdr[13:], uint32(flags))
	h.Write(hdr[:])
	// Slots go through a buffer of whole records: one Write per few thousand slots.
	const rec = 18
	buf := make([]byte, 0, 4096*rec)
	var empty [rec]byte
	for _, i := range st.lookup {
		if i < 0 {
			buf = append(buf, empty[:]...)
		} else {
			d := st.dests[i]
			buf = append(buf, d.Addr[:]...)
			buf = binary.BigEndian.AppendUint16(buf, d.Port)
		}
		if len(buf) == cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil)[:mhDigestLen])
}

// cmpDestAddr orders destinations by address bytes, then port: the canonical order mh builds in.
func cmpDestAddr(a, b *Dest) int {
	return cmp.Or(bytes.Compare(a.Addr[:], b.Addr[:]), cmp.Compare(a.Port, b.Port))
}
