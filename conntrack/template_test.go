package conntrack

import (
	"errors"
	"testing"
	"time"

	"github.com/xvs-project/xvs/flow"
)

func TestTemplates(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 100})
	tk := Key{Tuple: flow.Tuple{Src: addr("10.1.2.0"), Dst: vip, Proto: flow.TCP}, Kind: KindTemplate}
	tmpl, err := tab.InsertTemplate(tk, Value{Service: 1, Dest: 4, DestGen: 2}, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.IsTemplate() || tmpl.Dest() != 4 || tmpl.Key() != tk {
		t.Fatalf("template fields: %v %d", tmpl.Key(), tmpl.Dest())
	}
	if tab.Lookup(&tk) != tmpl {
		t.Fatal("template lookup")
	}
	fwd := clientKey(1, flow.TCP)
	fwdAsConn := tk
	fwdAsConn.Kind = KindConn
	if tab.Lookup(&fwdAsConn) != nil {
		t.Fatal("template found as a connection")
	}
	c := mustInsert(t, tab, fwd, nil, Value{Dest: 4, Template: tmpl})
	if c.Template() != tmpl {
		t.Fatal("Template()")
	}
	handshake(tab, c)
	// The template outlives its timeout while it controls a connection.
	clk.Advance(10 * time.Minute)
	tab.Reap(1000)
	if tab.Lookup(&tk) != tmpl {
		t.Fatal("template expired while controlling a connection")
	}
	// The connection goes; the template lives its timeout from then.
	tab.Expire(c)
	clk.Advance(4 * time.Minute)
	tab.Reap(1000)
	if tab.Lookup(&tk) != tmpl {
		t.Fatal("template gone before its timeout after the last connection")
	}
	clk.Advance(2 * time.Minute)
	if tab.Lookup(&tk) != nil {
		t.Fatal("template outlived its timeout")
	}
	if tab.Reap(1000) != 1 || tab.Len() != 0 {
		t.Fatalf("len %d", tab.Len())
	}
	if _, err := tab.Insert(fwd, nil, Value{Template: tmpl}); !errors.Is(err, ErrTemplateGone) {
		t.Errorf("bind to a removed template: %v", err)
	}
	other, _ := newTable(t, Config{Capacity: 10})
	ot, _ := other.InsertTemplate(tk, Value{}, time.Minute)
	if _, err := tab.Insert(fwd, nil, Value{Template: ot}); !errors.Is(err, ErrTemplateGone) {
		t.Errorf("bind to another table's template: %v", err)
	}
	if tab.Len() != 0 {
		t.Errorf("len %d after failed binds", tab.Len())
	}
}

// TestTemplateExpireWhileControlling: Expire on a template with connections
// hides it at once (so a new one may take its key) and frees it after.
func TestTemplateExpireWhileControlling(t *testing.T) {
	tab, clk := newTable(t, Config{Capacity: 100})
	tk := Key{Tuple: flow.Tuple{Src: addr("10.1.2.0"), Dst: vip, Proto: flow.TCP}, Kind: KindTemplate}
	tmpl, _ := tab.InsertTemplate(tk, Value{Dest: 1}, time.Minute)
	fwd := clientKey(1, flow.TCP)
	c := mustInsert(t, tab, fwd, nil, Value{Dest: 1, Template: tmpl})
	tab.Expire(tmpl)
	if tab.Lookup(&tk) != nil {
		t.Fatal("expired template still found")
	}
	t2, err := tab.InsertTemplate(tk, Value{Dest: 2}, time.Minute)
	if err != nil || tab.Lookup(&tk) != t2 {
		t.Fatalf("new template: %v", err)
	}
	if c.Template() != tmpl || tab.Len() != 3 {
		t.Fatalf("connection lost its template; len %d", tab.Len())
	}
	tab.Reap(1000)
	if tab.Len() != 3 {
		t.Fatalf("orphan freed while controlling: len %d", tab.Len())
	}
	tab.Expire(c)
	tab.Reap(1000)
	if tab.Len() != 1 || tab.Lookup(&tk) != t2 {
		t.Fatalf("after the last connection: len %d", tab.Len())
	}
	if tab.Stats().Flushed != 2 {
		t.Errorf("flushed %d, want 2", tab.Stats().Flushed)
	}
	_ = clk
}
