package control

import (
	"errors"
	"strings"
	"testing"
)

func TestParseConfigStrict(t *testing.T) {
	const svc = "services:\n  - proto: tcp\n    vip: 198.18.0.10\n    port: 80\n"
	tests := []struct {
		name, yaml string
		line       int
		field      string
		is         error
		words      string
	}{
		{"duplicate top-level key", svc + "services: []\n", 5, "config.services", ErrDuplicateKey, `key "services" defined twice (first at line 1)`},
		{"duplicate service field", svc + "    port: 81\n", 5, "services[0].port", ErrDuplicateKey, "first at line 4"},
		{"duplicate real field in a flow mapping", svc + "    reals:\n      - {address: 198.18.1.1, method: dr, address: 198.18.1.2}\n", 6, "services[0].reals[0].address", ErrDuplicateKey, "first at line 6"},
		{"duplicate in a second service", svc + "  - proto: udp\n    vip: 198.18.0.10\n    proto: tcp\n    port: 53\n", 7, "services[1].proto", ErrDuplicateKey, "first at line 5"},
		{"duplicate match field", "services:\n  - group: web\n    match:\n      - proto: tcp\n        prefix: 198.18.0.20\n        prefix: 198.18.0.21\n", 6, "services[0].match[0].prefix", ErrDuplicateKey, ""},
		{"second document", svc + "---\nservices: []\n", 5, "config", ErrSecondDocument, "second YAML document"},
		{"empty second document", svc + "---\n", 5, "config", ErrSecondDocument, ""},
		{"second document after an explicit first", "---\n" + svc + "---\n" + svc, 6, "config", ErrSecondDocument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("x.yaml", []byte(tt.yaml))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a ConfigError", err)
			}
			if ce.Line != tt.line || ce.Field != tt.field || !errors.Is(err, tt.is) {
				t.Errorf("got %q (line %d field %s), want line %d field %s, %v", err, ce.Line, ce.Field, tt.line, tt.field, tt.is)
			}
			if !strings.HasPrefix(err.Error(), "x.yaml:") || !strings.Contains(err.Error(), tt.words) {
				t.Errorf("message %q: want the file name and %q", err, tt.words)
			}
		})
	}
}

// TestParseConfigStrictAccepts keeps what is not a duplicate working: the
// same key in different mappings, a document start marker, a document end
// marker, trailing comments.
func TestParseConfigStrictAccepts(t *testing.T) {
	for _, y := range []string{
		goodConfig,
		"---\n" + goodConfig,
		goodConfig + "...\n",
		goodConfig + "# the end\n",
		"",
		"# nothing yet\n",
	} {
		if _, err := ParseConfig("ok.yaml", []byte(y)); err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
}
