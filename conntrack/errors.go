package conntrack

import (
	"errors"
	"fmt"
)

// Errors returned by the table. Callers compare with errors.Is; the table may
// wrap them with detail.
var (
	// ErrFull: no room for a new entry and nothing may be evicted.
	ErrFull = errors.New("connection table full")
	// ErrExists: an entry with the same forward or reply key is live. Insert
	// returns the live entry beside it so a racing worker can use it.
	ErrExists = errors.New("connection exists")
	// ErrReplyClash: a NAT connection's reply key (real server -> client) is
	// held by a live connection of another forward key that is not closing,
	// typically a client port in use towards two services that share a real
	// server. It matches ErrExists too; Insert returns the holder beside it.
	ErrReplyClash = fmt.Errorf("reply tuple held by another connection: %w", ErrExists)
	// ErrBadKey: a key's Kind does not fit the call, or a reply key does not
	// answer its forward key (NAT replies go from the real server to the client).
	ErrBadKey = errors.New("bad connection key")
	// ErrTemplateGone: Value.Template was removed (or belongs to another table)
	// before the new connection could bind to it; look it up again.
	ErrTemplateGone = errors.New("persistence template gone")
	// ErrCapacityBelowLive: SetCapacity asked for fewer entries than are live.
	ErrCapacityBelowLive = errors.New("capacity below live entries")
	// ErrBadConfig: a Config or argument value is out of range.
	ErrBadConfig = errors.New("bad connection table config")
)
