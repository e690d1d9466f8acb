// Package ship sends the audit log files to a search store with the
// Elasticsearch bulk API, as Fluent Bit or Fluentd tail a log: the rotated
// set first (built-in rotation's backups, logrotate's numbered and .gz
// files), then the active log as it grows, following every rotation the
// server's log writer survives (pkg/audit/logfile).
//
// Files are known by their content, not their names: a file's fingerprint is
// its first line (an event line: its auditID, stage and timestamps make it
// unique), so a renamed file, its .gz copy and a copytruncate's copy are
// the same file, and a truncated log is a new one. The position file maps
// fingerprints to how far the file was shipped and acknowledged; it is
// written (atomically) after every acknowledged bulk, so a restart resumes
// where it stopped: nothing skipped, nothing sent again but the bulk that
// was in flight if the process died.
package ship

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/esbulk"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
	"github.com/mini-apiserver/mini-apiserver/pkg/audit/logview"
)

// Options say what to ship where.
type Options struct {
	// Log is the active log (--audit-log-path); its rotated files are the
	// files beside it named after it.
	Log          string
	PositionFile string
	Client       *esbulk.Client
	// BatchSize is the most events in one bulk request (default 500).
	BatchSize int
	// ServerName is the API server that writes Log, added to each document
	// as host.name ("": none).
	ServerName string
	// Interval is how often the files are looked at again when following
	// (default 200ms).
	Interval time.Duration
	// Backoff paces retries.
	Backoff esbulk.Backoff
}

// Stats count what was shipped.
type Stats struct {
	// Shipped were acknowledged by the store; Rejected it refused for good;
	// Unparsed were lines that are not audit events (skipped, logged).
	Shipped, Rejected, Unparsed int64
}

// Shipper ships a log.
type Shipper struct {
	opts   Options
	pos    map[string]int64  // fingerprint -> bytes shipped
	names  map[string]string // fingerprint -> where the file was last seen
	gzSeen map[string]string // .gz files (name and size) shipped whole -> fingerprint
	seen   map[string]bool   // fingerprints of the files of the current pass
	// lastSeen is when each file was last listed: a position is forgotten
	// only after forgetAfter unseen, since a pass can miss a file that is
	// being renamed or compressed (listed as audit.log.1, opened after
	// logrotate renamed it; audit.log.2 gone before its .gz is whole), and
	// forgetting it then would send it all again.
	lastSeen map[string]time.Time
	stats    Stats
}

// forgetAfter is how long a file's position is kept once it is gone.
const forgetAfter = 10 * time.Minute

// New reads the position file (absent: start from the beginning).
func New(opts Options) (*Shipper, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Interval <= 0 {
		opts.Interval = 200 * time.Millisecond
	}
	s := &Shipper{opts: opts, pos: map[string]int64{}, names: map[string]string{}, gzSeen: map[string]string{}, lastSeen: map[string]time.Time{}}
	data, err := os.ReadFile(opts.PositionFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("position file: %w", err)
	default:
		var p position
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("position file %s: %w", opts.PositionFile, err)
		}
		for _, f := range p.Files {
			s.pos[f.Fingerprint], s.names[f.Fingerprint], s.lastSeen[f.Fingerprint] = f.Offset, f.Name, f.Seen
		}
	}
	return s, nil
}

// position is the position file's content.
type position struct {
	Log   string         `json:"log"`
	Files []filePosition `json:"files"`
}

type filePosition struct {
	Fingerprint string `json:"fingerprint"`
	// Name is where the file was last seen, for people reading the file.
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	// Seen is when the file was last listed.
	Seen time.Time `json:"seen"`
}

// Stats reports the counts so far.
func (s *Shipper) Stats() Stats { return s.stats }

// Once ships what the files hold now.
func (s *Shipper) Once(ctx context.Context) error {
	files, err := s.files()
	if err != nil {
		return err
	}
	s.seen = map[string]bool{}
	for _, f := range files {
		if err := s.shipFile(ctx, f); err != nil {
			return err
		}
	}
	// Forget the files gone for a while.
	now := time.Now()
	gone := false
	for fp := range s.pos {
		if s.seen[fp] {
			continue
		}
		if now.Sub(s.lastSeen[fp]) > forgetAfter {
			delete(s.pos, fp)
			delete(s.names, fp)
			delete(s.lastSeen, fp)
			gone = true
		}
	}
	if gone {
		return s.save()
	}
	return nil
}

