package rate

import (
	"time"

	"github.com/xvs-project/xvs/service"
)

// Interval is the estimator's period, as in IPVS.
const Interval = 2 * time.Second

// Fixed-point scales of the averages: cps and pps are kept <<10, bps <<5. A
// delta over one Interval (2 s) is shifted by one less to divide it by two.
const (
	countShift = 9 // 2^10 scale / 2 s
	byteShift  = 4 // 2^5 scale / 2 s
	countRound = 1<<9 - 1
	byteRound  = 1<<4 - 1
)

// maxSteps bounds the catch-up work of Update after a long gap: past this many
// missed intervals the old average has decayed below 1% ((3/4)^16), so the
// average is set to the gap's mean rate instead of stepping through it.
const maxSteps = 16

// Counters are cumulative totals of one service or real server, as the
// forwarder keeps them.
type Counters = service.Counters

// Rates are smoothed per-second estimates of Counters, as ipvsadm --rate
// shows them.
type Rates = service.Rates

// Estimator smooths the rates of one set of Counters. The zero value is
// ready: its first step measures growth from all-zero counters, as a new
// IPVS object does. It is not safe for concurrent use.
type Estimator struct {
	last Counters
	// Scaled averages: cps, inpps, outpps <<10; inbps, outbps <<5.
	cps, inpps, outpps, inbps, outbps int64
	// next is when Update runs the next step; zero until Start or the first Update.
	next time.Time
}

// Start sets the baseline: c is what the counters hold at now, and the first
// step is due one Interval later. Averages are kept.
func (e *Estimator) Start(now time.Time, c Counters) {
	e.last = c
	e.next = now.Add(Interval)
}

// Zero clears the averages and takes c as the new baseline, as IPVS does when
// an operator zeroes the counters (ipvsadm -Z). Pass the counters' values
// after zeroing (normally all zero).
func (e *Estimator) Zero(c Counters) {
	*e = Estimator{last: c, next: e.next}
}

// Step runs one estimation tick for counters c, read one Interval after the
// previous tick. Callers with their own 2 s ticker use Step; callers that
// sample at arbitrary times use Update.
func (e *Estimator) Step(c Counters) {
	d := Counters{
		Conns:    delta(c.Conns, e.last.Conns),
		InPkts:   delta(c.InPkts, e.last.InPkts),
		OutPkts:  delta(c.OutPkts, e.last.OutPkts),
		InBytes:  delta(c.InBytes, e.last.InBytes),
		OutBytes: delta(c.OutBytes, e.last.OutBytes),
	}
	e.last = c
	e.step(d)
}

// step moves every average toward the rate that delta d over one Interval
// represents.
func (e *Estimator) step(d Counters) {
	e.cps = smooth(e.cps, d.Conns<<countShift)
	e.inpps = smooth(e.inpps, d.InPkts<<countShift)
	e.outpps = smooth(e.outpps, d.OutPkts<<countShift)
	e.inbps = smooth(e.inbps, d.InBytes<<byteShift)
	e.outbps = smooth(e.outbps, d.OutBytes<<byteShift)
}

// Update feeds a snapshot taken at now and runs one step per whole Interval
// elapsed since the last step, spreading the growth evenly over them (the
// remainder goes to the last step). It returns the number of steps run; 0
// means it is not yet time and c was not consumed. The first call on a
// zero Estimator only starts it.
func (e *Estimator) Update(now time.Time, c Counters) int {
	if e.next.IsZero() {
		e.Start(now, c)
		return 0
	}
	if now.Before(e.next) {
		return 0
	}
	n := 1 + int64(now.Sub(e.next)/Interval)
	e.next = e.next.Add(time.Duration(n) * Interval)
	if n == 1 {
		e.Step(c)
		return 1
	}
	total := Counters{
		Conns:    delta(c.Conns, e.last.Conns),
		InPkts:   delta(c.InPkts, e.last.InPkts),
		OutPkts:  delta(c.OutPkts, e.last.OutPkts),
		InBytes:  delta(c.InBytes, e.last.InBytes),
		OutBytes: delta(c.OutBytes, e.last.OutBytes),
	}
	e.last = c
	u := uint64(n)
	per := Counters{
		Conns:    total.Conns / u,
		InPkts:   total.InPkts / u,
		OutPkts:  total.OutPkts / u,
		InBytes:  total.InBytes / u,
		OutBytes: total.OutBytes / u,
	}
	if n > maxSteps {
		// The average has forgotten everything before the gap: jump to the
		// steady state of a constant per-interval growth.
		e.cps = int64(per.Conns << countShift)
		e.inpps = int64(per.InPkts << countShift)
		e.outpps = int64(per.OutPkts << countShift)
		e.inbps = int64(per.InBytes << byteShift)
		e.outbps = int64(per.OutBytes << byteShift)
		return int(n)
	}
	for i := int64(1); i < n; i++ {
		e.step(per)
	}
	e.step(Counters{
		Conns:    total.Conns - per.Conns*(u-1),
		InPkts:   total.InPkts - per.InPkts*(u-1),
		OutPkts:  total.OutPkts - per.OutPkts*(u-1),
		InBytes:  total.InBytes - per.InBytes*(u-1),
		OutBytes: total.OutBytes - per.OutBytes*(u-1),
	})
	return int(n)
}

// Rates returns the current estimates, rounded to the nearest unit as IPVS
// rounds them.
func (e *Estimator) Rates() Rates {
	return Rates{
		CPS:    unscale(e.cps, countRound, countShift+1),
		InPPS:  unscale(e.inpps, countRound, countShift+1),
		OutPPS: unscale(e.outpps, countRound, countShift+1),
		InBPS:  unscale(e.inbps, byteRound, byteShift+1),
		OutBPS: unscale(e.outbps, byteRound, byteShift+1),
	}
}

// smooth is one step of the exponential average with weight 1/4. The shift
// is arithmetic, like the kernel's on a signed long, so a falling rate
// rounds toward minus infinity exactly as IPVS does.
func smooth(avg int64, rate uint64) int64 {
	return avg + (int64(rate)-avg)>>2
}

func unscale(avg int64, round int64, shift uint) uint64 {
	if avg <= 0 {
		return 0
	}
	return uint64(avg+round) >> shift
}

// delta is the growth of a counter. A counter that went backwards was reset
// (zeroed without Zero, or its object re-created): its whole value is growth
// since the reset.
func delta(now, last uint64) uint64 {
	if now < last {
		return now
	}
	return now - last
}
