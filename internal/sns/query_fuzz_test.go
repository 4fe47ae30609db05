package sns

import (
	"maps"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzParams feeds untrusted Query strings to the parameter parsing: it
// never panics, never takes more than maxParams pairs, and what it
// accepts of an Attributes map, a Tags list or a MessageStructure message
// keeps its invariants and survives a round trip through encoding.
func FuzzParams(f *testing.F) {
	f.Add("Action=CreateTopic&Name=t&Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=x&Tags.member.1.Key=k&Tags.member.1.Value=v")
	f.Add("Attributes.entry.2.key=a&Attributes.entry.2.value=b&Attributes.entry.1.key=a&Attributes.entry.1.value=c")
	f.Add("Attributes.entry.01.key=a&Attributes.entry.01.value=b")
	f.Add("Attributes.entry.1.key=a")
	f.Add("TagKeys.member.1=a&TagKeys.member.3=b&TagKeys.member.1000=c&TagKeys.member.1001=d")
	f.Add("Message=%7B%22default%22%3A%22d%22%2C%22http%22%3A%22h%22%7D&MessageStructure=json")
	f.Add("Message=%7B%22default%22%3A1%7D")
	f.Add("%zz=1&a=%")
	f.Add("DeliveryPolicy=%7B%22healthyRetryPolicy%22%3A%7B%22minDelayTarget%22%3A5%2C%22numRetries%22%3A2%7D%7D")
	f.Add("DeliveryPolicy=%7B%22http%22%3A%7B%22defaultHealthyRetryPolicy%22%3A%7B%22maxDelayTarget%22%3A60%7D%7D%7D")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseParams(raw)
		if err != nil {
			return
		}
		if len(p) > maxParams {
			t.Fatalf("%d parameters", len(p))
		}
		if m, err := p.attributeMap("Attributes"); err == nil {
			for k := range m {
				if k == "" {
					t.Fatal("empty key accepted")
				}
			}
			// Encoding the map again gives the same map.
			v := url.Values{}
			i := 1
			for k, val := range m {
				v.Set("Attributes.entry."+strconv.Itoa(i)+".key", k)
				v.Set("Attributes.entry."+strconv.Itoa(i)+".value", val)
				i++
			}
			q, err := parseParams(v.Encode())
			if err != nil {
				t.Fatalf("re-encoded map does not parse: %v", err)
			}
			m2, err := q.attributeMap("Attributes")
			if err != nil || (len(m) > 0 || m2 != nil) && !maps.Equal(m, m2) {
				t.Fatalf("round trip: %v → %v (%v)", m, m2, err)
			}
		} else if !strings.HasPrefix(err.Error(), "Invalid parameter: Attributes") {
			t.Fatalf("error does not name the parameter: %v", err)
		}
		if tags, err := p.tags("Tags"); err == nil {
			seen := map[string]bool{}
			for _, tg := range tags {
				if seen[tg.Key] {
					t.Fatalf("duplicate tag key %q accepted", tg.Key)
				}
				seen[tg.Key] = true
			}
		} else if !strings.HasPrefix(err.Error(), "Invalid parameter: Tags") {
			t.Fatalf("error does not name the parameter: %v", err)
		}
		if _, err := p.list("TagKeys"); err != nil && !strings.HasPrefix(err.Error(), "Invalid parameter: TagKeys") {
			t.Fatalf("error does not name the parameter: %v", err)
		}
		// Delivery policies: what is accepted yields a whole effective
		// policy within the limits.
		tp, errT := parseTopicPolicy(p["DeliveryPolicy"])
		sp, errS := parseSubPolicy(p["DeliveryPolicy"])
		if errT == nil || errS == nil {
			tj, sj := "", ""
			if errT == nil && tp != nil {
				tj = p["DeliveryPolicy"]
			}
			if errS == nil && sp != nil {
				sj = p["DeliveryPolicy"]
			}
			pp := effective(tj, sj).pushPolicy()
			if pp.MinDelay <= 0 || pp.MinDelay > pp.MaxDelay || pp.NumRetries < 0 || pp.NumRetries > 100 || pp.Backoff == "" {
				t.Fatalf("effective policy of %q: %+v", p["DeliveryPolicy"], pp)
			}
		}
		if m, err := parseStructure(p["Message"]); err == nil {
			if _, ok := m["default"]; !ok {
				t.Fatal("structure without default accepted")
			}
		}
	})
}