// Follow ships what the files hold and then what is written, until ctx is
// done.
func (s *Shipper) Follow(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if err := s.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// files lists the log and the files named after it, oldest first (by
// modification time, the active log last).
func (s *Shipper) files() ([]string, error) {
	return logview.LogSet(s.opts.Log)
}

// see records that the file of fingerprint fp is listed at path now.
func (s *Shipper) see(fp, path string) {
	s.seen[fp], s.names[fp], s.lastSeen[fp] = true, path, time.Now()
}

// shipFile ships what path holds past its recorded offset.
func (s *Shipper) shipFile(ctx context.Context, path string) error {
	var gzKey string
	if strings.HasSuffix(path, ".gz") {
		info, err := os.Stat(path)
		if err != nil {
			return nil // rotated away meanwhile
		}
		gzKey = fmt.Sprintf("%s/%d", path, info.Size())
		if fp, ok := s.gzSeen[gzKey]; ok {
			s.see(fp, path)
			return nil
		}
	}
	fp, base, data, err := s.readNew(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if fp == "" {
		return nil // not one whole line yet
	}
	s.see(fp, path)
	// data is the file from offset base on; ship its whole lines.
	end := int64(bytes.LastIndexByte(data, '\n') + 1)
	offset := int64(0)
	for offset < end {
		if err := ctx.Err(); err != nil {
			return err // stopping: between bulks, so the position is exact
		}
		batchEnd, docs := s.batch(path, data, offset, end)
		if err := s.send(ctx, docs); err != nil {
			return err
		}
		offset = batchEnd
		s.pos[fp] = base + offset
		if err := s.save(); err != nil {
			return err
		}
	}
	if gzKey != "" {
		s.gzSeen[gzKey] = fp
	}
	return nil
}

// batch takes up to BatchSize event lines from data[offset:end].
func (s *Shipper) batch(path string, data []byte, offset, end int64) (int64, []esbulk.Doc) {
	var docs []esbulk.Doc
	for offset < end && len(docs) < s.opts.BatchSize {
		nl := int64(bytes.IndexByte(data[offset:end], '\n'))
		line := data[offset : offset+nl]
		offset += nl + 1
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := events.DecodeEvent(line)
		if err != nil {
			s.stats.Unparsed++
			klog.ErrorS(err, "Not an audit event: skipped", "file", path)
			continue
		}
		d, err := esbulk.NewDoc(&e, s.opts.ServerName)
		if err != nil {
			s.stats.Unparsed++
			continue
		}
		docs = append(docs, d)
	}
	return offset, docs
}

// send delivers docs, retrying with backoff until the store has taken or
// refused each of them, or ctx is done while waiting to retry. A bulk in
// flight is not cancelled by ctx: a stop (SIGTERM) waits for its answer, so
// that a clean restart sends nothing twice.
func (s *Shipper) send(ctx context.Context, docs []esbulk.Doc) error {
	var wait time.Duration
	for len(docs) > 0 {
		res, err := s.opts.Client.Bulk(context.WithoutCancel(ctx), docs)
		s.stats.Shipped += int64(res.Done)
		if len(res.Rejected) > 0 {
			s.stats.Rejected += int64(len(res.Rejected))
			klog.ErrorS(nil, "The store rejected events; they are skipped", "events", len(res.Rejected), "reason", res.Reason)
		}
		docs = res.Retry
		if len(docs) == 0 {
			return nil
		}
		wait = s.opts.Backoff.Next(wait)
		klog.ErrorS(err, "Shipping failed; retrying", "events", len(docs), "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// save writes the position file atomically: no I/O but the write, after
// every acknowledged bulk.
func (s *Shipper) save() error {
	p := position{Log: s.opts.Log}
	for fp, off := range s.pos {
		p.Files = append(p.Files, filePosition{Fingerprint: fp, Name: s.names[fp], Offset: off, Seen: s.lastSeen[fp]})
	}
	sort.Slice(p.Files, func(i, j int) bool { return p.Files[i].Name < p.Files[j].Name })
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.opts.PositionFile + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("position file: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("position file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("position file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("position file: %w", err)
	}
	return os.Rename(tmp, s.opts.PositionFile)
}

func fingerprint(firstLine []byte) string {
	sum := sha256.Sum256(firstLine)
	return hex.EncodeToString(sum[:12])
}

// readNew reads, through one open file (a rename cannot slip between),
// the file's fingerprint and what it holds past the recorded offset for
// it: data starts at file offset base. A .gz is decompressed as far as it
// is written. An offset past the end is from another file of the same
// first line, which cannot be: it is read from the start.
func (s *Shipper) readNew(path string) (fp string, base int64, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, nil, err
	}
	defer f.Close()
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return "", 0, nil, nil // not a whole gzip header yet
		}
		all, err := io.ReadAll(zr)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return "", 0, nil, fmt.Errorf("%s: %w", path, err)
		}
		nl := bytes.IndexByte(all, '\n')
		if nl < 0 {
			return "", 0, nil, nil
		}
		fp = fingerprint(all[:nl])
		base = min(s.pos[fp], int64(len(all)))
		return fp, base, all[base:], nil
	}
	line, err := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<30), 64<<10).ReadBytes('\n')
	if err != nil {
		return "", 0, nil, nil
	}
	fp = fingerprint(line[:len(line)-1])
	info, err := f.Stat()
	if err != nil {
		return "", 0, nil, err
	}
	base = s.pos[fp]
	if base > info.Size() {
		base = 0
	}
	data, err = io.ReadAll(io.NewSectionReader(f, base, info.Size()-base))
	return fp, base, data, err
}
