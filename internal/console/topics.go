package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sesame-email/sesame/internal/sns"
)

// topicsData is the Topics page's.
type topicsData struct {
	Topics []sns.Topic
	Query  string // the filter: part of a name
	// The create form's values and errors.
	Name, DisplayName           string
	NameError, DisplayNameError string
	Error                       string // a limit reached
}

// everyPage returns the items of every page a paged listing gives,
// from the first (token "") to the last (next token "").
func everyPage[T any](page func(token string) ([]T, string, error)) ([]T, error) {
	var out []T
	token := ""
	for {
		items, next, err := page(token)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			return out, nil
		}
		token = next
	}
}

// topics returns the account's topics whose names contain the q filter.
func (c *Console) topics(r *http.Request, accountID string) ([]sns.Topic, string, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	all, err := everyPage(func(token string) ([]sns.Topic, string, error) {
		return c.opts.Topics.ListTopics(r.Context(), accountID, token)
	})
	if err != nil {
		return nil, q, err
	}
	var out []sns.Topic
	for _, t := range all {
		if contains(t.Name, q) {
			out = append(out, t)
		}
	}
	return out, q, nil
}

func (c *Console) topicsPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.topicsWith(w, r, se, http.StatusOK, topicsData{})
}

func (c *Console) topicsWith(w http.ResponseWriter, r *http.Request, se *session, status int, d topicsData) {
	var err error
	if d.Topics, d.Query, err = c.topics(r, se.AccountID); err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, status, "topics", view{Title: "Topics", Session: se, Nav: "topics", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// createTopic is SNS CreateTopic with a name and a DisplayName: as in
// SNS, the name of an existing topic with the same attributes answers
// that topic.
func (c *Console) createTopic(w http.ResponseWriter, r *http.Request, se *session) {
	d := topicsData{Name: strings.TrimSpace(r.PostFormValue("name")), DisplayName: r.PostFormValue("display_name")}
	var attrs map[string]string
	if d.DisplayName != "" {
		attrs = map[string]string{"DisplayName": d.DisplayName}
	}
	_, err := c.opts.Topics.CreateTopic(r.Context(), se.AccountID, d.Name, attrs, nil)
	var e *sns.Error
	switch {
	case err == nil:
		flash(w, r, Prefix+"topics/"+d.Name, "topic-created")
		return
	case errors.As(err, &e) && e.Field == "DisplayName":
		d.DisplayNameError = e.Message
	case errors.As(err, &e) && e.Code == "InvalidParameter":
		d.NameError = e.Message
	case errors.As(err, &e):
		d.Error = e.Message
	default:
		c.internal(w, r, err)
		return
	}
	c.topicsWith(w, r, se, http.StatusBadRequest, d)
}

// topicsCSV exports the (filtered) topics: Name, TopicArn, DisplayName.
func (c *Console) topicsCSV(w http.ResponseWriter, r *http.Request, se *session) {
	ts, _, err := c.topics(r, se.AccountID)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	var rows [][]string
	for _, t := range ts {
		rows = append(rows, []string{t.Name, t.ARN, t.DisplayName})
	}
	writeCSV(w, "topics.csv", []string{"Name", "TopicArn", "DisplayName"}, rows)
}

// topicData is one topic's page's.
type topicData struct {
	Topic         sns.Topic
	Subscriptions []sns.Subscription
	Protocols     []string
	// The subscribe form's values and errors.
	Protocol, Endpoint           string
	ProtocolError, EndpointError string
	Error                        string // a limit reached
}

// topic reads the topic named in the path and its subscriptions; ok is
// false when it has answered (404: the account has no such topic).
func (c *Console) topic(w http.ResponseWriter, r *http.Request, se *session) (sns.Topic, []sns.Subscription, bool) {
	ctx := r.Context()
	t, err := c.opts.Topics.GetTopic(ctx, se.AccountID, c.opts.Topics.TopicARN(se.AccountID, r.PathValue("name")))
	var e *sns.Error
	if errors.As(err, &e) { // NotFound, or a name no topic can have
		c.notFound(w, r, se)
		return t, nil, false
	}
	if err != nil {
		c.internal(w, r, err)
		return t, nil, false
	}
	subs, err := everyPage(func(token string) ([]sns.Subscription, string, error) {
		return c.opts.Topics.ListSubscriptionsByTopic(ctx, se.AccountID, t.ARN, token)
	})
	if sns.IsNotFound(err) { // deleted meanwhile
		c.notFound(w, r, se)
		return t, nil, false
	}
	if err != nil {
		c.internal(w, r, err)
		return t, nil, false
	}
	return t, subs, true
}

func (c *Console) topicPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.topicWith(w, r, se, http.StatusOK, topicData{Protocol: "https"})
}

func (c *Console) topicWith(w http.ResponseWriter, r *http.Request, se *session, status int, d topicData) {
	var ok bool
	if d.Topic, d.Subscriptions, ok = c.topic(w, r, se); !ok {
		return
	}
	d.Protocols = sns.Protocols
	c.render(w, status, "topic", view{Title: "Topic " + d.Topic.Name, Session: se, Nav: "topics", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// subscribe is SNS Subscribe (the same store call, its endpoint checks
// included): the subscription is PendingConfirmation until its endpoint
// confirms.
func (c *Console) subscribe(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PathValue("name")
	d := topicData{Protocol: r.PostFormValue("protocol"), Endpoint: strings.TrimSpace(r.PostFormValue("endpoint"))}
	_, err := c.opts.Topics.Subscribe(r.Context(), se.AccountID, sns.SubscribeInput{TopicARN: c.opts.Topics.TopicARN(se.AccountID, name),
		Protocol: d.Protocol, Endpoint: d.Endpoint, ReturnARN: true})
	var e *sns.Error
	switch {
	case err == nil:
		flash(w, r, Prefix+"topics/"+name, "subscribed")
		return
	case errors.As(err, &e) && e.Code == "InvalidParameter" && e.Field == "Protocol":
		d.ProtocolError = e.Message
	case errors.As(err, &e) && e.Code == "InvalidParameter" && e.Field == "Endpoint":
		d.EndpointError = e.Message
	case errors.As(err, &e) && e.Code == "SubscriptionLimitExceeded":
		d.Error = e.Message
	case errors.As(err, &e): // NotFound, or a name no topic can have
		c.notFound(w, r, se)
		return
	default:
		c.internal(w, r, err)
		return
	}
	c.topicWith(w, r, se, http.StatusBadRequest, d)
}

// unsubscribe is SNS Unsubscribe of one of the topic's subscriptions.
func (c *Console) unsubscribe(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PathValue("name")
	arn := r.PostFormValue("arn")
	if !strings.HasPrefix(arn, c.opts.Topics.TopicARN(se.AccountID, name)+":") {
		c.notFound(w, r, se)
		return
	}
	err := c.opts.Topics.Unsubscribe(r.Context(), se.AccountID, arn)
	var e *sns.Error
	switch {
	case err == nil:
		flash(w, r, Prefix+"topics/"+name, "unsubscribed")
	case errors.As(err, &e): // NotFound, or not an ARN of the account's
		c.notFound(w, r, se)
	default:
		c.internal(w, r, err)
	}
}

// deleteTopic is SNS DeleteTopic of a topic the account has.
func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	t, err := c.opts.Topics.GetTopic(ctx, se.AccountID, c.opts.Topics.TopicARN(se.AccountID, r.PathValue("name")))
	var e *sns.Error
	if errors.As(err, &e) {
		c.notFound(w, r, se)
		return
	}
	if err == nil {
		err = c.opts.Topics.DeleteTopic(ctx, se.AccountID, t.ARN)
	}
	if err != nil {
		c.internal(w, r, err)
		return
	}
	flash(w, r, Prefix+"topics", "topic-deleted")
}

// subscriptionsCSV exports the topic's live subscriptions:
// SubscriptionArn, Protocol, Endpoint, Status (PendingConfirmation or
// Confirmed), Owner, TopicArn.
func (c *Console) subscriptionsCSV(w http.ResponseWriter, r *http.Request, se *session) {
	t, subs, ok := c.topic(w, r, se)
	if !ok {
		return
	}
	var rows [][]string
	for _, u := range subs {
		rows = append(rows, []string{u.ARN, u.Protocol, u.Endpoint, subStatus(u), u.Owner, u.TopicARN})
	}
	writeCSV(w, "subscriptions-"+t.Name+".csv", []string{"SubscriptionArn", "Protocol", "Endpoint", "Status", "Owner", "TopicArn"}, rows)
}

// subStatus is a subscription's state as SNS names it.
func subStatus(u sns.Subscription) string {
	if u.Pending {
		return "PendingConfirmation"
	}
	return "Confirmed"
}

// topicRoutes adds the pages of SNS topics and their subscriptions.
func (c *Console) topicRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"topics", c.session(c.topicsPage, true))
	m.HandleFunc("GET "+Prefix+"topics.csv", c.session(c.topicsCSV, true))
	m.HandleFunc("POST "+Prefix+"topics", c.session(c.createTopic, true))
	m.HandleFunc("GET "+Prefix+"topics/{name}", c.session(c.topicPage, true))
	m.HandleFunc("GET "+Prefix+"topics/{name}/subscriptions.csv", c.session(c.subscriptionsCSV, true))
	m.HandleFunc("POST "+Prefix+"topics/{name}/subscriptions", c.session(c.subscribe, true))
	m.HandleFunc("POST "+Prefix+"topics/{name}/subscriptions/delete", c.session(c.unsubscribe, true))
	m.HandleFunc("POST "+Prefix+"topics/{name}/delete", c.session(c.deleteTopic, true))
}
