package testnet

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
)

// blobSeed seeds the blob stream; changing it changes every blob.
var blobSeed = [32]byte{'x', 'v', 's', '-', 't', 'e', 's', 't', 'n', 'e', 't', '-', 'b', 'l', 'o', 'b'}

// MaxBlob bounds the size labserver serves at /blob.
const MaxBlob = 1 << 30

// NewBlobReader returns the deterministic content of a /blob response of
// size bytes: the first size bytes of a ChaCha8 stream with a fixed seed, so
// a shorter blob is a prefix of a longer one and a client can recompute it.
func NewBlobReader(size int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8(blobSeed), size)
}

// BlobSHA256 returns the hex SHA-256 of the blob of size bytes.
func BlobSHA256(size int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, NewBlobReader(size))
	return hex.EncodeToString(h.Sum(nil))
}
