// Package serviceaccount issues and authenticates service-account tokens:
// the JWTs of the TokenRequest API, with kube's claims, signed as
// kube-apiserver signs them (written after k8s.io/kubernetes
// pkg/serviceaccount/claims.go and jwt.go, which are not a library), and
// the user a request made with one is: the library's ServiceAccountInfo.
package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	jose "gopkg.in/go-jose/go-jose.v2"
	"gopkg.in/go-jose/go-jose.v2/jwt"
	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	apiserverserviceaccount "k8s.io/apiserver/pkg/authentication/serviceaccount"
	tokenjwt "k8s.io/apiserver/pkg/authentication/token/jwt"
)

// kube's expiration constants (pkg/serviceaccount/claims.go).
const (
	// WarnOnlyBoundTokenExpirationSeconds is what kubelets request for a
	// pod's projected token; such a token is extended (see Extended).
	WarnOnlyBoundTokenExpirationSeconds = 60*60 + 7
	// ExpirationExtensionSeconds is how long an extended token lives.
	ExpirationExtensionSeconds = 24 * 365 * 60 * 60
)

// PrivateClaims are kube's `kubernetes.io` claim.
type PrivateClaims struct {
	Kubernetes Kubernetes `json:"kubernetes.io,omitempty"`
}

// Kubernetes is what the claim says of the service account and the
// object the token is bound to.
type Kubernetes struct {
	Namespace string           `json:"namespace,omitempty"`
	Svcacct   Ref              `json:"serviceaccount,omitempty"`
	Pod       *Ref             `json:"pod,omitempty"`
	Secret    *Ref             `json:"secret,omitempty"`
	Node      *Ref             `json:"node,omitempty"`
	WarnAfter *jwt.NumericDate `json:"warnafter,omitempty"`
}

// Ref names an object by name and uid.
type Ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// Claims are kube's claims of a token for sa, bound to pod (and then its
// node, by name: there are no Node objects here) or to secret.
func Claims(sa *corev1.ServiceAccount, pod *corev1.Pod, secret *corev1.Secret, expirationSeconds, warnAfter int64, audiences []string) (*jwt.Claims, *PrivateClaims) {
	now := time.Now()
	sc := &jwt.Claims{
		Subject:   apiserverserviceaccount.MakeUsername(sa.Namespace, sa.Name),
		Audience:  jwt.Audience(audiences),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(time.Duration(expirationSeconds) * time.Second)),
		ID:        uuid.NewString(),
	}
	pc := &PrivateClaims{Kubernetes: Kubernetes{Namespace: sa.Namespace, Svcacct: Ref{Name: sa.Name, UID: string(sa.UID)}}}
	switch {
	case pod != nil:
		pc.Kubernetes.Pod = &Ref{Name: pod.Name, UID: string(pod.UID)}
		if pod.Spec.NodeName != "" {
			pc.Kubernetes.Node = &Ref{Name: pod.Spec.NodeName}
		}
	case secret != nil:
		pc.Kubernetes.Secret = &Ref{Name: secret.Name, UID: string(secret.UID)}
	}
	if warnAfter != 0 {
		pc.Kubernetes.WarnAfter = jwt.NewNumericDate(now.Add(time.Duration(warnAfter) * time.Second))
	}
	return sc, pc
}

// Generator signs tokens for one issuer.
type Generator struct {
	issuer string
	signer jose.Signer
}

// NewGenerator signs with key (RSA: RS256, ECDSA: ES256/384/512), its
// key ID kube's: the base64url SHA-256 of the public key's DER.
func NewGenerator(issuer string, key crypto.Signer) (*Generator, error) {
	alg, err := signatureAlgorithm(key)
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Algorithm: string(alg), Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &Generator{issuer: issuer, signer: signer}, nil
}

// Generate signs the claims, with the generator's issuer.
func (g *Generator) Generate(sc *jwt.Claims, pc *PrivateClaims) (string, error) {
	sc.Issuer = g.issuer
	return jwt.Signed(g.signer).Claims(sc).Claims(pc).CompactSerialize()
}

func signatureAlgorithm(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	return algorithmFor(key.Public())
}

// algorithmFor is the JWS algorithm of a public key: RS256 for RSA, ES256,
// ES384 or ES512 for ECDSA by curve.
func algorithmFor(pub crypto.PublicKey) (jose.SignatureAlgorithm, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", pub.Curve.Params().Name)
	}
	return "", fmt.Errorf("unsupported key type %T: an RSA or ECDSA key is needed", pub)
}

// KeyID is kube's key ID of a public key.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := crypto.SHA256.New()
	sum.Write(der)
	return base64.RawURLEncoding.EncodeToString(sum.Sum(nil)), nil
}

// Getter reads what a token names; a NotFound error refuses the token.
type Getter interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// Authenticator authenticates the tokens of issuers signed by keys, as
// kube's jwtTokenAuthenticator with its validator.
type Authenticator struct {
	issuers      map[string]bool
	keys         map[string][]crypto.PublicKey
	all          []crypto.PublicKey
	implicitAuds authenticator.Audiences
	getter       Getter
}

