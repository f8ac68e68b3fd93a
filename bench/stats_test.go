package bench

import (
	"encoding/json"
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name        string
		in          []float64
		med, lo, hi float64
		n           int
	}{
		{"odd", []float64{3, 1, 2}, 2, 1, 3, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1, 4, 4},
		{"one", []float64{7}, 7, 7, 7, 1},
		{"nan skipped", []float64{nan, 5, 1, nan}, 3, 1, 5, 2},
		{"empty", nil, nan, nan, nan, 0},
		{"all nan", []float64{nan}, nan, nan, nan, 0},
	}
	eq := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			s := Summarize(in)
			if !eq(s.Median, tt.med) || !eq(s.Min, tt.lo) || !eq(s.Max, tt.hi) || s.N != tt.n {
				t.Errorf("Summarize(%v) = %+v, want median %v min %v max %v n %d", tt.in, s, tt.med, tt.lo, tt.hi, tt.n)
			}
			for i := range in {
				if !eq(in[i], tt.in[i]) {
					t.Fatalf("input modified: %v", in)
				}
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(i + 1)
	}
	for _, tt := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.1, 1}} {
		if got := Percentile(v, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := Percentile([]float64{1, 2, 3}, 99); got != 3 {
		t.Errorf("p99 of 3 samples = %v, want 3", got)
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestSummaryJSONNaN(t *testing.T) {
	b, err := json.Marshal(Summarize(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"Median":null,"Min":null,"Max":null,"N":0}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	b, _ = json.Marshal(Summarize([]float64{1, 2}))
	if got, want := string(b), `{"Median":1.5,"Min":1,"Max":2,"N":2}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
