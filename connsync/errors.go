package connsync

import "errors"

// Errors of Decode: each drops the whole datagram, as the kernel's receiver
// does.
var (
	// ErrShort: the datagram is shorter than a header.
	ErrShort = errors.New("sync message shorter than its header")
	// ErrSize: the header's size is not the datagram's length.
	ErrSize = errors.New("sync message size does not match its length")
	// ErrTruncated: an entry or option runs past the end of the message.
	ErrTruncated = errors.New("sync entry runs past the end of the message")
	// ErrEntryVersion: an entry's version nibble is not 0.
	ErrEntryVersion = errors.New("sync entry of unknown version")
	// ErrEntryType: an entry's type has bits other than the IPv6 one.
	ErrEntryType = errors.New("sync entry of unknown type")
	// ErrBadOption: an option of length zero, a sequence option of the
	// wrong length, a persistence-engine string too long, or an option sent
	// twice.
	ErrBadOption = errors.New("malformed sync entry option")
)

// Errors of the encoder.
var (
	// ErrFull: the entry does not fit in the message's maximum length, or
	// the message already holds 255 entries; send it and start another.
	ErrFull = errors.New("sync message full")
	// ErrEntry: the entry cannot be encoded (addresses of mixed or missing
	// families, persistence-engine data or name too long).
	ErrEntry = errors.New("connection cannot be encoded for sync")
)
