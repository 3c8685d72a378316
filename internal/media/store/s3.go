package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Store writes to an S3-compatible bucket with minio-go: one PUT per
// object (no multipart: an object appears whole or not at all, and the
// client buffers nothing: the body is read from the spooled file), the
// payload not signed (UNSIGNED-PAYLOAD, which every S3-compatible store
// accepts; no extra read of the file to hash it) and no trailing checksums
// or conditional headers, which several non-AWS stores reject.
type s3Store struct {
	client         *minio.Client
	bucket, prefix string
	display        string // s3://bucket/prefix
}

// newS3 reads s3://bucket/prefix?endpoint=...&region=...&path_style=true.
// Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN), else the shared credentials file, else the instance
// or pod role (IAM); they are never logged.
func newS3(u *url.URL) (*s3Store, error) {
	bucket := u.Host
	if bucket == "" {
		return nil, errors.New("store: an s3 URL is s3://bucket/prefix")
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path_style", "disable_https":
		default:
			return nil, fmt.Errorf("store: s3 URL parameter %q is not one of endpoint, region, path_style", k)
		}
	}
	endpoint, secure := "s3.amazonaws.com", true
	if e := q.Get("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || eu.Host == "" || (eu.Scheme != "http" && eu.Scheme != "https") {
			return nil, fmt.Errorf("store: s3 endpoint %q is not http(s)://host[:port]", e)
		}
		endpoint, secure = eu.Host, eu.Scheme == "https"
	}
	region := q.Get("region")
	if region == "" && q.Get("endpoint") != "" {
		region = "us-east-1" // S3-compatible stores take any; saves a location request
	}
	lookup := minio.BucketLookupAuto
	if v := q.Get("path_style"); v != "" {
		ps, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("store: s3 path_style %q is not true or false", v)
		}
		lookup = minio.BucketLookupDNS
		if ps {
			lookup = minio.BucketLookupPath
		}
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
	})
	client, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("store: s3: %w", err)
	}
	prefix := strings.Trim(u.Path, "/")
	display := "s3://" + bucket
	if prefix != "" {
		display += "/" + prefix
	}
	return &s3Store{client: client, bucket: bucket, prefix: prefix, display: display}, nil
}

func (s *s3Store) key(k string) string { return path.Join(s.prefix, k) }

func (s *s3Store) Put(ctx context.Context, o Object, body io.ReaderAt) (string, error) {
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.key(o.Key), io.NewSectionReader(body, 0, o.Size), o.Size, minio.PutObjectOptions{
		ContentType: ct, UserMetadata: o.Meta, DisableMultipart: true, DisableContentSha256: true,
	})
	if err != nil {
		return "", fmt.Errorf("store: put %s/%s: %w", s.display, o.Key, err)
	}
	return s.display + "/" + o.Key, nil
}

func (s *s3Store) Check(ctx context.Context) error {
	probe := []byte("imreport media store check\n")
	k := probeKey()
	if _, err := s.Put(ctx, Object{Key: k, Size: int64(len(probe)), ContentType: "text/plain"}, bytes.NewReader(probe)); err != nil {
		return err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(k), minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("store: get %s/%s: %w", s.display, k, err)
	}
	b, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(b, probe) {
		return fmt.Errorf("store: %s/%s did not read back: %v", s.display, k, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(k), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("store: delete %s/%s: %w", s.display, k, err)
	}
	return nil
}
