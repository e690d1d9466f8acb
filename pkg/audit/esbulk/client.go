// Package esbulk sends audit events to a search store with the
// Elasticsearch bulk API (POST BASE/_bulk, NDJSON), which Elasticsearch,
// OpenSearch and VictoriaLogs accept. Each event is one document: the
// event as JSON plus "@timestamp" (its stageTimestamp), created with the id
// "<auditID>/<stage>" so a store that honours ids never keeps a duplicate.
//
// Client sends one bulk request and sorts its items into done, to retry
// and rejected; Buffer (buffer.go) is the bounded, batching, retrying
// sender audit-sink forwards with.
package esbulk

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// DefaultIndex is the index documents go to unless told otherwise.
const DefaultIndex = "kubernetes-audit"

// Doc is one document of a bulk request.
type Doc struct {
	ID   string
	Body []byte
}

// NewDoc makes the document of an audit event. server, when set, is the API
// server that wrote it, as the document's host.name (Elastic's common
// schema, what Filebeat adds): kube's events do not say which server of a
// control plane wrote them.
func NewDoc(e *auditv1.Event, server string) (Doc, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return Doc{}, err
	}
	// The event is a JSON object: add "@timestamp" (and "host") as its first
	// fields.
	ts := e.StageTimestamp.UTC().Format(time.RFC3339Nano)
	head := `{"@timestamp":"` + ts + `",`
	if server != "" {
		name, err := json.Marshal(server)
		if err != nil {
			return Doc{}, err
		}
		head += `"host":{"name":` + string(name) + `},`
	}
	body = append([]byte(head), body[1:]...)
	return Doc{ID: string(e.AuditID) + "/" + string(e.Stage), Body: body}, nil
}

// ClientOptions say where and how to send.
type ClientOptions struct {
	// URL is the base the bulk API is under: BASE/_bulk.
	URL   string
	Index string
	// Username and Password (basic auth) or APIKey ("Authorization: ApiKey").
	Username, Password, APIKey string
	// TLS for https URLs (nil: the system's roots).
	TLS     *tls.Config
	Timeout time.Duration
}

// Client sends bulk requests.
type Client struct {
	opts    ClientOptions
	bulkURL string
	http    *http.Client
}

// NewClient checks opts and returns a client.
func NewClient(opts ClientOptions) (*Client, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("elasticsearch URL %q: want http(s)://host[:port][/path][?query]", opts.URL)
	}
	// The bulk API is BASE/_bulk; a query (VictoriaLogs' _time_field, say)
	// stays a query.
	u.Path = strings.TrimSuffix(u.Path, "/") + "/_bulk"
	if opts.APIKey != "" && opts.Username != "" {
		return nil, fmt.Errorf("elasticsearch: give an API key or a user name, not both")
	}
	if opts.Index == "" {
		opts.Index = DefaultIndex
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = opts.TLS
	return &Client{opts: opts, bulkURL: u.String(), http: &http.Client{Transport: tr, Timeout: opts.Timeout}}, nil
}

// Result sorts the documents of one bulk request.
type Result struct {
	// Done were stored (or were there already: a create of an existing id).
	Done int
	// Retry failed in a way a later attempt may fix (429, 5xx, the whole
	// request failing).
	Retry []Doc
	// Rejected failed for good (a mapping error, 400); Reason says why, of
	// the first.
	Rejected []Doc
	Reason   string
}

// Bulk sends docs in one request. An error means nothing is known to be
// stored: every doc is in Retry.
func (c *Client) Bulk(ctx context.Context, docs []Doc) (Result, error) {
	var body bytes.Buffer
	for _, d := range docs {
		meta, _ := json.Marshal(map[string]map[string]string{"create": {"_index": c.opts.Index, "_id": d.ID}})
		body.Write(meta)
		body.WriteByte('\n')
		body.Write(d.Body)
		body.WriteByte('\n')
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.bulkURL, &body)
	if err != nil {
		return Result{Retry: docs}, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	switch {
	case c.opts.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+c.opts.APIKey)
	case c.opts.Username != "":
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Retry: docs}, fmt.Errorf("bulk request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Result{Retry: docs}, fmt.Errorf("bulk response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		res := Result{Retry: docs}
		if !retryable(resp.StatusCode) {
			res = Result{Rejected: docs, Reason: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, snippet(raw))}
			return res, nil
		}
		return res, fmt.Errorf("bulk request: HTTP %d: %s", resp.StatusCode, snippet(raw))
	}
	return sortItems(docs, raw)
}

// bulkResponse is the part of the bulk API's answer read here.
type bulkResponse struct {
	Errors bool                         `json:"errors"`
	Items  []map[string]json.RawMessage `json:"items"`
}

type bulkItem struct {
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

func sortItems(docs []Doc, raw []byte) (Result, error) {
	var r bulkResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return Result{Retry: docs}, fmt.Errorf("bulk response is not JSON: %w: %s", err, snippet(raw))
	}
	if !r.Errors {
		return Result{Done: len(docs)}, nil
	}
	if len(r.Items) != len(docs) {
		return Result{Retry: docs}, fmt.Errorf("bulk response has %d items for %d documents", len(r.Items), len(docs))
	}
	var res Result
	for i, item := range r.Items {
		var it bulkItem
		for _, v := range item { // one key: the action
			_ = json.Unmarshal(v, &it)
		}
		switch {
		case it.Status < 300 || it.Status == http.StatusConflict: // 409: the id is stored already
			res.Done++
		case retryable(it.Status):
			res.Retry = append(res.Retry, docs[i])
		default:
			if res.Reason == "" {
				res.Reason = fmt.Sprintf("status %d: %s", it.Status, snippet(it.Error))
			}
			res.Rejected = append(res.Rejected, docs[i])
		}
	}
	return res, nil
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
