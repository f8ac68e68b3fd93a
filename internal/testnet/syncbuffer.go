package testnet

import (
	"bytes"
	"sync"
)

// SyncBuffer collects what a process or a logger writes while the test
// reads it: a bytes.Buffer behind a lock (exec copies a child's output on
// its own goroutine).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
