// Package presized decorates the API groups' serializer so that an object
// encoded into a bytes.Buffer lands in that buffer in one allocation of its
// final size.
//
// Why: at RequestResponse the audit pipeline keeps a copy of every response
// (k8s.io/apiserver's audit.LogResponseObject encodes the object into an
// empty bytes.Buffer, the library's "TODO(audit): hook into the serializer
// to avoid double conversion"), and the library's serializer encodes a list
// an item at a time (StreamingCollectionsEncodingToJSON), so the buffer
// grows by doubling: a LIST of 55 MB is held in a buffer of up to twice its
// size, with as much again allocated on the way, until the event is
// written, for every LIST in flight (the same in kube-apiserver; issue 30).
// Encoded into pieces and copied once into a buffer grown to the total, the
// event holds the list's size and no more, and the pieces are garbage at
// once. An object that is not a list is written in one write, straight
// into the buffer, as before. The bytes are the wrapped encoder's: only
// where they are put changes.
//
// The serializer is the one piece of the response's path that is ours to
// give (APIGroupInfo.NegotiatedSerializer); the audit copy is written
// through it, with a bytes.Buffer, and so are the library's other encodings
// into memory (runtime.Encode). An encoder writing to anything else (the
// response itself, a watch stream) is the wrapped one, unchanged.
package presized

import (
	"bytes"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
)

// NewNegotiatedSerializer returns s with its encoders presizing.
func NewNegotiatedSerializer(s runtime.NegotiatedSerializer) runtime.NegotiatedSerializer {
	return negotiatedSerializer{s}
}

type negotiatedSerializer struct {
	runtime.NegotiatedSerializer
}

func (s negotiatedSerializer) EncoderForVersion(e runtime.Encoder, gv runtime.GroupVersioner) runtime.Encoder {
	return encoder{s.NegotiatedSerializer.EncoderForVersion(e, gv)}
}

// encoder keeps the wrapped encoder's Identifier: it writes the same bytes,
// so what a CacheableObject cached for one is right for the other.
type encoder struct {
	runtime.Encoder
}

func (e encoder) Encode(obj runtime.Object, w io.Writer) error {
	buf, ok := w.(*bytes.Buffer)
	if !ok {
		return e.Encoder.Encode(obj, w)
	}
	p := pieces{buf: buf}
	if err := e.Encoder.Encode(obj, &p); err != nil {
		return err
	}
	buf.Grow(p.size)
	for _, b := range p.filled {
		buf.Write(b)
	}
	return nil
}

// EncodeWithAllocator is the wrapped encoder's where it has one: the
// response writer's path (responsewriters.SerializeObject) asks for it,
// and an encoder without it would lose the allocator there.
func (e encoder) EncodeWithAllocator(obj runtime.Object, w io.Writer, a runtime.MemoryAllocator) error {
	if ea, ok := e.Encoder.(runtime.EncoderWithAllocator); ok {
		if _, toBuffer := w.(*bytes.Buffer); !toBuffer {
			return ea.EncodeWithAllocator(obj, w, a)
		}
	}
	return e.Encode(obj, w)
}

// The pieces grow with what was written, from minPiece, so a small list
// takes little, to maxPiece, so that at most that is allocated past the
// end.
const (
	minPiece = 4 << 10
	maxPiece = 1 << 20
)

// pieces is an io.Writer for an encoding into buf: the first write (an
// object's whole encoding, but for a list's items) goes into buf, which
// grows to its size; the others are kept in pieces, never copied until
// the encoding is done and buf can grow once to hold them.
type pieces struct {
	buf    *bytes.Buffer
	first  bool
	filled [][]byte
	size   int
}

func (p *pieces) Write(b []byte) (int, error) {
	if !p.first {
		p.first = true
		return p.buf.Write(b)
	}
	n := len(b)
	for len(b) > 0 {
		if len(p.filled) == 0 || len(p.filled[len(p.filled)-1]) == cap(p.filled[len(p.filled)-1]) {
			p.filled = append(p.filled, make([]byte, 0, min(max(p.size, len(b), minPiece), maxPiece)))
		}
		last := &p.filled[len(p.filled)-1]
		c := copy((*last)[len(*last):cap(*last)], b)
		*last = (*last)[:len(*last)+c]
		b = b[c:]
	}
	p.size += n
	return n, nil
}
