package sesv2_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sesame-email/sesame/internal/apitest"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
)

func newsTopics() []types.Topic {
	return []types.Topic{
		{TopicName: aws.String("news"), DisplayName: aws.String("News"), Description: aws.String("weekly"), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn},
		{TopicName: aws.String("deals"), DisplayName: aws.String("Deals"), DefaultSubscriptionStatus: types.SubscriptionStatusOptOut},
	}
}

// TestContactLists: every contact list and contact operation through the
// SDK, their errors, TopicDefaultPreferences, filters, paging, tags,
// account isolation and deleting a list with its contacts.
func TestContactLists(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		env := apitest.New(t, d)
		ctx := t.Context()
		c := env.V2
		list := aws.String("members")
		if _, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: list, Topics: newsTopics(), Description: aws.String("our members"),
			Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("growth")}}}); err != nil {
			t.Fatal(err)
		}
		gl, err := c.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: list})
		if err != nil {
			t.Fatal(err)
		}
		if *gl.ContactListName != "members" || len(gl.Topics) != 2 || *gl.Topics[0].TopicName != "news" || gl.Topics[1].DefaultSubscriptionStatus != types.SubscriptionStatusOptOut ||
			*gl.Description != "our members" || len(gl.Tags) != 1 || *gl.Tags[0].Value != "growth" || gl.CreatedTimestamp == nil || gl.LastUpdatedTimestamp == nil {
			t.Errorf("GetContactList = %+v", gl)
		}

		// The errors, each with its code and the field it names.
		for _, tc := range []struct {
			name, code, msg string
			call            func() error
		}{
			{"second list", "LimitExceededException", "at most 1", func() error {
				_, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("other")})
				return err
			}},
			{"same name", "AlreadyExistsException", "members", func() error {
				_, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: list})
				return err
			}},
			{"bad name", "BadRequestException", "ContactListName", func() error {
				_, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String("a b")})
				return err
			}},
			{"bad default", "BadRequestException", "Topics[0].DefaultSubscriptionStatus", func() error {
				_, err := c.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: list, Topics: []types.Topic{{TopicName: aws.String("x"), DisplayName: aws.String("X"), DefaultSubscriptionStatus: "MAYBE"}}})
				return err
			}},
			{"21 topics", "BadRequestException", "at most 20", func() error {
				var ts []types.Topic
				for i := range 21 {
					ts = append(ts, types.Topic{TopicName: aws.String(fmt.Sprint("t", i)), DisplayName: aws.String("T"), DefaultSubscriptionStatus: types.SubscriptionStatusOptIn})
				}
				_, err := c.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: list, Topics: ts})
				return err
			}},
			{"unknown list", "NotFoundException", "nope", func() error {
				_, err := c.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: aws.String("nope")})
				return err
			}},
			{"contact of unknown list", "NotFoundException", "", func() error {
				_, err := c.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: aws.String("nope"), EmailAddress: aws.String("a@example.test")})
				return err
			}},
			{"bad address", "BadRequestException", "EmailAddress", func() error {
				_, err := c.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("not an address")})
				return err
			}},
			{"unknown topic", "BadRequestException", "TopicPreferences[0].TopicName", func() error {
				_, err := c.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("a@example.test"),
					TopicPreferences: []types.TopicPreference{{TopicName: aws.String("sports"), SubscriptionStatus: types.SubscriptionStatusOptIn}}})
				return err
			}},
			{"attributes not JSON", "BadRequestException", "AttributesData", func() error {
				_, err := c.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("a@example.test"), AttributesData: aws.String("{")})
				return err
			}},
			{"unknown contact", "NotFoundException", "", func() error {
				_, err := c.GetContact(ctx, &sesv2.GetContactInput{ContactListName: list, EmailAddress: aws.String("nobody@example.test")})
				return err
			}},
			{"page size", "BadRequestException", "PageSize", func() error {
				_, err := c.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: list, PageSize: aws.Int32(1001)})
				return err
			}},
			{"bad token", "BadRequestException", "NextToken", func() error {
				_, err := c.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: list, NextToken: aws.String("garbage")})
				return err
			}},
			{"filter topic", "BadRequestException", "Filter.TopicFilter.TopicName", func() error {
				_, err := c.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: list, Filter: &types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptIn,
					TopicFilter: &types.TopicFilter{TopicName: aws.String("sports")}}})
				return err
			}},
		} {
			err := tc.call()
			if apitest.Code(err) != tc.code || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Errorf("%s: got %v, want %s mentioning %q", tc.name, err, tc.code, tc.msg)
			}
		}

		// A contact with no preferences has every topic's default.
		if _, err := c.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("Ann@Example.test"), AttributesData: aws.String(`{"name":"Ann"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateContact(ctx, &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String("ann@example.TEST")}); apitest.Code(err) != "AlreadyExistsException" {
			t.Errorf("same address in another case: %v", err)
		}
		gc, err := c.GetContact(ctx, &sesv2.GetContactInput{ContactListName: list, EmailAddress: aws.String("ann@example.test")})
		if err != nil {
			t.Fatal(err)
		}
		if *gc.EmailAddress != "Ann@Example.test" || len(gc.TopicPreferences) != 0 || len(gc.TopicDefaultPreferences) != 2 ||
			*gc.TopicDefaultPreferences[0].TopicName != "news" || gc.TopicDefaultPreferences[0].SubscriptionStatus != types.SubscriptionStatusOptIn ||
			gc.TopicDefaultPreferences[1].SubscriptionStatus != types.SubscriptionStatusOptOut || *gc.AttributesData != `{"name":"Ann"}` || gc.UnsubscribeAll {
			t.Errorf("GetContact = %+v", gc)
		}
		// An explicit preference replaces that topic's default.
		if _, err := c.UpdateContact(ctx, &sesv2.UpdateContactInput{ContactListName: list, EmailAddress: aws.String("ann@example.test"),
			TopicPreferences: []types.TopicPreference{{TopicName: aws.String("deals"), SubscriptionStatus: types.SubscriptionStatusOptIn}}}); err != nil {
			t.Fatal(err)
		}
		gc, err = c.GetContact(ctx, &sesv2.GetContactInput{ContactListName: list, EmailAddress: aws.String("ann@example.test")})
		if err != nil {
			t.Fatal(err)
		}
		if len(gc.TopicPreferences) != 1 || *gc.TopicPreferences[0].TopicName != "deals" || len(gc.TopicDefaultPreferences) != 1 ||
			*gc.TopicDefaultPreferences[0].TopicName != "news" || *gc.AttributesData != `{"name":"Ann"}` {
			t.Errorf("GetContact after update = %+v", gc)
		}

		// 25 more contacts: every third opted out of news, every fifth
		// unsubscribed from all.
		for i := range 25 {
			in := &sesv2.CreateContactInput{ContactListName: list, EmailAddress: aws.String(fmt.Sprintf("u%02d@example.test", i)), UnsubscribeAll: i%5 == 0}
			if i%3 == 0 {
				in.TopicPreferences = []types.TopicPreference{{TopicName: aws.String("news"), SubscriptionStatus: types.SubscriptionStatusOptOut}}
			}
			if _, err := c.CreateContact(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		listAll := func(f *types.ListContactsFilter, size int32) []string {
			t.Helper()
			var out []string
			var tok *string
			for pages := 0; ; pages++ {
				o, err := c.ListContacts(ctx, &sesv2.ListContactsInput{ContactListName: list, Filter: f, PageSize: aws.Int32(size), NextToken: tok})
				if err != nil {
					t.Fatal(err)
				}
				if len(o.Contacts) > int(size) {
					t.Fatalf("page of %d > %d", len(o.Contacts), size)
				}
				for _, ct := range o.Contacts {
					out = append(out, *ct.EmailAddress)
					if ct.LastUpdatedTimestamp == nil || len(ct.TopicPreferences)+len(ct.TopicDefaultPreferences) != 2 {
						t.Errorf("contact %+v", ct)
					}
				}
				if o.NextToken == nil {
					return out
				}
				tok = o.NextToken
			}
		}
		want := func(pred func(i int) bool, ann bool) []string {
			var out []string
			if ann {
				out = append(out, "Ann@Example.test")
			}
			for i := range 25 {
				if pred(i) {
					out = append(out, fmt.Sprintf("u%02d@example.test", i))
				}
			}
			return out
		}
		check := func(name string, got, want []string) {
			t.Helper()
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s:\n got %v\nwant %v", name, got, want)
			}
		}
		check("all, pages of 4", listAll(nil, 4), want(func(int) bool { return true }, true))
		check("OPT_OUT (unsubscribed from all)", listAll(&types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptOut}, 3), want(func(i int) bool { return i%5 == 0 }, false))
		check("news OPT_IN, explicit only", listAll(&types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptIn,
			TopicFilter: &types.TopicFilter{TopicName: aws.String("news")}}, 5), nil)
		check("news OPT_IN with defaults", listAll(&types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptIn,
			TopicFilter: &types.TopicFilter{TopicName: aws.String("news"), UseDefaultIfPreferenceUnavailable: true}}, 5), want(func(i int) bool { return i%3 != 0 && i%5 != 0 }, true))
		check("news OPT_OUT", listAll(&types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptOut,
			TopicFilter: &types.TopicFilter{TopicName: aws.String("news")}}, 2), want(func(i int) bool { return i%3 == 0 || i%5 == 0 }, false))
		check("deals OPT_OUT with defaults", listAll(&types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptOut,
			TopicFilter: &types.TopicFilter{TopicName: aws.String("deals"), UseDefaultIfPreferenceUnavailable: true}}, 7), want(func(int) bool { return true }, false))
		check("deals OPT_IN", listAll(&types.ListContactsFilter{FilteredStatus: types.SubscriptionStatusOptIn,
			TopicFilter: &types.TopicFilter{TopicName: aws.String("deals")}}, 7), want(func(int) bool { return false }, true))

		// MayReceive, the send path's question, agrees.
		for _, tc := range []struct {
			topic, address string
			want           bool
		}{
			{"news", "ann@example.test", true}, {"deals", "ANN@example.test", true}, {"news", "u03@example.test", false},
			{"news", "u01@example.test", true}, {"deals", "u01@example.test", false}, {"", "u05@example.test", false},
			{"", "u01@example.test", true}, {"deals", "stranger@example.test", true},
		} {
			got, err := env.Contacts.MayReceive(ctx, env.Account.ID, "members", tc.topic, tc.address)
			if err != nil || got != tc.want {
				t.Errorf("MayReceive(%q, %q) = %v, %v; want %v", tc.topic, tc.address, got, err, tc.want)
			}
		}
		if _, err := env.Contacts.MayReceive(ctx, env.Account.ID, "members", "sports", "a@example.test"); err == nil {
			t.Error("MayReceive of an unknown topic: no error")
		}

		// Removing a topic drops the preferences for it.
		if _, err := c.UpdateContactList(ctx, &sesv2.UpdateContactListInput{ContactListName: list, Topics: newsTopics()[1:]}); err != nil {
			t.Fatal(err)
		}
		gc, err = c.GetContact(ctx, &sesv2.GetContactInput{ContactListName: list, EmailAddress: aws.String("u03@example.test")})
		if err != nil || len(gc.TopicPreferences) != 0 || len(gc.TopicDefaultPreferences) != 1 {
			t.Errorf("after removing news: %+v, %v", gc, err)
		}
		gl, err = c.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: list})
		if err != nil || *gl.Description != "our members" || len(gl.Topics) != 1 {
			t.Errorf("UpdateContactList kept %+v, %v", gl, err)
		}

		// Tags through the tag operations.
		arn := aws.String("arn:aws:ses:" + apitest.Region + ":" + env.Account.ID + ":contact-list/members")
		if _, err := c.TagResource(ctx, &sesv2.TagResourceInput{ResourceArn: arn, Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("gold")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &sesv2.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"team"}}); err != nil {
			t.Fatal(err)
		}
		lt, err := c.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: arn})
		if err != nil || len(lt.Tags) != 1 || *lt.Tags[0].Key != "tier" {
			t.Errorf("ListTagsForResource = %+v, %v", lt, err)
		}

		// Another account sees none of it, and may have its own list of
		// the same name.
		_, _, c2 := env.Other(t, "other")
		if _, err := c2.GetContactList(ctx, &sesv2.GetContactListInput{ContactListName: list}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account GetContactList: %v", err)
		}
		if _, err := c2.GetContact(ctx, &sesv2.GetContactInput{ContactListName: list, EmailAddress: aws.String("ann@example.test")}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account GetContact: %v", err)
		}
		if _, err := c2.DeleteContactList(ctx, &sesv2.DeleteContactListInput{ContactListName: list}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account DeleteContactList: %v", err)
		}
		if _, err := c2.ListTagsForResource(ctx, &sesv2.ListTagsForResourceInput{ResourceArn: arn}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("other account ListTagsForResource: %v", err)
		}
		if ls, err := c2.ListContactLists(ctx, &sesv2.ListContactListsInput{}); err != nil || len(ls.ContactLists) != 0 {
			t.Errorf("other account ListContactLists = %+v, %v", ls, err)
		}
		if _, err := c2.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: list}); err != nil {
			t.Errorf("other account's own list: %v", err)
		}
		if ls, err := c.ListContactLists(ctx, &sesv2.ListContactListsInput{}); err != nil || len(ls.ContactLists) != 1 || *ls.ContactLists[0].ContactListName != "members" {
			t.Errorf("ListContactLists = %+v, %v", ls, err)
		}

		// Paging over lists (the limit raised to have several).
		env.Contacts.SetListLimit(10)
		for i := range 4 {
			if _, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: aws.String(fmt.Sprint("l", i))}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		var tok *string
		for {
			o, err := c.ListContactLists(ctx, &sesv2.ListContactListsInput{PageSize: aws.Int32(2), NextToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range o.ContactLists {
				names = append(names, *l.ContactListName)
			}
			if tok = o.NextToken; tok == nil {
				break
			}
		}
		check("list names", names, []string{"l0", "l1", "l2", "l3", "members"})

		// DeleteContact, then DeleteContactList takes the contacts with it.
		if _, err := c.DeleteContact(ctx, &sesv2.DeleteContactInput{ContactListName: list, EmailAddress: aws.String("u01@example.test")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteContact(ctx, &sesv2.DeleteContactInput{ContactListName: list, EmailAddress: aws.String("u01@example.test")}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("second DeleteContact: %v", err)
		}
		if _, err := c.DeleteContactList(ctx, &sesv2.DeleteContactListInput{ContactListName: list}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := d.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM contacts WHERE account_id = ?) + (SELECT COUNT(*) FROM contact_topics WHERE account_id = ?)`, env.Account.ID, env.Account.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("after DeleteContactList: %d contact rows left, %v", n, err)
		}
		if _, err := c.CreateContactList(ctx, &sesv2.CreateContactListInput{ContactListName: list}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetContact(ctx, &sesv2.GetContactInput{ContactListName: list, EmailAddress: aws.String("ann@example.test")}); apitest.Code(err) != "NotFoundException" {
			t.Errorf("a contact outlived its list: %v", err)
		}
	})
}
