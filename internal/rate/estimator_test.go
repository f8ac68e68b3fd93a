package rate

import (
	"math/rand/v2"
	"testing"
	"time"
)

// kernelStep is the IPVS estimator written out the way ip_vs_est.c spells
// it, one counter at a time: the oracle for Estimator.
type kernelEst struct {
	last [5]uint64
	avg  [5]int64
}

func (k *kernelEst) step(c [5]uint64) {
	for i := range c {
		shift := uint(9)
		if i >= 3 {
			shift = 4
		}
		rate := (c[i] - k.last[i]) << shift
		k.last[i] = c[i]
		k.avg[i] += (int64(rate) - k.avg[i]) >> 2
	}
}

func (k *kernelEst) rates() [5]uint64 {
	var r [5]uint64
	for i, a := range k.avg {
		if i < 3 {
			r[i] = uint64(a+0x1FF) >> 10
		} else {
			r[i] = uint64(a+0xF) >> 5
		}
	}
	return r
}

func arr(c Counters) [5]uint64 { return [5]uint64{c.Conns, c.InPkts, c.OutPkts, c.InBytes, c.OutBytes} }
func rarr(r Rates) [5]uint64   { return [5]uint64{r.CPS, r.InPPS, r.OutPPS, r.InBPS, r.OutBPS} }

func TestStepFixedSequence(t *testing.T) {
	// 100 new connections every 2 s (50 cps), 1000 packets in (500 pps),
	// 200 000 bytes in (100 000 B/s). Expected values computed by hand from
	// avg += (delta<<9 - avg) >> 2 and (avg + 511) >> 10 (bytes: <<4, +15, >>5;
	// 57812.5 and 68359.8 round down: the kernel adds just under one half).
	var e Estimator
	var c Counters
	want := []Rates{
		{CPS: 12, InPPS: 125, InBPS: 25000},
		{CPS: 22, InPPS: 219, InBPS: 43750},
		{CPS: 29, InPPS: 289, InBPS: 57812},
		{CPS: 34, InPPS: 342, InBPS: 68359},
	}
	for i, w := range want {
		c.Conns += 100
		c.InPkts += 1000
		c.InBytes += 200000
		e.Step(c)
		if got := e.Rates(); got != w {
			t.Errorf("step %d: rates %+v, want %+v", i+1, got, w)
		}
	}
	for range 60 {
		c.Conns += 100
		c.InPkts += 1000
		c.InBytes += 200000
		e.Step(c)
	}
	if got, want := e.Rates(), (Rates{CPS: 50, InPPS: 500, InBPS: 100000}); got != want {
		t.Errorf("steady state %+v, want %+v", got, want)
	}
	// Traffic stops: the average decays by a quarter per step down to zero.
	steps := 0
	for e.Rates() != (Rates{}) {
		e.Step(c)
		steps++
		if steps > 200 {
			t.Fatalf("rates never decayed: %+v", e.Rates())
		}
	}
	if steps < 10 || steps > 60 {
		t.Errorf("decay to zero took %d steps, want a few tens", steps)
	}
}

func TestStepMatchesKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var e Estimator
	var k kernelEst
	var c Counters
	for i := range 5000 {
		burst := uint64(1)
		if rng.IntN(10) == 0 {
			burst = 1000
		}
		if rng.IntN(7) == 0 {
			burst = 0
		}
		c.Conns += rng.Uint64N(50) * burst
		c.InPkts += rng.Uint64N(5000) * burst
		c.OutPkts += rng.Uint64N(5000) * burst
		c.InBytes += rng.Uint64N(1<<30) * burst
		c.OutBytes += rng.Uint64N(1<<20) * burst
		e.Step(c)
		k.step(arr(c))
		if got, want := rarr(e.Rates()), k.rates(); got != want {
			t.Fatalf("step %d: %v, kernel %v", i, got, want)
		}
	}
}

func TestUpdateTiming(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		at    []time.Duration // sample times after t0
		conns []uint64
		steps []int
		want  uint64 // CPS after the last sample
	}{
		{"first call only starts", []time.Duration{0}, []uint64{500}, []int{0}, 0},
		{"early sample is ignored", []time.Duration{0, time.Second}, []uint64{0, 100}, []int{0, 0}, 0},
		{"one interval", []time.Duration{0, 2 * time.Second}, []uint64{0, 100}, []int{0, 1}, 12},
		{"late by less than an interval", []time.Duration{0, 3900 * time.Millisecond}, []uint64{0, 100}, []int{0, 1}, 12},
		{"two intervals spread the growth", []time.Duration{0, 4 * time.Second}, []uint64{0, 200}, []int{0, 2}, 22},
		{"long gap jumps to the mean", []time.Duration{0, 200 * time.Second}, []uint64{0, 10000}, []int{0, 100}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Estimator
			for i, at := range tt.at {
				if n := e.Update(t0.Add(at), Counters{Conns: tt.conns[i]}); n != tt.steps[i] {
					t.Fatalf("sample %d: %d steps, want %d", i, n, tt.steps[i])
				}
			}
			if got := e.Rates().CPS; got != tt.want {
				t.Errorf("cps %d, want %d", got, tt.want)
			}
		})
	}
}

func TestUpdateKeepsPhase(t *testing.T) {
	// Samples arriving a little late must not make the schedule drift: the
	// fifth step is still due at t0+10s.
	t0 := time.Unix(0, 0)
	var e Estimator
	e.Start(t0, Counters{})
	total := 0
	for i := 1; i <= 5; i++ {
		total += e.Update(t0.Add(time.Duration(i)*Interval+300*time.Millisecond), Counters{Conns: uint64(i)})
	}
	if total != 5 {
		t.Fatalf("%d steps, want 5", total)
	}
	if n := e.Update(t0.Add(11*time.Second), Counters{Conns: 6}); n != 0 {
		t.Errorf("step ran early at 11s: %d", n)
	}
	if n := e.Update(t0.Add(12*time.Second), Counters{Conns: 6}); n != 1 {
		t.Errorf("step at 12s: %d, want 1", n)
	}
}

func TestZeroAndReset(t *testing.T) {
	var e Estimator
	c := Counters{Conns: 1000, InBytes: 1 << 20}
	e.Step(c)
	if e.Rates().CPS == 0 {
		t.Fatal("no rate after a burst")
	}
	e.Zero(Counters{})
	if got := e.Rates(); got != (Rates{}) {
		t.Errorf("after Zero: %+v", got)
	}
	e.Step(Counters{Conns: 100})
	if got := e.Rates().CPS; got != 12 {
		t.Errorf("after Zero and 100 conns: cps %d, want 12", got)
	}
	// A counter that goes backwards counts from zero rather than wrapping
	// into an absurd rate.
	var f Estimator
	f.Step(Counters{Conns: 1 << 40})
	f.Step(Counters{Conns: 100})
	if got := f.Rates().CPS; got > 1<<40 {
		t.Errorf("reset counter produced cps %d", got)
	}
}

func TestNoAllocs(t *testing.T) {
	var e Estimator
	now := time.Unix(0, 0)
	c := Counters{}
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(Interval)
		c.Conns += 7
		e.Update(now, c)
		_ = e.Rates()
	}); n != 0 {
		t.Errorf("%v allocs per update", n)
	}
}

func BenchmarkStep(b *testing.B) {
	b.ReportAllocs()
	var e Estimator
	var c Counters
	for b.Loop() {
		c.Conns++
		c.InBytes += 1500
		e.Step(c)
	}
}
