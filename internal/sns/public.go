package sns

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// The links in messages are unauthenticated, like SNS's: whoever holds a
// SubscribeURL's token may confirm (or restore) that subscription, and
// whoever holds an UnsubscribeURL may end the subscription it names, and
// no other: its token is bound to the subscription's ARN.

func requestID(w http.ResponseWriter) string {
	if id := w.Header().Get("x-amzn-RequestId"); id != "" {
		return id
	}
	id := sesapi.NewRequestID()
	w.Header().Set("x-amzn-RequestId", id)
	return id
}

func writeResult(w http.ResponseWriter, action, reqID, inner string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Write([]byte(`<` + action + `Response xmlns="` + Namespace + `">` + "\n" + inner +
		"  <ResponseMetadata>\n    <RequestId>" + reqID + "</RequestId>\n  </ResponseMetadata>\n</" + action + "Response>\n"))
}

func publicError(w http.ResponseWriter, reqID string, err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if !errors.As(err, &e) {
		e = errInternal
	}
	sesapi.WriteSNSError(w, reqID, e.api())
	return true
}

// serveConfirm is the SubscribeURL: GET with TopicArn and Token confirms
// the subscription and answers as ConfirmSubscription does.
func (s *Store) serveConfirm(w http.ResponseWriter, r *http.Request) {
	reqID := requestID(w)
	if r.Method != http.MethodGet { // a HEAD (a link preview) must change nothing
		w.Header().Set("Allow", "GET")
		publicError(w, reqID, apiError(http.StatusMethodNotAllowed, "InvalidAction", "The SubscribeURL takes GET requests"))
		return
	}
	q := r.URL.Query()
	topicARN, token := q.Get("TopicArn"), q.Get("Token")
	if token == "" {
		publicError(w, reqID, invalid("Invalid parameter: Token"))
		return
	}
	if p, ok := s.parseARN(topicARN); !ok || p.sub != "" {
		publicError(w, reqID, invalid("Invalid parameter: TopicArn"))
		return
	}
	arn, err := s.confirm(r.Context(), "", topicARN, token, false)
	if err != nil {
		if !publicError(w, reqID, err) {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			s.log.Error("sns: confirm", "err", err)
		}
		return
	}
	writeResult(w, "ConfirmSubscription", reqID, "  <ConfirmSubscriptionResult>\n    <SubscriptionArn>"+xmlEscape(arn)+"</SubscriptionArn>\n  </ConfirmSubscriptionResult>\n")
}

// serveUnsubscribe is the UnsubscribeURL: GET with SubscriptionArn and
// the subscription's token ends it and answers as Unsubscribe does. A
// subscription confirmed with AuthenticateOnUnsubscribe refuses it.
func (s *Store) serveUnsubscribe(w http.ResponseWriter, r *http.Request) {
	reqID := requestID(w)
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		publicError(w, reqID, apiError(http.StatusMethodNotAllowed, "InvalidAction", "The UnsubscribeURL takes GET requests"))
		return
	}
	q := r.URL.Query()
	arn := q.Get("SubscriptionArn")
	p, ok := s.parseARN(arn)
	if !ok || p.sub == "" {
		publicError(w, reqID, invalid("Invalid parameter: SubscriptionArn"))
		return
	}
	if !s.signer.validUnsubscribeToken(arn, q.Get("Token")) {
		publicError(w, reqID, apiError(http.StatusForbidden, "AuthorizationError", "Invalid token for subscription %s", arn))
		return
	}
	err := s.db.InTx(r.Context(), func(tx *db.Tx) error {
		u, err := getSub(r.Context(), tx, p.account, arn)
		if errors.Is(err, errSubNotFound) {
			return errSubNotFoundAP
		}
		if err != nil {
			return err
		}
		if u.Authenticated {
			return apiError(http.StatusForbidden, "AuthorizationError", "This subscription was confirmed with AuthenticateOnUnsubscribe: only its owner may unsubscribe it, with a signed Unsubscribe request")
		}
		return s.unsubscribe(r.Context(), tx, u)
	})
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			s.log.Error("sns: unsubscribe link", "err", err)
		}
		publicError(w, reqID, err)
		return
	}
	s.wake() // the UnsubscribeConfirmation
	writeResult(w, "Unsubscribe", reqID, "")
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
