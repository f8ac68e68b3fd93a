package connsync

import (
	"bytes"
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestRequestIsEmptyMessage: a dump request is a valid, empty version 1
// message, which a receiver that reads it as the kernel does takes without
// error and without entries; only that shape is a request.
func TestRequestIsEmptyMessage(t *testing.T) {
	req := Request(7)
	var m Message
	m.Reset(nil, 7, DefaultMaxLen)
	if !bytes.Equal(req, m.Bytes()) {
		t.Errorf("request % x, empty message % x", req, m.Bytes())
	}
	d, err := (&Decoder{SyncID: 7}).Decode(req, func(*Conn) { t.Error("entry in a request") })
	if err != nil || d.Version != 1 || d.Conns != 0 || d.Skipped != 0 {
		t.Errorf("request decoded as %+v, %v", d, err)
	}
	if !IsRequest(req, 7) || !IsRequest(Request(0), 7) || IsRequest(Request(8), 7) {
		t.Error("sync ID filter")
	}
	if err := m.Add(&connDR); err != nil {
		t.Fatal(err)
	}
	if IsRequest(m.Bytes(), 7) {
		t.Error("a message with an entry read as a request")
	}
	v0 := []byte{0, 7, 0, 4}
	if IsRequest(v0, 7) {
		t.Error("an empty version 0 message read as a request")
	}
}

// requestPair is two namespaces joined by a veth pair (ra .2, rb .3) and
// a master of sync ID 9 on ra; it returns the master and rb's namespace
// path.
func requestPair(t *testing.T) (*Master, string) {
	t.Helper()
	a, b := testnet.NewNetNS(t), testnet.NewNetNS(t)
	a.IP(t, "link add ra type veth peer name rb netns "+b.Name(), "addr add 198.18.0.2/24 dev ra", "link set ra up")
	b.IP(t, "addr add 198.18.0.3/24 dev rb", "link set rb up")
	m, err := NewMaster(DaemonConfig{Interface: "ra", SyncID: 9, NetNS: filepath.Join("/run/netns", a.Name())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, filepath.Join("/run/netns", b.Name())
}

// TestRequestReachesMaster: a backup's request, multicast over a veth pair,
// reaches a master serving requests in the other namespace; one of another
// sync ID does not, nor does an ordinary message.
func TestRequestReachesMaster(t *testing.T) {
	m, pathB := requestPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	got := make(chan struct{}, 10)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.ServeRequests(ctx, func() { got <- struct{}{} }); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // the join settles

	// Another sync ID, and a master's ordinary message: no request.
	if err := RequestDump(DaemonConfig{Interface: "rb", SyncID: 10, NetNS: pathB}); err != nil {
		t.Fatal(err)
	}
	other, err := NewMaster(DaemonConfig{Interface: "rb", SyncID: 9, NetNS: pathB})
	if err != nil {
		t.Fatal(err)
	}
	w := other.NewWriter()
	if err := w.Add(&connDR, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.Flush(time.Now(), true)
	other.Close()
	if err := RequestDump(DaemonConfig{Interface: "rb", SyncID: 9, NetNS: pathB}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("the master heard no request")
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	if n := m.Stats().Requests; n != 1 {
		t.Errorf("master counted %d requests, want 1", n)
	}
}

// TestBackupStatsSplitDrops: a dropped datagram is counted under the
// decode error that dropped it.
func TestBackupStatsSplitDrops(t *testing.T) {
	var b Backup
	var dec Decoder
	for _, dg := range [][]byte{{0, 1}, {0, 1, 0, 99, 0, 1, 0, 0}, Request(1)} {
		if _, err := dec.Decode(dg, func(*Conn) {}); err != nil {
			b.drop(err)
		}
	}
	s := b.Stats()
	if s.Dropped != 2 || s.DroppedBy[0] != 1 || s.DroppedBy[1] != 1 {
		t.Errorf("stats %+v, want one short and one size drop", s)
	}
}

// TestServeHearsPeerMaster: a master serving with a peer installer hands
// on the entries of another master's messages of its sync ID (a split
// brain healing), counts them, and still answers requests; its own
// messages, and another sync ID's, never reach the installer.
func TestServeHearsPeerMaster(t *testing.T) {
	m, pathB := requestPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	reqs := make(chan struct{}, 10)
	conns := make(chan Conn, 10)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Serve(ctx, func() { reqs <- struct{}{} }, func(c *Conn) { conns <- *c }); err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // the join settles

	send := func(m *Master, c Conn) {
		w := m.NewWriter()
		if err := w.Add(&c, time.Now()); err != nil {
			t.Fatal(err)
		}
		w.Flush(time.Now(), true)
	}
	send(m, connDR) // its own: looped back never
	for _, id := range []uint8{10, 9} {
		other, err := NewMaster(DaemonConfig{Interface: "rb", SyncID: id, NetNS: pathB})
		if err != nil {
			t.Fatal(err)
		}
		c := connDR
		c.Client = netip.AddrPortFrom(c.Client.Addr(), uint16(40000+int(id)))
		send(other, c)
		other.Close()
	}
	select {
	case c := <-conns:
		if c.Client.Port() != 40009 {
			t.Errorf("installed %v, want the entry of sync ID 9 from the peer", c.Client)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the peer master's entry did not arrive")
	}
	if err := RequestDump(DaemonConfig{Interface: "rb", SyncID: 9, NetNS: pathB}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reqs:
	case <-time.After(2 * time.Second):
		t.Fatal("the master heard no request")
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	select {
	case c := <-conns:
		t.Errorf("a second entry reached the installer: %v", c.Client)
	default:
	}
	if s := m.Stats(); s.PeerMessages != 1 || s.PeerConns != 1 || s.Requests != 1 {
		t.Errorf("stats %+v, want one peer message of one entry and one request", s)
	}
}
