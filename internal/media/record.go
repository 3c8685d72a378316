package media

import "strconv"

// Native is the Result as an io.imreport.MediaItem record (goavro's form).
func (r Result) Native() map[string]any {
	long := func(p *int64) any {
		if p == nil {
			return nil
		}
		return map[string]any{"long": *p}
	}
	s := func(p *string) any {
		if p == nil {
			return nil
		}
		return map[string]any{"string": *p}
	}
	opt := func(v string) any {
		if v == "" {
			return nil
		}
		return map[string]any{"string": v}
	}
	var crc *int64
	if r.CRC32Declared() {
		crc = r.Ref.CRC
	}
	var size, sizeOK any
	if r.Status == StatusArchived {
		size = map[string]any{"long": r.Size}
	}
	if r.SizeOK != nil {
		sizeOK = map[string]any{"boolean": *r.SizeOK}
	}
	return map[string]any{
		"msgid": r.MsgID, "app_key": r.AppKey, "msg_type": r.MsgType, "role": r.Role, "media_id": r.MediaID,
		"declared": map[string]any{"fsize": long(r.Ref.Size), "media_crc32": long(crc), "hash": s(r.Ref.Hash), "format": s(r.Format), "fname": s(r.FileName)},
		"status":   r.Status, "reason": opt(r.Reason), "uri": opt(r.URI), "sha256": opt(r.SHA256), "size": size,
		"content_type": opt(r.ContentType),
		"checks":       map[string]any{"size": sizeOK, "crc32": opt(r.CRC), "hash": opt(r.Hash)},
		"attempts":     int32(r.Attempts), "fetched_at": r.FetchedAt,
		"source_topic": r.Topic, "source_partition": int32(r.Partition), "source_offset": r.Offset,
	}
}

// refKey identifies a reference within its source partition.
type refKey struct {
	offset int64
	role   string
}

func (k refKey) String() string { return strconv.FormatInt(k.offset, 10) + "/" + k.role }
