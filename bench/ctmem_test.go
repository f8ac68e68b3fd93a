package bench

import "testing"

func TestMeasureTable(t *testing.T) {
	r, err := measureTable(20_000)
	if err != nil {
		t.Fatal(err)
	}
	// A connection with its reply key cannot take less than two packed keys
	// (2 x 40 bytes); a small table carries its shards' fixed cost on top.
	if r.BytesPerEntry < 80 || r.BytesPerEntry > 100_000 {
		t.Errorf("%.0f bytes per entry", r.BytesPerEntry)
	}
	if r.LookupNs <= 0 || r.FillTime <= 0 {
		t.Errorf("%+v", r)
	}
}

func TestTableKeysDistinct(t *testing.T) {
	seen := map[[2]string]bool{}
	for _, i := range []int{0, 1, 255, 256, 65535, 65536, 9_999_999} {
		f, r := tableKey(i)
		k := [2]string{f.String(), r.String()}
		if seen[k] {
			t.Errorf("key %d repeats: %v", i, k)
		}
		seen[k] = true
	}
}
