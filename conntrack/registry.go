package conntrack

import (
	"sync"
	"weak"
)

// The registry numbers live tables, so that a chunk header, which must hold
// no Go pointer (see arena), can still name its table: Insert checks a
// template's table by number, and Conn.Template finds the table through it.
// It holds weak pointers so that it keeps no table alive; a table's number
// is freed by its cleanup.
var registry struct {
	mu     sync.Mutex
	tables []weak.Pointer[Table] // number n at n-1
	free   []uint32
}

// register gives t a number, never 0.
func register(t *Table) uint32 {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	wp := weak.Make(t)
	if n := len(registry.free); n > 0 {
		id := registry.free[n-1]
		registry.free = registry.free[:n-1]
		registry.tables[id-1] = wp
		return id
	}
	registry.tables = append(registry.tables, wp)
	return uint32(len(registry.tables))
}

func unregister(id uint32) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.tables[id-1] = weak.Pointer[Table]{}
	registry.free = append(registry.free, id)
}

// tableByID returns the live table numbered id, or nil.
func tableByID(id uint32) *Table {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if id == 0 || int(id) > len(registry.tables) {
		return nil
	}
	return registry.tables[id-1].Value()
}
