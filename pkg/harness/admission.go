package harness

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/mini-apiserver/mini-apiserver/pkg/pki"
)

// AdmissionWebhook is an HTTPS server for a test's admission webhooks, on
// loopback with a CA of its own, as a webhook of a real cluster is: register
// it with ClientConfig. envtest does the same with its
// WebhookInstallOptions; here the test keeps its handler in process.
type AdmissionWebhook struct {
	server *httptest.Server
	// CABundle is the PEM CA that signed the server's certificate, what a
	// webhook configuration's clientConfig.caBundle carries.
	CABundle []byte
}

// StartAdmissionWebhook serves h over HTTPS on 127.0.0.1 with a certificate
// for 127.0.0.1 and localhost. Close stops it.
func StartAdmissionWebhook(h http.Handler) (*AdmissionWebhook, error) {
	ca, serving, err := newServing("admission-webhook", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	cert, err := serving.TLSCertificate()
	if err != nil {
		return nil, err
	}
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s.StartTLS()
	return &AdmissionWebhook{server: s, CABundle: ca.CertPEM}, nil
}

// URL is the server's base URL, https://127.0.0.1:PORT.
func (w *AdmissionWebhook) URL() string { return w.server.URL }

// ClientConfig is how a webhook configuration reaches path on this server.
func (w *AdmissionWebhook) ClientConfig(path string) admissionregistrationv1.WebhookClientConfig {
	url := w.server.URL + path
	return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: w.CABundle}
}

// Close stops the server.
func (w *AdmissionWebhook) Close() { w.server.Close() }

// AdmissionReviewHandler answers AdmissionReviews, v1 or v1beta1 (the two
// have the same fields), with review's response to each request, in the
// version asked in; the response's uid is set to the request's.
func AdmissionReviewHandler(review func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var in admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			http.Error(w, fmt.Sprintf("not an AdmissionReview: %v", err), http.StatusBadRequest)
			return
		}
		resp := review(in.Request)
		resp.UID = in.Request.UID
		out := admissionv1.AdmissionReview{TypeMeta: in.TypeMeta, Response: resp}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// newServing makes a CA named after name and a serving certificate it
// signs for host (an IP or a DNS name) and localhost: how the harness's
// receivers and a test's webhook server are reached on loopback.
func newServing(name, host string) (ca, serving *pki.KeyPair, err error) {
	if ca, err = pki.NewCA(name + "-ca"); err != nil {
		return nil, nil, err
	}
	names, ips := []string{"localhost"}, []net.IP(nil)
	if ip := net.ParseIP(host); ip != nil {
		ips = append(ips, ip)
	} else if host != "localhost" {
		names = append(names, host)
	}
	serving, err = pki.NewSigned(ca, pki.ServingTemplate(name, names, ips))
	return ca, serving, err
}
