package testnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"testing"
)

var osGetpid = os.Getpid

func readBlob(t *testing.T, n int64) []byte {
	t.Helper()
	b, err := io.ReadAll(NewBlobReader(n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBlob(t *testing.T) {
	long := readBlob(t, 100_000)
	for _, n := range []int64{0, 1, 7, 8, 4095, 4096, 65537, 100_000} {
		b := readBlob(t, n)
		if int64(len(b)) != n {
			t.Fatalf("blob %d has %d bytes", n, len(b))
		}
		if !bytes.Equal(b, long[:n]) {
			t.Errorf("blob %d is not a prefix of a longer blob", n)
		}
		sum := sha256.Sum256(b)
		if got := BlobSHA256(n); got != hex.EncodeToString(sum[:]) {
			t.Errorf("BlobSHA256(%d) = %s, want %x", n, got, sum)
		}
	}
	// Pinned: a change here changes what every client expects.
	if got := hex.EncodeToString(long[:16]); got != pinnedBlobHead {
		t.Errorf("blob starts %s, want %s", got, pinnedBlobHead)
	}
	// Not trivially compressible: about half the bits set.
	ones := 0
	for _, c := range long {
		for ; c != 0; c &= c - 1 {
			ones++
		}
	}
	if frac := float64(ones) / float64(8*len(long)); frac < 0.49 || frac > 0.51 {
		t.Errorf("blob has %.3f of its bits set", frac)
	}
}

const pinnedBlobHead = "ea0a776e3be4b529a4dcb497c85182fd"
