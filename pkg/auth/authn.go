package auth

import (
	"fmt"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// NewClientCertAuthenticator authenticates requests by client certificates
// signed by caPEM (CN = user, O = groups) and adds system:authenticated, as
// kube-apiserver's --client-ca-file authenticator does.
func NewClientCertAuthenticator(caPEM []byte) (authenticator.Request, dynamiccertificates.CAContentProvider, error) {
	ca, err := dynamiccertificates.NewStaticCAContent("client-ca", caPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("client CA: %w", err)
	}
	x509Auth := x509request.NewDynamic(ca.VerifyOptions, x509request.CommonNameUserConversion)
	return group.NewAuthenticatedGroupAdder(union.New(x509Auth)), ca, nil
}
