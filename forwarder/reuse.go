package forwarder

import "fmt"

// ConnReuse is IPVS's net.ipv4.vs.conn_reuse_mode: what a new connection
// attempt (a TCP SYN) does when its client address and port still have an
// entry for the same service, because the client reused a port. The zero
// value is the kernel's default, mode 1.
//
// Rescheduling expires the old entry and schedules the SYN afresh, so a
// reused port does not pin a client to the real server of its previous
// connection: a new or re-added real server of a busy service gets its
// share. Without it (mode 0) the SYN continues the old entry, to the same
// real server.
type ConnReuse uint8

// The modes, with the kernel's numbers.
const (
	// ReuseClosed (mode 1) reschedules on an entry in TIME_WAIT or CLOSE.
	ReuseClosed ConnReuse = iota
	// ReuseNever (mode 0) never reschedules.
	ReuseNever
	// ReuseFinWait (mode 2) also reschedules on a DR or TUN entry in
	// FIN_WAIT that saw no reply: the last state a director that sees only
	// the client's half of the connection can know.
	ReuseFinWait
)

// ParseConnReuse turns the kernel's number into a ConnReuse. The kernel's
// value is a bitmap in which bit 2 implies bit 1, so 3 is the same as 2.
func ParseConnReuse(mode int) (ConnReuse, error) {
	switch mode {
	case 0:
		return ReuseNever, nil
	case 1:
		return ReuseClosed, nil
	case 2, 3:
		return ReuseFinWait, nil
	}
	return 0, fmt.Errorf("conn_reuse_mode %d: want 0, 1 or 2", mode)
}

// Mode returns the kernel's number for r.
func (r ConnReuse) Mode() int {
	switch r {
	case ReuseNever:
		return 0
	case ReuseFinWait:
		return 2
	}
	return 1
}
