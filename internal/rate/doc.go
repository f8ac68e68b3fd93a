// Package rate is IPVS's rate estimator: the smoothed connections, packets
// and bytes per second that ipvsadm --rate shows.
//
// Every Interval (2 s) the kernel takes the growth of each counter since the
// last tick, turns it into a per-second rate in fixed point and moves the
// average a quarter of the way toward it:
//
//	avg += (rate - avg) >> 2
//
// Connection and packet rates are kept scaled by 2^10, byte rates by 2^5 (so a
// 2 s delta is shifted left by 9 and 4: the scale minus one for the halving).
// Rates reports them rounded to the nearest integer, as the kernel does when
// it copies them out. Estimator reproduces that arithmetic bit for bit, so
// figures printed by xvsadm --rate move exactly as an operator used to IPVS
// expects.
//
// An Estimator is fed counter snapshots by its owner (one goroutine); it does
// no locking and never allocates.
package rate
