package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xvs-project/xvs/internal/testnet"
)

// TestBadInput: each mistake gets a one-line error naming the culprit, a
// non-zero exit, and nothing is attached to any interface.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a namespace; skipped in -short")
	}
	bin := xvsBinary(t)
	l := testnet.NewT(t, testnet.Options{Mode: testnet.DR, Reals: 1, Name: t.Name()})
	iface := l.Director.Iface
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	svc := func(vip, port, real string) string {
		return "services:\n  - proto: tcp\n    vip: " + vip + "\n    port: " + port + "\n    reals:\n" + real
	}
	tests := []struct {
		name string
		args []string
		want []string // substrings of the one error line
	}{
		{"unknown interface", []string{"run", "-i", "nosuch0"}, []string{`interface "nosuch0"`}},
		{"vip not an address", []string{"run", "-i", iface, "--config",
			write("vip.yaml", svc("www.example", "80", "      - {address: 198.18.1.1, method: dr}\n"))},
			[]string{"vip.yaml:3", "services[0].vip", "www.example"}},
		{"port out of range", []string{"run", "-i", iface, "--config",
			write("port.yaml", svc("198.18.0.10", "65536", "      - {address: 198.18.1.1, method: dr}\n"))},
			[]string{"port.yaml:4", "services[0].port", "65536"}},
		{"real without method", []string{"run", "-i", iface, "--config",
			write("method.yaml", svc("198.18.0.10", "80", "      - {address: 198.18.1.1}\n"))},
			[]string{"method.yaml:6", "services[0].reals[0].method"}},
		{"unknown backend", []string{"run", "-i", iface, "--backend", "dpdk"}, []string{`"dpdk"`}},
		{"unknown config format", []string{"run", "-i", iface, "--config-format", "toml"}, []string{`"toml"`}},
		{"unknown checker", []string{"run", "-i", iface, "--config", write("chk.yaml", svc("198.18.0.10", "80",
			"      - address: 198.18.1.1\n        method: dr\n        check:\n          PING_CHECK: {}\n"))},
			[]string{"chk.yaml:9", "PING_CHECK", "198.18.1.1"}},
		{"zero delay_loop", []string{"run", "-i", iface, "--config", write("loop.yaml", svc("198.18.0.10", "80",
			"      - address: 198.18.1.1\n        method: dr\n        check:\n          delay_loop: 0\n          TCP_CHECK: {}\n"))},
			[]string{"loop.yaml:9", "delay_loop"}},
		{"digest not 32 hex", []string{"run", "-i", iface, "--config", write("digest.yaml", svc("198.18.0.10", "80",
			"      - address: 198.18.1.1\n        method: dr\n        check:\n          HTTP_GET:\n            url: {path: /, digest: abc}\n"))},
			[]string{"digest.yaml:10", "digest"}},
		{"keepalived.conf syntax", []string{"run", "-i", iface, "--config", write("keepalived.conf",
			"virtual_server 198.18.0.10 80 {\n    real_server 198.18.1.1 80 {\n        TCP_CHECK {\n    }\n")},
			[]string{"keepalived.conf:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := l.Director.Run(ctx, bin, tt.args...)
			if err == nil {
				t.Fatalf("exit status 0, output %q", out)
			}
			msg := strings.TrimSpace(string(out))
			if strings.Count(msg, "\n") != 0 {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %q", msg, w)
				}
			}
			link, _ := l.Director.Run(ctx, "ip", "-d", "link", "show", "dev", iface)
			if strings.Contains(string(link), "xdp") {
				t.Errorf("an XDP program is attached after a refused start:\n%s", link)
			}
		})
	}
}
