package connsync

import "errors"

// DecodeErrors are Decode's errors, in the order Stats.DroppedBy counts
// them.
var DecodeErrors = [...]error{ErrShort, ErrSize, ErrTruncated, ErrEntryVersion, ErrEntryType, ErrBadOption}

// Stats are a sync daemon's datagram and entry counts, for listing and
// export; the connections' fate on the engine is forwarder.SyncStats.
type Stats struct {
	// Master: datagrams sent, datagrams the socket refused, dump
	// requests heard, and another master's messages and entries heard
	// (Master.Serve: a split brain healing).
	Sent, Lost, Requests    uint64
	PeerMessages, PeerConns uint64
	// Backup: datagrams received, dropped whole (DroppedBy splits them by
	// DecodeErrors), ignored for another sync ID; entries handed on and
	// entries skipped alone.
	Received, Dropped, Ignored uint64
	DroppedBy                  [len(DecodeErrors)]uint64
	Conns, Skipped             uint64
}

// Stats returns the master's counts.
func (m *Master) Stats() Stats {
	return Stats{Sent: m.Sent.Load(), Lost: m.Lost.Load(), Requests: m.Requests.Load(),
		PeerMessages: m.PeerMessages.Load(), PeerConns: m.PeerConns.Load()}
}

// Stats returns the backup's counts.
func (b *Backup) Stats() Stats {
	s := Stats{Received: b.Messages.Load(), Dropped: b.Dropped.Load(), Ignored: b.Ignored.Load(),
		Conns: b.Conns.Load(), Skipped: b.Skipped.Load()}
	for i := range s.DroppedBy {
		s.DroppedBy[i] = b.droppedBy[i].Load()
	}
	return s
}

// drop counts a datagram Decode refused with err.
func (b *Backup) drop(err error) {
	b.Dropped.Add(1)
	for i, e := range DecodeErrors {
		if errors.Is(err, e) {
			b.droppedBy[i].Add(1)
			return
		}
	}
}
