package logbackend

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
)

// LineWriter takes one line in pieces: write writes the line's n bytes,
// and no other line comes between them. logfile.File is one.
type LineWriter interface {
	WriteLine(n int64, write func(io.Writer) error) error
}

// streamAbove is the size of an event's objects from which its line is
// written in pieces: below it the line is built whole (one small buffer),
// above it building it would hold a second copy of the objects, which at
// RequestResponse can be a LIST of tens of megabytes per request in flight.
var streamAbove = 64 << 10

// marker stands for an object in the encoded event: a JSON string no
// event holds (a new random one per process), found again in the encoding.
type marker struct {
	unknown *runtime.Unknown
	encoded []byte
}

func newMarker(field string) marker {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // never fails (crypto/rand's contract)
	encoded := []byte(`"mini-apiserver-` + field + "-" + hex.EncodeToString(nonce) + `"`)
	return marker{unknown: &runtime.Unknown{Raw: encoded, ContentType: runtime.ContentTypeJSON}, encoded: encoded}
}

var (
	requestMarker  = newMarker("requestObject")
	responseMarker = newMarker("responseObject")
)

// streamable returns the raw JSON of an object the line can stream, or
// false when the codec must encode it: a missing object ("null"), not JSON
// (the codec's error). Whether it is valid JSON is for the caller to ask of
// an event worth streaming: it reads the whole object.
func streamable(obj *runtime.Unknown) ([]byte, bool) {
	if obj == nil || obj.Raw == nil || (obj.ContentType != "" && obj.ContentType != runtime.ContentTypeJSON) {
		return nil, false
	}
	return obj.Raw, true
}

// objectPiece is one object of the line: where its marker is in the
// encoded rest of the event, and the bytes that stand in its place.
type objectPiece struct {
	at     int
	marker []byte
	json   []byte
}

// encodeStreamed writes ev's line to out without building it: the event is
// encoded with markers in place of its objects, and the objects' raw JSON
// is written between its pieces as encoding/json would have put it there
// (compacted, HTML-escaped): the codec's line, byte for byte. Everything
// but the writes is done before the file is taken, so that lines of
// requests in parallel are prepared in parallel. handled is false when ev
// is not worth it or cannot be written so; the caller then encodes it as
// usual.
func (b *backend) encodeStreamed(ev *auditinternal.Event, out LineWriter) (handled bool, err error) {
	var objects []objectPiece
	skeleton := *ev
	size := 0
	for _, o := range []struct {
		obj   **runtime.Unknown
		field marker
	}{{&skeleton.RequestObject, requestMarker}, {&skeleton.ResponseObject, responseMarker}} {
		if raw, ok := streamable(*o.obj); ok {
			objects = append(objects, objectPiece{marker: o.field.encoded, json: raw})
			*o.obj = o.field.unknown
			size += len(raw)
		}
	}
	if size < streamAbove {
		return false, nil
	}
	for _, o := range objects {
		if !json.Valid(o.json) {
			return false, nil // the codec's error
		}
	}
	var buf bytes.Buffer
	if err := b.encoder.Encode(&skeleton, &buf); err != nil {
		return false, nil // the codec reports it on the event itself
	}
	line := buf.Bytes()
	n := int64(len(line))
	for i := range objects {
		o := &objects[i]
		o.at = bytes.Index(line, o.marker)
		if o.at < 0 {
			return false, nil
		}
		o.json = inLine(o.json)
		n += int64(len(o.json) - len(o.marker))
	}
	if len(objects) == 2 && objects[0].at > objects[1].at {
		objects[0], objects[1] = objects[1], objects[0]
	}
	return true, out.WriteLine(n, func(w io.Writer) error {
		from := 0
		for _, o := range objects {
			if err := writeAll(w, line[from:o.at], o.json); err != nil {
				return err
			}
			from = o.at + len(o.marker)
		}
		return writeAll(w, line[from:])
	})
}

func writeAll(w io.Writer, pieces ...[]byte) error {
	for _, p := range pieces {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// inLine returns valid JSON raw as encoding/json puts a Marshaler's output
// into a line: compacted, HTML-escaped. That is raw itself but for the
// whitespace around it when raw is so already (the library encodes
// objects so, with a newline after), else a copy made so (a patch as its
// client sent it: rare enough for the standard library's two passes).
func inLine(raw []byte) []byte {
	trimmed := bytes.Trim(raw, jsonSpace)
	if inLineForm(trimmed) {
		return trimmed
	}
	var compact, escaped bytes.Buffer
	_ = json.Compact(&compact, trimmed) // valid: the caller checked
	json.HTMLEscape(&escaped, compact.Bytes())
	return escaped.Bytes()
}

// jsonSpace is the whitespace JSON allows between tokens.
const jsonSpace = " \t\r\n"

// inLineForm reports whether valid JSON src is compact and HTML-escaped
// already (json.Compact and json.HTMLEscape would leave it as it is): no
// whitespace between tokens, no <, >, &, U+2028 or U+2029.
func inLineForm(src []byte) bool {
	inString, escaped := false, false
	for i, c := range src {
		switch {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
