package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Destination is a place backups go to: a directory or an S3-compatible bucket. Keys are
// slash-separated paths ("backups/<id>/manifest").
type Destination interface {
	Name() string
	// Put stores the file at path under key, replacing what was there; a reader never
	// sees a partial object.
	Put(ctx context.Context, key, path string) error
	// Get opens an object; an error wrapping fs.ErrNotExist when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Exists(ctx context.Context, key string) (bool, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
}

// Dir is a destination directory (a mounted disk, NFS share, …).
type Dir struct {
	name, root string
}

// NewDir returns a directory destination. Nothing is checked yet: a directory that is
// missing (a disk not mounted) fails this destination when used, not the others.
func NewDir(name, root string) (*Dir, error) {
	if root == "" {
		return nil, fmt.Errorf("destination %s: no path", name)
	}
	return &Dir{name: name, root: root}, nil
}

// ensureRoot makes the directory if its parent exists: a missing parent is more likely
// an unmounted disk than a directory to create, and writing backups onto the root file
// system instead would hide that.
func (d *Dir) ensureRoot() error {
	if _, err := os.Stat(d.root); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Dir(d.root)); err != nil {
		return fmt.Errorf("destination %s unreachable: %s does not exist (is the disk mounted?)", d.name, filepath.Dir(d.root))
	}
	if err := os.Mkdir(d.root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("destination %s: %w", d.name, err)
	}
	return nil
}

func (d *Dir) Name() string { return d.name }

func (d *Dir) file(key string) (string, error) {
	clean := path.Clean("/" + key)[1:]
	if clean == "" || clean != key {
		return "", fmt.Errorf("destination %s: bad key %q", d.name, key)
	}
	return filepath.Join(d.root, filepath.FromSlash(clean)), nil
}

func (d *Dir) Put(ctx context.Context, key, src string) error {
	dst, err := d.file(key)
	if err != nil {
		return err
	}
	if err := d.ensureRoot(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".put-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("destination %s: write %s: %w", d.name, key, err)
	}
	return nil
}

func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.file(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %s: %w", d.name, key, err)
	}
	return f, nil
}

func (d *Dir) Exists(ctx context.Context, key string) (bool, error) {
	p, err := d.file(key)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	if _, err := os.Stat(d.root); errors.Is(err, fs.ErrNotExist) && prefix == "blobs/" {
		return nil, nil // nothing stored yet
	} else if err != nil {
		return nil, fmt.Errorf("destination %s unreachable: %w", d.name, err)
	}
	var out []string
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		k := filepath.ToSlash(rel)
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.file(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Drop directories left empty (a deleted backup's).
	for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// S3 is a bucket on an S3-compatible service (AWS S3, MinIO, Ceph, versitygw, …).
type S3 struct {
	name, bucket, prefix string
	c                    *minio.Client
}

// S3Config says where a bucket is. Endpoint is host:port; Insecure uses plain HTTP
// (for a server on this machine).
type S3Config struct {
	Endpoint, Bucket, Prefix, Region string
	AccessKey, SecretKey             string
	Insecure                         bool
}

// NewS3 returns a bucket destination; it makes no request until used.
func NewS3(name string, c S3Config) (*S3, error) {
	if c.Endpoint == "" || c.Bucket == "" {
		return nil, fmt.Errorf("destination %s: S3 needs an endpoint and a bucket", name)
	}
	if u, err := url.Parse("//" + c.Endpoint); err != nil || u.Host != c.Endpoint {
		return nil, fmt.Errorf("destination %s: endpoint %q must be host:port (no scheme)", name, c.Endpoint)
	}
	cl, err := minio.New(c.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure: !c.Insecure, Region: c.Region,
		MaxRetries: 1, // Run retries whole objects itself, with backoff
	})
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", name, err)
	}
	p := strings.Trim(c.Prefix, "/")
	if p != "" {
		p += "/"
	}
	return &S3{name: name, bucket: c.Bucket, prefix: p, c: cl}, nil
}

func (s *S3) Name() string { return s.name }

func (s *S3) wrap(op, key string, err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return fmt.Errorf("destination %s: %s: %w", s.name, key, fs.ErrNotExist)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("destination %s unreachable (bucket %s at %s): %s %s: %w", s.name, s.bucket, s.c.EndpointURL().Host, op, key, err)
	}
	return fmt.Errorf("destination %s (bucket %s at %s): %s %s: %w", s.name, s.bucket, s.c.EndpointURL().Host, op, key, err)
}

func (s *S3) Put(ctx context.Context, key, src string) error {
	_, err := s.c.FPutObject(ctx, s.bucket, s.prefix+key, src, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{}); err != nil {
		return nil, s.wrap("get", key, err)
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("get", key, err)
	}
	return o, nil
}

func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return false, nil
	}
	return false, s.wrap("stat", key, err)
}

func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, s.wrap("list", prefix, o.Err)
		}
		out = append(out, strings.TrimPrefix(o.Key, s.prefix))
	}
	sort.Strings(out)
	return out, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	if err := s.c.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		return s.wrap("delete", key, err)
	}
	return nil
}
