// Package logbackend is the audit log backend for --audit-log-format=json,
// in the image of k8s.io/apiserver's plugin/pkg/audit/log (backend.go),
// whose lines it writes byte for byte, with the same codec. It differs in
// one thing, memory: the library's backend encodes an event into a buffer
// (runtime.Encode), copies it into a string and fmt copies that once more
// before the write, three copies of a line that holds, at RequestResponse,
// a whole response (a LIST of thousands of objects: tens of megabytes, for
// each request in flight). Here the codec encodes into the writer: one;
// and into a LineWriter (the log file) an event with large objects is
// written in pieces around them: none.
package logbackend

import (
	"io"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
)

type backend struct {
	out     io.Writer
	encoder runtime.Encoder
}

var _ audit.Backend = &backend{}

// NewBackend writes each event to out as one JSON line of groupVersion.
// The codec's JSON serializer (encoding/json's Encoder) writes a line in
// one Write, as the library's backend does, so a writer sees whole lines.
func NewBackend(out io.Writer, groupVersion schema.GroupVersion) audit.Backend {
	return &backend{out: out, encoder: audit.Codecs.LegacyCodec(groupVersion)}
}

func (b *backend) ProcessEvents(events ...*auditinternal.Event) bool {
	success := true
	lines, _ := b.out.(LineWriter)
	for _, ev := range events {
		if err := b.encode(ev, lines); err != nil {
			audit.HandlePluginError(pluginlog.PluginName, err, ev)
			success = false
		}
	}
	return success
}

func (b *backend) encode(ev *auditinternal.Event, lines LineWriter) error {
	if lines != nil {
		if handled, err := b.encodeStreamed(ev, lines); handled {
			return err
		}
	}
	return b.encoder.Encode(ev, b.out)
}

func (b *backend) Run(stopCh <-chan struct{}) error { return nil }

func (b *backend) Shutdown() {}

func (b *backend) String() string { return pluginlog.PluginName }
