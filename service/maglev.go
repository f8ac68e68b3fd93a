package service

// MHTable is the Maglev lookup table of one mh service as a director built
// it (xvsadm -L --mh, the control protocol's mh request). Directors behind
// one ECMP router that show the same Digest for a service send each new
// flow of it to the same real server.
type MHTable struct {
	Service Key `json:"service"`
	// Size is the number of slots (the service's MHTableSize, 4093 by
	// default).
	Size int `json:"size"`
	// Flags are the scheduler flags that shape the picks (mh-port,
	// mh-fallback), in ipvsadm's spelling; they are part of the digest.
	Flags []string `json:"flags,omitempty"`
	// Digest is the hex of the first 8 bytes of a SHA-256 over the flags
	// and every slot's real server address and port (sched.MaglevTable).
	Digest string `json:"digest"`
	// Reals are the service's real servers in the table's order (address,
	// then port) with their weight and the slots each owns.
	Reals []MHShare `json:"reals"`
}

// MHShare is one real server's part of an MHTable.
type MHShare struct {
	Key    RealKey `json:"key"`
	Weight int32   `json:"weight"`
	Slots  int     `json:"slots"`
}
