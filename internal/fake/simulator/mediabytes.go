package simulator

import (
	"crypto/sha1" //nolint:gosec // Qiniu's etag is defined with SHA-1
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand/v2"
)

// MediaBytes returns the bytes the simulator serves for a media reference:
// size bytes drawn from a generator seeded by the media id, the last four
// chosen so that the whole has CRC-32 (IEEE) crc. Below 4 bytes the CRC is
// whatever the bytes give. Deterministic, streamed: nothing is held whole.
func MediaBytes(mediaID string, size int64, crc uint32) io.Reader {
	seed := sha256.Sum256([]byte(mediaID))
	return &mediaReader{rng: rand.NewChaCha8(seed), left: max(size, 0), forge: size >= 4, want: crc}
}

type mediaReader struct {
	rng   *rand.ChaCha8
	left  int64
	forge bool
	want  uint32
	crc   uint32
	tail  []byte // the forged last bytes, once computed
}

func (m *mediaReader) Read(p []byte) (int, error) {
	if m.left == 0 {
		return 0, io.EOF
	}
	if m.tail != nil {
		n := copy(p, m.tail[4-m.left:])
		m.left -= int64(n)
		return n, nil
	}
	n := int64(len(p))
	body := m.left
	if m.forge {
		body -= 4
	}
	if body == 0 {
		m.tail = binary.LittleEndian.AppendUint32(nil, forgeCRC(m.crc, m.want))
		return m.Read(p)
	}
	n = min(n, body)
	_, _ = m.rng.Read(p[:n])
	m.crc = crc32.Update(m.crc, crc32.IEEETable, p[:n])
	m.left -= n
	return int(n), nil
}

// forgeCRC returns the little-endian word that, appended to data of CRC-32
// have, gives CRC-32 want (CRC is linear: run the register back 32 bits).
func forgeCRC(have, want uint32) uint32 {
	const poly = 0xEDB88320
	t := ^want
	for range 32 {
		if t&0x80000000 != 0 {
			t = ((t ^ poly) << 1) | 1
		} else {
			t <<= 1
		}
	}
	return t ^ ^have
}

// QiniuEtag is Qiniu's etag of r: for at most 4 MiB, 0x16 and the SHA-1 of
// the bytes; above, 0x96 and the SHA-1 of the blocks' SHA-1s (4 MiB
// blocks); URL-safe base64.
func QiniuEtag(r io.Reader) string {
	const block = 4 << 20
	var sums []byte
	blocks := 0
	buf := make([]byte, 32<<10)
	for {
		h := sha1.New() //nolint:gosec // see above
		n, _ := io.CopyBuffer(h, io.LimitReader(r, block), buf)
		if n == 0 && blocks > 0 {
			break
		}
		sums = h.Sum(sums)
		blocks++
		if n < block {
			break
		}
	}
	var out []byte
	if blocks == 1 {
		out = append([]byte{0x16}, sums...)
	} else {
		s := sha1.Sum(sums) //nolint:gosec // see above
		out = append([]byte{0x96}, s[:]...)
	}
	return base64.URLEncoding.EncodeToString(out)
}
