// Package audit is the home of mini-apiserver's tools around the audit
// pipeline. The pipeline itself (policy evaluation, the handler-chain
// filter, the log and webhook backends, batching, truncation, metrics) is
// k8s.io/apiserver's, wired in pkg/server through the library's
// AuditOptions. One piece here runs inside it: logfile, the file the
// library's log backend writes to; the rest are tools around it.
//
// The tools, one package each:
//
//	logfile    the --audit-log-path file, reopened when renamed, deleted or truncated
//	events     the one reader of audit JSON lines and webhook EventLists
//	expect     expected events and a matcher, for tests
//	logview    reading rotated and .gz logs in time order, following a log
//	policytool explaining which rule decides a request, linting a policy
//	auditctl   the auditctl command (explain, lint, view, verify, ship, console)
//	ship       the log files into a search store, resuming from a position file
//	consumer   the one interface the tools take events through, and JSON-lines writers
//	sink       a webhook receiver with fault injection (bin/audit-sink), handing deliveries to a consumer
//	esbulk     the Elasticsearch bulk API: documents, a client, a bounded retrying buffer (a consumer)
//	console    the live console in the browser, its store (a consumer) and page
//	dynamic    the dynamic backend: one webhook sink per AuditSink
package audit
