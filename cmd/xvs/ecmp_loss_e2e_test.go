package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// ECMP survival figures: ecmpFlows transfers of ecmpBlob bytes read at
// ecmpRate, so each lasts about eight seconds and the loss of a director
// (ecmpKillAt in) falls inside all of them.
const (
	ecmpFlows  = 100
	ecmpBlob   = 2 << 20
	ecmpRate   = 256 << 10
	ecmpKillAt = 3 * time.Second
)

// TestECMPDirectorLoss: 100 long-lived transfers through the three
// directors; one director is SIGKILLed and its nexthop leaves the router's
// route (as BGP's hold timer would have it), so the router moves its flows
// to the others, which have never seen them. With mh (--ecmp) they adopt
// the flows on the real server the shared table gives: every transfer
// completes with the right sha256 and no reset. With rr (--ecmp --sloppy:
// the moved flows are scheduled too, rr just picks without regard to where
// they were) some moved flows land on another real server, which resets
// them: the test can fail.
func TestECMPDirectorLoss(t *testing.T) {
	t.Run("mh", func(t *testing.T) {
		failed, moved := ecmpLoss(t, "mh", "--ecmp")
		if failed != 0 {
			t.Errorf("%d of %d transfers broke with mh", failed, ecmpFlows)
		}
		if moved == 0 {
			t.Errorf("no flow moved to another director: the test proved nothing")
		}
	})
	t.Run("rr", func(t *testing.T) {
		failed, moved := ecmpLoss(t, "rr", "--ecmp", "--sloppy")
		if failed == 0 {
			t.Errorf("no transfer broke with rr (%d flows moved): the mh run proves nothing", moved)
		}
	})
}

// ecmpLoss runs the transfers with the directors on scheduler and args,
// kills director2 ecmpKillAt in and takes its nexthop out of the router's
// route, and returns how many transfers failed and how many flows the
// other directors took over.
func ecmpLoss(t *testing.T, scheduler string, args ...string) (failed, moved int) {
	el := newECMPLab(t, scheduler, args...)
	victim := el.directors[1]
	return transfersAcrossLoss(t, el.ctx, el.Lab, scheduler, el.directors, victim, func() {
		victim.kill(t)
		if err := el.DropNexthop(el.ctx, victim.h); err != nil {
			t.Fatal(err)
		}
		route, _ := el.Nexthops(el.ctx, 4)
		t.Logf("%s SIGKILLed, router: %s", victim.h.Name, route)
	})
}

// transfersAcrossLoss runs ecmpFlows transfers through the lab's IPv4 VIP,
// calls lose ecmpKillAt in (which takes victim away), and returns how many
// transfers failed (wrong length or sha256, an error, a reset) and how
// many flows the directors other than victim scheduled meanwhile.
func transfersAcrossLoss(t *testing.T, ctx context.Context, l *testnet.Lab, scheduler string, directors []*director, victim *director, lose func()) (failed, moved int) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	type result struct {
		rs  []testnet.BlobResult
		err error
	}
	done := make(chan result, 1)
	begin := time.Now()
	go func() {
		rs, err := l.Client.Blobs(ctx, testnet.BlobsOptions{URL: testnet.HTTPURL(l.VIP4, 80, fmt.Sprintf("/blob?size=%d", ecmpBlob)),
			N: ecmpFlows, Rate: ecmpRate, Timeout: 40 * time.Second})
		done <- result{rs, err}
	}()
	time.Sleep(ecmpKillAt)
	before := make([]uint64, len(directors))
	for i, d := range directors {
		before[i] = d.conns(t, vipKey(l.VIP4))
	}
	lose()
	t.Logf("%v in: %s gone (it had scheduled %d flows)", time.Since(begin).Round(time.Millisecond), victim.h.Name, before[slices.Index(directors, victim)])
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("transfers did not end")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.rs) != ecmpFlows {
		t.Fatalf("%d results, want %d", len(r.rs), ecmpFlows)
	}
	for i, d := range directors {
		if d != victim {
			moved += int(d.conns(t, vipKey(l.VIP4)) - before[i])
		}
	}
	resets := 0
	sum := testnet.BlobSHA256(ecmpBlob)
	for i, x := range r.rs {
		if !x.OK || x.Bytes != ecmpBlob || x.SHA256 != sum || x.Error != "" {
			failed++
			if strings.Contains(x.Error, "reset") {
				resets++
			}
			if failed <= 5 {
				t.Logf("%s: transfer %d: %d bytes from %s: %s", scheduler, i, x.Bytes, x.Server, x.Error)
			}
		}
	}
	t.Logf("%s: %d transfers of %d KiB at %d KiB/s in %v: %d failed (%d reset); the other directors took over %d flows",
		scheduler, ecmpFlows, ecmpBlob>>10, ecmpRate>>10, time.Since(begin).Round(time.Millisecond), failed, resets, moved)
	return failed, moved
}
