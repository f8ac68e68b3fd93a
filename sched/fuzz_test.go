package sched

import "testing"

// FuzzOracle lets the fuzzer choose the scheduler, flags, weight shape, seed and length of a random event run;
// fast and reference must agree on every Pick.
func FuzzOracle(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint8(0), uint16(200))
	f.Add(uint64(42), uint8(5), uint8(2), uint16(300))
	f.Add(uint64(7), uint8(20), uint8(4), uint16(150))
	cases := oracleCases()
	f.Fuzz(func(t *testing.T, seed uint64, which, shape uint8, steps uint16) {
		c := cases[int(which)%len(cases)]
		wg := weightGens[int(shape)%len(weightGens)]
		if c.name == "wrr" && wg.name == "huge" {
			wg = weightGens[0] // see weightGens: the reference would walk billions of passes
		}
		if c.opts.MHTableSize == 0 && c.name == "mh" {
			c.opts.MHTableSize = 251
		}
		runOracle(t, c, wg, seed, int(steps%400))
	})
}

// FuzzHsiphash compares the hot-path hsiphash32 with the generic SipHash-1-3 reference.
func FuzzHsiphash(f *testing.F) {
	f.Add(uint32(0), uint64(2654435761))
	f.Add(uint32(0xffffffff), uint64(2654446892))
	f.Fuzz(func(t *testing.T, v uint32, k uint64) {
		if got, want := hsiphash32(v, k), refHsip(v, k); got != want {
			t.Fatalf("hsiphash32(%#x, %#x) = %#x, want %#x", v, k, got, want)
		}
	})
}
