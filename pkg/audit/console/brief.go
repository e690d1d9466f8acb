package console

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/audit/events"
)

// brief is what a row takes from an event: every field but the objects,
// the source addresses, the user agent and the user's extra. A log is read
// by decoding each line into a brief and keeping the line itself for the
// request's detail, decoded in full only when asked for.
type brief struct {
	AuditID                  string
	Stage, Level, Verb       string
	RequestURI               string
	User                     briefUser
	Impersonated             string      // the impersonated user's name
	ObjectRef                briefObject // zero if none
	Code                     int32       // of responseStatus, 0 if none
	Decision, Reason         string
	Notes                    []string // the annotations' values
	RequestReceivedTimestamp time.Time
	StageTimestamp           time.Time
}

type briefUser struct {
	Username string
	Groups   []string
}

type briefObject struct {
	Resource, Subresource, APIGroup, Namespace, Name string
}

// briefOf is the brief of a decoded event (a webhook's delivery).
func briefOf(e *auditv1.Event) brief {
	b := brief{AuditID: string(e.AuditID), Stage: string(e.Stage), Level: string(e.Level), Verb: e.Verb, RequestURI: e.RequestURI,
		User: briefUser{e.User.Username, e.User.Groups}, Decision: e.Annotations[events.DecisionAnnotation], Reason: e.Annotations[reasonAnnotation],
		RequestReceivedTimestamp: e.RequestReceivedTimestamp.Time, StageTimestamp: e.StageTimestamp.Time}
	if u := e.ImpersonatedUser; u != nil {
		b.Impersonated = u.Username
	}
	if o := e.ObjectRef; o != nil {
		b.ObjectRef = briefObject{o.Resource, o.Subresource, o.APIGroup, o.Namespace, o.Name}
	}
	if s := e.ResponseStatus; s != nil {
		b.Code = s.Code
	}
	for _, v := range e.Annotations {
		b.Notes = append(b.Notes, v)
	}
	return b
}

// errNotJSON marks a line that is not JSON at all (torn or foreign).
var errNotJSON = errors.New("not valid JSON (torn or foreign line)")

// briefDecoder decodes lines into briefs with go-json-experiment's
// tokenizer (the one of Go's encoding/json/v2): it skips what a row does
// not show without decoding it, and shares the strings events repeat
// (users, verbs, resources, namespaces, annotations), which also keeps
// the store small. A log is read at hundreds of MB/s this way, where
// encoding/json into an auditv1.Event reads tens. One per goroutine.
type briefDecoder struct {
	dec      jsontext.Decoder
	in       bytes.Buffer
	scratch  []byte
	interned map[string]string
	groups   map[string][]string
	// notes holds the annotation values of the briefs it made, each
	// brief's Notes a part of it: one allocation for many.
	notes []string
}

// lenient takes what encoding/json takes: a log written by another tool
// may repeat a name or carry invalid UTF-8 in a user agent.
var lenient = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// maxInterned bounds a decoder's shared strings: past it they are dropped
// and shared again from scratch.
const maxInterned = 8192

func newBriefDecoder() *briefDecoder {
	return &briefDecoder{interned: map[string]string{}, groups: map[string][]string{}}
}

