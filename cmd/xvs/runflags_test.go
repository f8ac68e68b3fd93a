package main

import (
	"strings"
	"testing"

	"github.com/xvs-project/xvs/forwarder"
)

// TestConnReuseModeFlag: --conn-reuse-mode takes the kernel's numbers, 1 by
// default, and refuses others before anything is touched.
func TestConnReuseModeFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want forwarder.ConnReuse
		err  string
	}{
		{nil, forwarder.ReuseClosed, ""},
		{[]string{"--conn-reuse-mode", "0"}, forwarder.ReuseNever, ""},
		{[]string{"--conn-reuse-mode", "1"}, forwarder.ReuseClosed, ""},
		{[]string{"--conn-reuse-mode", "2"}, forwarder.ReuseFinWait, ""},
		{[]string{"--conn-reuse-mode", "7"}, 0, "--conn-reuse-mode 7: want 0, 1 or 2"},
	} {
		f, err := parseRunFlags(append([]string{"-i", "lo"}, tc.args...))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || f.reuse != tc.want {
			t.Errorf("%v: %v, mode %d; want mode %d", tc.args, err, f.reuse.Mode(), tc.want.Mode())
		}
	}
}
