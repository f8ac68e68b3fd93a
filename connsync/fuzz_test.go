package connsync

import "testing"

// FuzzDecode: Decode never panics, accepts only datagrams whose declared
// size is their length, and every version 1 entry it delivers encodes again
// to an entry that decodes to the same fields.
func FuzzDecode(f *testing.F) {
	f.Add(unhex(f, fixtureDR...), uint8(0))
	f.Add(unhex(f, fixtureTwo...), uint8(7))
	f.Add([]byte{2, 5, 0, 4}, uint8(5))
	f.Fuzz(func(t *testing.T, b []byte, syncID uint8) {
		v1 := len(b) >= headerLen && b[0] == 0 && b[5] == protoVer && b[6] == 0 && b[7] == 0
		var m Message
		d, err := (&Decoder{SyncID: syncID}).Decode(b, func(c *Conn) {
			if !v1 || checkEncodable(c) != nil {
				return
			}
			m.Reset(m.Bytes(), 1, 0xffff)
			if err := m.Add(c); err != nil {
				t.Fatalf("re-encoding %+v: %v", c, err)
			}
			var again Conn
			if _, err := (&Decoder{SyncID: 0}).Decode(m.Bytes(), func(c2 *Conn) { again = *c2 }); err != nil {
				t.Fatalf("decoding the re-encoded entry: %v", err)
			}
			// The encoder sends sequence data exactly when the flags
			// announce it, and never the hashed flag.
			want := *c
			want.Flags &^= FlagHashed
			if want.Flags&FlagSeqMask == 0 {
				want.InSeq, want.OutSeq, want.HasSeq = Seq{}, Seq{}, false
			} else {
				want.HasSeq = true
			}
			if !connEqual(&again, &want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", again, want)
			}
		})
		if err == nil && !d.Ignored && int(b[2])<<8|int(b[3]) != len(b) {
			t.Fatalf("accepted a message whose size is not its length")
		}
	})
}