// decode decodes one line of a JSON audit log. A line that is JSON but not
// an audit.k8s.io/v1 Event with an auditID and a stage is an error, as
// events.DecodeEvent says.
func (d *briefDecoder) decode(line []byte) (brief, error) {
	var b brief
	d.in = *bytes.NewBuffer(line)
	d.dec.Reset(&d.in, lenient...)
	var kind, apiVersion bool
	err := d.object(func(name []byte) error {
		var err error
		switch string(name) {
		case "kind":
			var v []byte
			v, err = d.rawString()
			kind = string(v) == "Event"
		case "apiVersion":
			var v []byte
			v, err = d.rawString()
			apiVersion = string(v) == "audit.k8s.io/v1"
		case "auditID":
			var v []byte
			v, err = d.rawString()
			b.AuditID = string(v)
		case "stage":
			b.Stage, err = d.string()
		case "level":
			b.Level, err = d.string()
		case "verb":
			b.Verb, err = d.string()
		case "requestURI":
			b.RequestURI, err = d.string()
		case "user":
			err = d.user(&b.User)
		case "impersonatedUser":
			if d.dec.PeekKind() == 'n' {
				return d.dec.SkipValue()
			}
			var u briefUser
			err = d.user(&u)
			b.Impersonated = u.Username
		case "objectRef":
			if d.dec.PeekKind() == 'n' {
				return d.dec.SkipValue()
			}
			o := &b.ObjectRef
			err = d.object(func(name []byte) error {
				var err error
				switch string(name) {
				case "resource":
					o.Resource, err = d.string()
				case "subresource":
					o.Subresource, err = d.string()
				case "apiGroup":
					o.APIGroup, err = d.string()
				case "namespace":
					o.Namespace, err = d.string()
				case "name":
					o.Name, err = d.string()
				default:
					err = d.dec.SkipValue()
				}
				return err
			})
		case "responseStatus":
			if d.dec.PeekKind() == 'n' {
				return d.dec.SkipValue()
			}
			err = d.object(func(name []byte) error {
				if string(name) != "code" {
					return d.dec.SkipValue()
				}
				v, err := d.dec.ReadValue()
				if err != nil {
					return err
				}
				code, err := strconv.ParseInt(string(v), 10, 32)
				if err != nil {
					return fmt.Errorf("responseStatus.code %s: not a code", v)
				}
				b.Code = int32(code)
				return nil
			})
		case "annotations":
			if d.dec.PeekKind() == 'n' {
				return d.dec.SkipValue()
			}
			notes := len(d.notes)
			err = d.object(func(name []byte) error {
				key := string(name)
				v, err := d.string()
				if err != nil {
					return err
				}
				switch key {
				case events.DecisionAnnotation:
					b.Decision = v
				case reasonAnnotation:
					b.Reason = v
				}
				d.notes = append(d.notes, v)
				return nil
			})
			b.Notes = d.notes[notes:len(d.notes):len(d.notes)]
		case "requestReceivedTimestamp":
			b.RequestReceivedTimestamp, err = d.time()
		case "stageTimestamp":
			b.StageTimestamp, err = d.time()
		default:
			err = d.dec.SkipValue()
		}
		return err
	})
	if err == nil {
		if _, end := d.dec.ReadToken(); end == nil {
			err = errors.New("more after the event")
		}
	}
	if err != nil {
		var syntax *jsontext.SyntacticError
		if errors.As(err, &syntax) {
			return b, fmt.Errorf("%w: %v", errNotJSON, err)
		}
		return b, err
	}
	if !kind || !apiVersion || b.AuditID == "" || b.Stage == "" {
		return b, errors.New("not an audit.k8s.io/v1 Event (with kind, apiVersion, auditID and stage)")
	}
	return b, nil
}

// object reads an object, calling member for each name with the decoder
// at its value, which member must read.
func (d *briefDecoder) object(member func(name []byte) error) error {
	tok, err := d.dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("%v where an object belongs", tok.Kind())
	}
	for d.dec.PeekKind() != '}' {
		name, err := d.rawString()
		if err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
	}
	_, err = d.dec.ReadToken()
	return err
}

// rawString reads a string, unquoted; valid until the next read.
func (d *briefDecoder) rawString() ([]byte, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if v.Kind() != '"' {
		return nil, fmt.Errorf("%s where a string belongs", v.Kind())
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	d.scratch, err = jsontext.AppendUnquote(d.scratch[:0], v)
	return d.scratch, err
}

// string reads a string (or null), shared with the same ones read before.
func (d *briefDecoder) string() (string, error) {
	if d.dec.PeekKind() == 'n' {
		return "", d.dec.SkipValue()
	}
	v, err := d.rawString()
	if err != nil {
		return "", err
	}
	if s, ok := d.interned[string(v)]; ok {
		return s, nil
	}
	if len(d.interned) >= maxInterned {
		clear(d.interned)
	}
	s := string(v)
	d.interned[s] = s
	return s, nil
}

func (d *briefDecoder) user(u *briefUser) error {
	return d.object(func(name []byte) error {
		switch string(name) {
		case "username":
			var err error
			u.Username, err = d.string()
			return err
		case "groups":
			// A user's groups come as a whole: shared as one.
			v, err := d.dec.ReadValue()
			if err != nil {
				return err
			}
			if g, ok := d.groups[string(v)]; ok {
				u.Groups = g
				return nil
			}
			key := string(v)
			var g []string
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("user.groups: %w", err)
			}
			if len(d.groups) >= maxInterned {
				clear(d.groups)
			}
			d.groups[key] = g
			u.Groups = g
			return nil
		}
		return d.dec.SkipValue()
	})
}

// time reads a timestamp as metav1.MicroTime does (RFC 3339 to the
// microsecond, or null), the form in UTC the library writes first.
func (d *briefDecoder) time() (time.Time, error) {
	if d.dec.PeekKind() == 'n' {
		return time.Time{}, d.dec.SkipValue()
	}
	v, err := d.rawString()
	if err != nil {
		return time.Time{}, err
	}
	if t, ok := parseUTCMicros(v); ok {
		return t, nil
	}
	return time.Parse(metav1.RFC3339Micro, string(v))
}

// parseUTCMicros parses 2026-12-03T10:00:00.123456Z, the form of every
// audit timestamp, without time.Parse's generality.
func parseUTCMicros(v []byte) (time.Time, bool) {
	if len(v) != 27 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[19] != '.' || v[26] != 'Z' {
		return time.Time{}, false
	}
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day, hour, minute, sec, micros := num(v[0:4]), num(v[5:7]), num(v[8:10]), num(v[11:13]), num(v[14:16]), num(v[17:19]), num(v[20:26])
	if year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 || micros < 0 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, micros*1000, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // February 30th is not a day
	}
	return t, true
}
