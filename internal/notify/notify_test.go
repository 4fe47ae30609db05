package notify

import (
	"testing"

	"github.com/sesame-email/sesame/internal/identity"
)

func TestDescribe(t *testing.T) {
	n := &Notifier{opts: Options{Region: "eu-west-1", ServiceDomain: "sesame.example.test"}}
	cases := []struct {
		t       identity.Transition
		subject string
	}{
		{identity.Transition{Identity: "example.test", Attribute: identity.AttrVerification, From: identity.Pending, To: identity.Success}, "Sesame Domain Verification SUCCESS for example.test in region EU-WEST-1"},
		{identity.Transition{Identity: "example.test", Attribute: identity.AttrVerification, From: identity.Pending, To: identity.Failed}, "Sesame Domain Verification FAILURE for example.test in region EU-WEST-1"},
		{identity.Transition{Identity: "example.test", Attribute: identity.AttrDKIM, From: identity.Success, To: identity.TemporaryFailure}, "DKIM setup FAILURE for example.test in region EU-WEST-1"},
		{identity.Transition{Identity: "example.test", Attribute: identity.AttrMailFrom, From: identity.Pending, To: identity.Success}, "Custom MAIL FROM domain setup SUCCESS for example.test in region EU-WEST-1"},
		{identity.Transition{Identity: "example.test", Attribute: identity.AttrMailFrom, From: identity.Success, To: identity.TemporaryFailure}, "Custom MAIL FROM domain for example.test in region EU-WEST-1 is now failing"},
		// Not worth a message: starts, removals, and an address its owner verified by following the link.
		{identity.Transition{Identity: "example.test", Attribute: identity.AttrVerification, From: identity.NotStarted, To: identity.Pending}, ""},
		{identity.Transition{Identity: "example.test", Attribute: identity.AttrMailFrom, From: identity.Success, To: ""}, ""},
		{identity.Transition{Identity: "a@example.test", Attribute: identity.AttrVerification, From: identity.Pending, To: identity.Success}, ""},
	}
	for _, c := range cases {
		subject, body := n.describe(c.t)
		if subject != c.subject || (subject != "" && body == "") {
			t.Errorf("describe(%+v) = %q; want %q", c.t, subject, c.subject)
		}
	}
}
