package connsync

// A full-table dump request, which IPVS's protocol has no message for.
//
// A backup that starts (or restarts) asks the masters of its sync ID for
// their whole tables by sending one empty version 1 message: the 8-byte
// header with nr_conns 0, its sync ID, size 8. It goes where every sync
// message goes, the group and port of the link, so it needs no address of
// a master (which, idle, may send nothing for minutes), and an xvs master
// hears it on a socket joined to the group as a backup's is.
//
// Why an empty message and not a new type: everything else that may
// receive it is a backup and must not be confused. A kernel backup reads
// it as a valid message of zero connections (size equals length, version
// 1, reserved and spare zero) and installs nothing, logs nothing; one of
// another sync ID drops it as it drops the master's own; an xvs backup
// counts a message and nothing else. A kernel master reads nothing on its
// socket, and keepalived opens no sync socket of its own. And no master
// ever sends an empty message (the kernel queues a buffer only once it
// holds a connection; Writer sends only non-empty ones), so an empty
// message can only be a request.
//
// The master answers with a dump (forwarder.Engine.DumpSync) in ordinary
// messages at a bounded rate; requests that come while it dumps are
// folded into one more dump after it.

// Request returns the dump request of a backup with sync ID syncID (0: any
// master's table).
func Request(syncID uint8) []byte {
	return []byte{0, syncID, 0, headerLen, 0, protoVer, 0, 0}
}

// IsRequest reports whether datagram b is a dump request that a master of
// sync ID syncID answers: an empty version 1 message of its sync ID, or of
// sync ID 0.
func IsRequest(b []byte, syncID uint8) bool {
	return len(b) == headerLen && b[0] == 0 && be.Uint16(b[2:]) == headerLen && b[4] == 0 &&
		b[5] == protoVer && b[6] == 0 && b[7] == 0 && (b[1] == syncID || b[1] == 0)
}
