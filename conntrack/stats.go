package conntrack

// Stats describe the table.
type Stats struct {
	Conns     int // live connections
	Templates int // live persistence templates
	Capacity  int // effective capacity (entries)
	// Embryonic, Established, Closing and Datagram split Conns by state.
	Embryonic, Established, Closing, Datagram int

	Inserts   uint64 // connections and templates inserted
	Expired   uint64 // removed by timeout
	Flushed   uint64 // removed by Expire
	Full      uint64 // inserts refused for want of room
	Evictions uint64 // sum of Evicted
	Evicted   [NumEvictReasons]uint64

	// SlabEntries is how many entries the slabs hold, live or free;
	// IndexSlots how many index slots there are.
	SlabEntries, IndexSlots int
}

// Stats returns the table's figures; counters are read one by one, so a
// busy table's figures may be a little apart in time.
func (t *Table) Stats() Stats {
	s := Stats{
		Templates:   int(t.templates.Load()),
		Capacity:    int(t.capacity.Load()),
		Embryonic:   int(t.class[classEmbryonic].Load()),
		Established: int(t.class[classEstablished].Load()),
		Closing:     int(t.class[classClosing].Load()),
		Datagram:    int(t.class[classDatagram].Load()),
		Full:        t.full.Load(),
	}
	s.Conns = int(t.live.Load()) - s.Templates
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		s.Inserts += sh.inserts
		s.Expired += sh.expired
		s.Flushed += sh.flushed
		for r, n := range sh.evicted {
			s.Evicted[r] += n
			s.Evictions += n
		}
		sh.mu.Unlock()
		s.SlabEntries += int(sh.n.Load())
		s.IndexSlots += int(sh.ix.Load().nb) * bucketSlots
	}
	return s
}
