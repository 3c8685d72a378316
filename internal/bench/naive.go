package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"
)

// NaiveConfig configures Naive.
type NaiveConfig struct {
	APIURL, AppKey, MasterSecret string
	Brokers, Topic               string
	Start, End                   time.Time
	PageSize                     int
	RateLimit                    float64 // requests per second; 0 = unlimited
}

// naiveSchema is the smaller record the naive pipeline writes.
const naiveSchema = `{"type":"record","name":"NaiveMessage","fields":[
 {"name":"msgid","type":"long"},{"name":"msg_ctime","type":"long"},{"name":"create_time","type":"long"},
 {"name":"msg_type","type":"string"},{"name":"target_type","type":"string"},{"name":"target_id","type":"string"},
 {"name":"from_id","type":"string"},{"name":"msg_body","type":"string"}]}`

// num is a number that may come as a JSON string, decoded by encoding/json.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return err
		}
		v = int64(f)
	}
	*n = num(v)
	return nil
}

// str is a string that may come as a JSON number.
type str string

func (s *str) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = str(v)
		return nil
	}
	*s = str(b)
	return nil
}

type naiveMessage struct {
	MsgID      num             `json:"msgid"`
	MsgCtime   num             `json:"msg_ctime"`
	CreateTime num             `json:"create_time"`
	MsgType    str             `json:"msg_type"`
	TargetType str             `json:"target_type"`
	TargetID   str             `json:"target_id"`
	FromID     str             `json:"from_id"`
	Body       json.RawMessage `json:"msg_body"`
}

type naivePage struct {
	Total    num            `json:"total"`
	Messages []naiveMessage `json:"messages"`
}

// Naive runs the naive pipeline over [Start, End) and returns the messages
// it published.
func Naive(ctx context.Context, cfg NaiveConfig) (int64, error) {
	codec, err := goavro.NewCodec(naiveSchema)
	if err != nil {
		return 0, err
	}
	w := &kafka.Writer{Addr: kafka.TCP(strings.Split(cfg.Brokers, ",")...), Topic: cfg.Topic,
		RequiredAcks: kafka.RequireAll, BatchSize: 10000, BatchBytes: 16 << 20, BatchTimeout: time.Millisecond,
		Compression: kafka.Snappy, Balancer: &kafka.Murmur2Balancer{}, AllowAutoTopicCreation: true}
	defer w.Close()
	limit := rate.NewLimiter(rate.Inf, 1)
	if cfg.RateLimit > 0 {
		limit = rate.NewLimiter(rate.Limit(cfg.RateLimit), 1)
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return 0, err
	}
	bounds := "&begin_time=" + url.QueryEscape(cfg.Start.In(loc).Format("2006-01-02 15:04:05")) +
		"&end_time=" + url.QueryEscape(cfg.End.Add(-time.Second).In(loc).Format("2006-01-02 15:04:05"))
	seen := map[int64]struct{}{}
	var published int64
	for start := 0; ; {
		if err := limit.Wait(ctx); err != nil {
			return published, err
		}
		q := cfg.APIURL + "/v1/messages?start=" + strconv.Itoa(start) + "&count=" + strconv.Itoa(cfg.PageSize) + bounds
		page, retry, err := naiveGet(ctx, q, cfg.AppKey, cfg.MasterSecret)
		if err != nil {
			return published, err
		}
		if retry {
			continue
		}
		msgs := make([]kafka.Message, 0, len(page.Messages))
		for _, m := range page.Messages {
			if _, dup := seen[int64(m.MsgID)]; dup {
				continue
			}
			seen[int64(m.MsgID)] = struct{}{}
			v, err := codec.BinaryFromNative(nil, map[string]any{
				"msgid": int64(m.MsgID), "msg_ctime": int64(m.MsgCtime), "create_time": int64(m.CreateTime) * 1000,
				"msg_type": string(m.MsgType), "target_type": string(m.TargetType), "target_id": string(m.TargetID),
				"from_id": string(m.FromID), "msg_body": string(m.Body),
			})
			if err != nil {
				return published, fmt.Errorf("encode msgid %d: %w", m.MsgID, err)
			}
			msgs = append(msgs, kafka.Message{Key: []byte(m.TargetID), Value: v})
		}
		if len(msgs) > 0 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return published, err
			}
			published += int64(len(msgs))
		}
		start += len(page.Messages)
		if len(page.Messages) < cfg.PageSize || start >= int(page.Total) {
			return published, nil
		}
	}
}

// naiveGet fetches one page; retry is true after a 429 or a 5xx.
func naiveGet(ctx context.Context, u, user, pass string) (page naivePage, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return page, false, err
	}
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return page, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return page, false, err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return page, true, nil
	}
	if resp.StatusCode != http.StatusOK {
		return page, false, fmt.Errorf("GET %s: %s: %.200s", u, resp.Status, body)
	}
	err = json.Unmarshal(body, &page)
	return page, false, err
}
