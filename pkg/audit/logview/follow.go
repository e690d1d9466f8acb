package logview

import (
	"context"
	"io"
	"os"
	"time"
)

// Follow calls emit with the events of path from its beginning and then as
// they are appended, polling every interval until ctx is done. When the file is rotated (its
// identity changes or it shrinks), it continues from the start of the new
// file.
func Follow(ctx context.Context, path string, interval time.Duration, emit func([]Located, []Problem)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	var offset int64
	info, err := f.Stat()
	if err != nil {
		return err
	}
	var partial []byte
	line := 0
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if cur, err := os.Stat(path); err == nil && (!os.SameFile(cur, info) || cur.Size() < offset) {
			nf, err := os.Open(path)
			if err != nil {
				continue
			}
			f.Close()
			f, info, offset, partial, line = nf, cur, 0, nil, 0
		}
		buf, err := io.ReadAll(f)
		if err != nil || len(buf) == 0 {
			continue
		}
		offset += int64(len(buf))
		data := append(partial, buf...)
		end := len(data)
		for end > 0 && data[end-1] != '\n' {
			end--
		}
		partial = append([]byte(nil), data[end:]...)
		if end == 0 {
			continue
		}
		events, problems := ParseLines(path, data[:end])
		for i := range events {
			events[i].Line += line
		}
		for i := range problems {
			problems[i].Line += line
		}
		for _, b := range data[:end] {
			if b == '\n' {
				line++
			}
		}
		emit(events, problems)
	}
}
