package schema

import (
	"embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path"

	"github.com/linkedin/goavro/v2"
)

// releasedFS holds every released value schema (the evolution guard's list):
// a single-object value written by an earlier release names its schema only
// by fingerprint, so the Decoder must know them all.
//
//go:embed testdata/released/*.avsc
var releasedFS embed.FS

// releasedWriters returns the released schemas other than the embedded one,
// by single-object fingerprint.
func releasedWriters(own [8]byte) (map[[8]byte]*writer, error) {
	out := map[[8]byte]*writer{}
	files, err := releasedFS.ReadDir("testdata/released")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		text, err := releasedFS.ReadFile(path.Join("testdata/released", f.Name()))
		if err != nil {
			return nil, err
		}
		fp, err := fingerprintOf(string(text))
		if err != nil {
			return nil, fmt.Errorf("schema: released %s: %w", f.Name(), err)
		}
		if fp == own {
			continue
		}
		c, err := goavro.NewCodec(string(text))
		if err != nil {
			return nil, fmt.Errorf("schema: released %s: %w", f.Name(), err)
		}
		out[fp] = &writer{text: string(text), codec: c}
	}
	return out, nil
}

// fingerprintOf is the single-object fingerprint of a schema text: the
// CRC-64-AVRO of its Parsing Canonical Form, little-endian.
func fingerprintOf(text string) ([8]byte, error) {
	var parsed any
	if err := json.Unmarshal([]byte(text), &parsed); err != nil {
		return [8]byte{}, err
	}
	canon, err := canonicalForm(parsed)
	if err != nil {
		return [8]byte{}, err
	}
	c, err := goavro.NewCodec(canon)
	if err != nil {
		return [8]byte{}, err
	}
	var fp [8]byte
	binary.LittleEndian.PutUint64(fp[:], c.Rabin)
	return fp, nil
}
