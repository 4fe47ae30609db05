package event

import (
	"encoding/json"
	"maps"
	"testing"
	"time"
)

// FuzzSplice: for any event AppendRef would store referring to its
// message's mail object, splicing the stored row back (Read's splice, with
// the message's mail object in the form it is stored in: MailJSON's, or
// Mail's own encoding from before 0016) gives exactly the bytes
// MarshalJSON gives for the whole event. The inputs are hostile content
// for the cut and the merge: quotes, backslashes, "mail": and },"tags":
// in header values and the subject, tags of the same names as the
// message's or ses:* ones, empty tags, another configuration set.
func FuzzSplice(f *testing.F) {
	f.Add(`Re: "mail":{}`, `},"tags":{"x":["y"]}`, "campaign", "q1", TagOutgoingIP, "198.51.100.9", "cs1", "cs1", uint8(0), int64(1767322800123))
	f.Add(`</script><script>`, `a\"b\\`, TagConfigurationSet, "cs1", "campaign", "q2", "cs1", "cs1", uint8(1), int64(1))
	f.Add("caf\u00e9 \u2028 \U0001F600", "\x00\x1f", "", "", "", "", "", "", uint8(2), int64(-1))
	f.Add(`"mail":`, `"tags":`, "x", "", "x", "", "cs1", "", uint8(3), int64(0))
	f.Add("subject", "v", "a", "b", "a", "c", "cs1", "cs1", uint8(4), int64(1767322800999))
	f.Add("s", "v", "t", "v", TagConfigurationSet, "cs2", "cs1", "cs1", uint8(5), int64(42))
	f.Add("s", "v", "t", "\xff", TagOutgoingIP, "198.51.100.9", "cs1", "cs1", uint8(1), int64(42))
	f.Add("s", "v", "t", "\xff", TagOutgoingIP, "198.51.100.9", "cs1", "cs1", uint8(0), int64(42))
	f.Add("caf\xe9", "caf\xe9", "", "", "", "", "cs1", "cs1", uint8(1), int64(42))
	f.Add("s", "v", "t", "\xff", "", "", "cs1", "cs1", uint8(1), int64(42))
	f.Fuzz(func(t *testing.T, subject, header, tagName, tagValue, extraName, extraValue, cs, storedSet string, kind uint8, ms int64) {
		stored := Mail{
			Timestamp:        time.UnixMilli(ms).Add(time.Duration(kind) * 7 * time.Microsecond),
			MessageID:        "0100019b-test",
			Source:           `"Sender, \"Q\"" <s@example.test>`,
			SourceArn:        "arn:aws:ses:eu-west-1:123456789012:identity/example.test",
			SendingAccountID: "123456789012",
			Destination:      []string{"b@example.org"},
			Headers:          []Header{{Name: "Subject", Value: subject}, {Name: "X-Hostile", Value: header}},
			CommonHeaders:    CommonHeaders{Subject: subject, From: []string{header}},
		}
		if kind%3 == 0 {
			stored.Headers, stored.CommonHeaders = nil, CommonHeaders{}
		}
		if tagName != "" {
			stored.Tags = map[string][]string{tagName: {tagValue}}
			if tagValue == "" {
				stored.Tags[tagName] = nil
			}
		}
		if _, ok := stored.Tags[TagConfigurationSet]; ok {
			stored.Tags[TagConfigurationSet] = []string{storedSet}
		}
		wire, err := MailJSON(&stored, storedSet)
		if err != nil {
			t.Skip(err)
		}
		// The mail object the event is made from: what was given to
		// MailJSON (enqueue), or what DecodeMail returns (deliver,
		// feedback); the stored bytes in MailJSON's form or in Mail's own
		// encoding (a message queued before 0016).
		base, mailJSON := stored, wire
		switch kind % 3 {
		case 1:
			if base, err = DecodeMail(wire); err != nil {
				t.Fatal(err)
			}
		case 2:
			if mailJSON, err = json.Marshal(stored); err != nil {
				t.Skip(err)
			}
			if base, err = DecodeMail(mailJSON); err != nil {
				t.Fatal(err)
			}
		}
		e := &Event{Type: Delivery, AccountID: "123456789012", ConfigurationSet: cs, Mail: base,
			Delivery: &DeliveryDetails{Timestamp: time.UnixMilli(ms + 1000), Recipients: []string{"b@example.org"}, SMTPResponse: "250 " + header}}
		if kind%2 == 1 {
			e.Type, e.Delivery = RenderingFailure, nil
			e.Failure = &FailureDetails{ErrorMessage: `"mail":` + subject, TemplateName: header}
		}
		e.Mail.Tags = maps.Clone(base.Tags)
		if extraName != "" {
			SetTag(&e.Mail, extraName, extraValue)
		}
		want, err := e.MarshalJSON()
		if err != nil {
			return // not an event anything stores
		}
		payload, tags, ok, err := refRow(e, &base, storedSet)
		if err != nil {
			t.Fatalf("refRow: %v", err)
		}
		if !ok {
			return
		}
		got, err := splice(payload, mailJSON, tags, e.ConfigurationSet)
		if err != nil {
			t.Fatalf("splice: %v\npayload %s\nmail %s\ntags %s", err, payload, mailJSON, tags)
		}
		if string(got) != string(want) {
			t.Fatalf("spliced\n%s\nwant\n%s\n(mail %s, tags %s)", got, want, mailJSON, tags)
		}
	})
}