// NewAuthenticator accepts tokens of issuers signed by one of keys, for
// implicitAuds (--api-audiences) when the request names none.
func NewAuthenticator(issuers []string, keys []crypto.PublicKey, implicitAuds authenticator.Audiences, getter Getter) (*Authenticator, error) {
	a := &Authenticator{issuers: map[string]bool{}, keys: map[string][]crypto.PublicKey{}, implicitAuds: implicitAuds, getter: getter}
	for _, iss := range issuers {
		a.issuers[iss] = true
	}
	for _, k := range keys {
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		a.keys[kid] = append(a.keys[kid], k)
		a.all = append(a.all, k)
	}
	return a, nil
}

var _ authenticator.Token = &Authenticator{}

// AuthenticateToken says nothing of a token that is not a JWT of one of
// its issuers (another authenticator may know it), and refuses one it
// cannot verify or whose service account or bound object is gone, with
// kube's messages.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if !a.hasIssuer(token) {
		return nil, false, nil
	}
	tok, err := jwt.ParseSigned(token)
	if err != nil {
		return nil, false, nil
	}
	var kid string
	for _, h := range tok.Headers {
		if h.KeyID != "" {
			kid = h.KeyID
			break
		}
	}
	keys := a.all
	if kid != "" {
		keys = a.keys[kid]
	}
	if len(keys) == 0 {
		return nil, false, errors.New("invalid signature, no keys found")
	}
	public, private := &jwt.Claims{}, &PrivateClaims{}
	var errs []error
	verified := false
	for _, k := range keys {
		if err := tok.Claims(k, public, private); err != nil {
			errs = append(errs, err)
			continue
		}
		verified = true
		break
	}
	if !verified {
		return nil, false, utilerrors.NewAggregate(errs)
	}
	if !a.issuers[public.Issuer] {
		return nil, false, fmt.Errorf("token issuer %q is invalid", public.Issuer)
	}
	tokenAuds := authenticator.Audiences(public.Audience)
	if len(tokenAuds) == 0 {
		audit.AddAuditAnnotation(ctx, "authentication.k8s.io/legacy-token", public.Subject)
		tokenAuds = a.implicitAuds
	}
	requested, ok := authenticator.AudiencesFrom(ctx)
	if !ok {
		requested = a.implicitAuds
	}
	auds := tokenAuds.Intersect(requested)
	if len(auds) == 0 && len(a.implicitAuds) != 0 {
		return nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", tokenAuds, requested)
	}
	info, err := a.validate(ctx, public, private)
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{User: info.UserInfo(), Audiences: auds}, true, nil
}

// hasIssuer reads the unverified payload's issuer, as kube does before it
// spends a signature check.
func (a *Authenticator) hasIssuer(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return false
	}
	return a.issuers[claims.Issuer]
}

// validate is kube's validator: times, then the service account and the
// bound object must exist with the uids the token names.
func (a *Authenticator) validate(ctx context.Context, public *jwt.Claims, private *PrivateClaims) (*apiserverserviceaccount.ServiceAccountInfo, error) {
	now := time.Now()
	switch err := public.Validate(jwt.Expected{Time: now}); err {
	case nil:
	case jwt.ErrExpired:
		return nil, errors.New("service account token has expired")
	case jwt.ErrNotValidYet:
		return nil, errors.New("service account token is not valid yet")
	case jwt.ErrIssuedInTheFuture:
		return nil, errors.New("service account token is issued in the future")
	case jwt.ErrInvalidAudience, jwt.ErrInvalidID, jwt.ErrInvalidIssuer, jwt.ErrInvalidSubject:
		return nil, fmt.Errorf("service account token claims could not be validated: %w", err)
	default:
		return nil, errors.New("service account token claims could not be validated due to unexpected validation error")
	}
	deletedBefore := now.Add(-jwt.DefaultLeeway)
	k := private.Kubernetes
	sa, err := a.getter.ServiceAccount(ctx, k.Namespace, k.Svcacct.Name)
	if err != nil {
		return nil, err
	}
	if string(sa.UID) != k.Svcacct.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.Svcacct.UID)
	}
	if sa.DeletionTimestamp != nil && sa.DeletionTimestamp.Time.Before(deletedBefore) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", k.Namespace, k.Svcacct.Name)
	}
	invalidated := errors.New("service account token has been invalidated")
	if ref := k.Secret; ref != nil {
		secret, err := a.getter.Secret(ctx, k.Namespace, ref.Name)
		if err != nil {
			return nil, invalidated
		}
		if ref.UID != string(secret.UID) {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", secret.UID, ref.UID)
		}
		if secret.DeletionTimestamp != nil && secret.DeletionTimestamp.Time.Before(deletedBefore) {
			return nil, invalidated
		}
	}
	info := &apiserverserviceaccount.ServiceAccountInfo{Namespace: k.Namespace, Name: k.Svcacct.Name, UID: k.Svcacct.UID,
		CredentialID: tokenjwt.CredentialIDForJTI(public.ID)}
	if ref := k.Pod; ref != nil {
		pod, err := a.getter.Pod(ctx, k.Namespace, ref.Name)
		if err != nil {
			return nil, invalidated
		}
		if ref.UID != string(pod.UID) {
			return nil, fmt.Errorf("pod UID (%s) does not match service account pod ref claim (%s)", pod.UID, ref.UID)
		}
		if pod.DeletionTimestamp != nil && pod.DeletionTimestamp.Time.Before(deletedBefore) {
			return nil, invalidated
		}
		info.PodName, info.PodUID = ref.Name, ref.UID
		if k.Node != nil {
			info.NodeName, info.NodeUID = k.Node.Name, k.Node.UID
		}
	}
	return info, nil
}
