package identity

import (
	"fmt"
	"time"
)

// Status is the state of one of an identity's checks (verification, DKIM,
// custom MAIL FROM), in SES v1 spelling; the v2 API upper-cases it.
type Status string

// The statuses SES uses.
const (
	Pending          Status = "Pending"
	Success          Status = "Success"
	Failed           Status = "Failed"
	TemporaryFailure Status = "TemporaryFailure"
	NotStarted       Status = "NotStarted"
)

// V2 returns the SES v2 spelling: PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE, NOT_STARTED.
func (s Status) V2() string {
	switch s {
	case Pending:
		return "PENDING"
	case Success:
		return "SUCCESS"
	case Failed:
		return "FAILED"
	case TemporaryFailure:
		return "TEMPORARY_FAILURE"
	case NotStarted:
		return "NOT_STARTED"
	}
	return ""
}

// Observation is what one DNS check found about a record set. The zero
// value, NoEvidence, is what a failed lookup (timeout, SERVFAIL) yields:
// it never moves a state.
type Observation int

// The observations.
const (
	NoEvidence Observation = iota // the lookup failed or was not made
	Absent                        // the records are definitely not (correctly) there
	Present                       // the records are there and qualify
)

func (o Observation) String() string {
	switch o {
	case Absent:
		return "absent"
	case Present:
		return "present"
	}
	return "no evidence"
}

// Step is the state machine shared by verification, DKIM and custom MAIL
// FROM (DESIGN.md, "The custom MAIL FROM rules"):
//
//   - Pending → Success when the records are found; Pending for window
//     (and still definitely absent) → Failed.
//   - Success is re-checked; records gone or wrong → TemporaryFailure.
//   - TemporaryFailure → Success when found again; window elapsed (and still
//     absent) → Failed.
//   - Failed and NotStarted are final until the customer starts again.
//   - NoEvidence never moves a state: a lookup that failed is retried.
//
// since is when the current status began. Step returns the next status, a
// reason when it changed, and whether it changed.
func Step(cur Status, since time.Time, obs Observation, detail string, now time.Time, window time.Duration) (Status, string, bool) {
	if obs == NoEvidence {
		return cur, "", false
	}
	switch cur {
	case Pending:
		if obs == Present {
			return Success, detail, true
		}
		if now.Sub(since) >= window {
			return Failed, fmt.Sprintf("not found within %s: %s", window, detail), true
		}
	case Success:
		if obs == Absent {
			return TemporaryFailure, detail, true
		}
	case TemporaryFailure:
		if obs == Present {
			return Success, detail, true
		}
		if now.Sub(since) >= window {
			return Failed, fmt.Sprintf("not restored within %s: %s", window, detail), true
		}
	}
	return cur, "", false
}
