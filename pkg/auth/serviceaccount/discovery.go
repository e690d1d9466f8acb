package serviceaccount

import (
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"

	jose "gopkg.in/go-jose/go-jose.v2"
)

// The service-account issuer's OIDC discovery documents, kube's
// (pkg/serviceaccount/openidmetadata.go, pkg/routes/openidmetadata.go):
// with them a token can be verified outside the server.
const (
	OpenIDConfigPath = "/.well-known/openid-configuration"
	JWKSPath         = "/openid/v1/jwks"
	// maxAge is kube's for static keys.
	maxAge = 3600
)

// Discovery serves the two documents.
type Discovery struct {
	config, keyset []byte
}

// NewDiscovery describes issuer and keys; jwksURI defaults to
// https://externalAddress/openid/v1/jwks, as kube builds it.
func NewDiscovery(issuer, jwksURI, externalAddress string, keys []crypto.PublicKey) (*Discovery, error) {
	if jwksURI == "" {
		jwksURI = (&url.URL{Scheme: "https", Host: externalAddress, Path: JWKSPath}).String()
	}
	var set jose.JSONWebKeySet
	algs := map[string]bool{}
	for i, k := range keys {
		alg, err := algorithmFor(k)
		if err != nil {
			return nil, fmt.Errorf("error constructing JWK for key #%d: %v", i, err)
		}
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Algorithm: string(alg), Key: k, KeyID: kid, Use: "sig"})
		algs[string(alg)] = true
	}
	signingAlgs := make([]string, 0, len(algs))
	for a := range algs {
		signingAlgs = append(signingAlgs, a)
	}
	sort.Strings(signingAlgs)
	config, err := json.Marshal(struct {
		Issuer        string   `json:"issuer"`
		JWKSURI       string   `json:"jwks_uri"`
		ResponseTypes []string `json:"response_types_supported"`
		SubjectTypes  []string `json:"subject_types_supported"`
		SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
	}{issuer, jwksURI, []string{"id_token"}, []string{"public"}, signingAlgs})
	if err != nil {
		return nil, err
	}
	keyset, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return &Discovery{config: config, keyset: keyset}, nil
}

// Install adds the two paths to mux.
func (d *Discovery) Install(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle(OpenIDConfigPath, serve(d.config, "application/json"))
	mux.Handle(JWKSPath, serve(d.keyset, "application/jwk-set+json"))
}

func serve(body []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
		_, _ = w.Write(body)
	})
}
