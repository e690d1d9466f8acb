// Package consumer is the one narrow interface the audit tools take events
// through, as the library's backends have audit.Backend and audit.Union: the
// webhook receiver (pkg/audit/sink) hands every delivery to a Consumer; the
// JSON-lines writers here, the search-store buffer (esbulk.Buffer) and the
// console's store are consumers.
package consumer

import (
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Consumer takes the events of one delivery.
type Consumer interface {
	// Consume takes events, in order. An error means they were not all
	// taken: the receiver answers 503 so that the sender retries the
	// delivery.
	Consume(events []auditv1.Event) error
}

// Rejecter is a Consumer that also wants to know of a delivery that was not
// an audit EventList (the console shows it as a problem).
type Rejecter interface {
	Reject(err error)
}

// Union hands each delivery to every consumer in order and stops at the
// first error. A retried delivery reaches again the consumers before the
// one that failed, so put first those that may refuse (a full buffer).
func Union(consumers ...Consumer) Consumer {
	var u union
	for _, c := range consumers {
		if c != nil {
			u = append(u, c)
		}
	}
	return u
}

type union []Consumer

func (u union) Consume(events []auditv1.Event) error {
	for _, c := range u {
		if err := c.Consume(events); err != nil {
			return err
		}
	}
	return nil
}

func (u union) Reject(err error) {
	for _, c := range u {
		if r, ok := c.(Rejecter); ok {
			r.Reject(err)
		}
	}
}
