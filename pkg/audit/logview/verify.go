package logview

import (
	"fmt"
	"sort"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// VerifyReport lists what is wrong with a set of audit logs.
type VerifyReport struct {
	Events   int
	Problems []Problem
}

// OK is true when nothing is wrong.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Verify checks events read from a set of log files: every line parses
// (problems from reading are included); every audit ID with a
// RequestReceived event has its ResponseComplete or Panic, unless it is a
// long-running request still streaming (its ResponseStarted is there: a
// live server's controllers keep watches open); every completed watch has
// its ResponseStarted, unless the policy omits that stage.
func Verify(events []Located, readProblems []Problem, omitted []auditv1.Stage) VerifyReport {
	report := VerifyReport{Events: len(events), Problems: append([]Problem(nil), readProblems...)}
	omits := map[auditv1.Stage]bool{}
	for _, s := range omitted {
		omits[s] = true
	}
	type seen struct {
		first  Located
		stages map[auditv1.Stage]int
	}
	byID := map[string]*seen{}
	var order []string
	for _, e := range events {
		s := byID[string(e.AuditID)]
		if s == nil {
			s = &seen{first: e, stages: map[auditv1.Stage]int{}}
			byID[string(e.AuditID)] = s
			order = append(order, string(e.AuditID))
		}
		s.stages[e.Stage]++
	}
	for _, id := range order {
		s := byID[id]
		at := s.first
		for stage, n := range s.stages {
			if n > 1 {
				report.Problems = append(report.Problems, Problem{File: at.File, Line: at.Line,
					Message: fmt.Sprintf("audit ID %s: %d %s events (want one)", id, n, stage)})
			}
		}
		finished := s.stages[auditv1.StageResponseComplete] > 0 || s.stages[auditv1.StagePanic] > 0 || s.stages[auditv1.StageResponseStarted] > 0
		if s.stages[auditv1.StageRequestReceived] > 0 && !finished && !omits[auditv1.StageResponseComplete] {
			report.Problems = append(report.Problems, Problem{File: at.File, Line: at.Line,
				Message: fmt.Sprintf("audit ID %s (%s %s): RequestReceived without ResponseComplete or Panic", id, at.Verb, at.RequestURI)})
		}
		if at.Verb == "watch" && s.stages[auditv1.StageResponseComplete] > 0 && s.stages[auditv1.StageResponseStarted] == 0 &&
			!omits[auditv1.StageResponseStarted] {
			report.Problems = append(report.Problems, Problem{File: at.File, Line: at.Line,
				Message: fmt.Sprintf("audit ID %s (watch %s): ResponseComplete without ResponseStarted", id, at.RequestURI)})
		}
	}
	sort.SliceStable(report.Problems, func(i, j int) bool {
		if report.Problems[i].File != report.Problems[j].File {
			return report.Problems[i].File < report.Problems[j].File
		}
		return report.Problems[i].Line < report.Problems[j].Line
	})
	return report
}
