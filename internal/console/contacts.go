package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sesame-email/sesame/internal/contact"
)

// contactListsData is the Contact lists page's.
type contactListsData struct {
	Lists []*contact.List
	Query string // the filter: part of a name
	// The create form's values and errors.
	Name, Description, Topics                string
	NameError, DescriptionError, TopicsError string
	Error                                    string // a limit reached
}

// contactLists returns the account's lists whose names contain the q
// filter.
func (c *Console) contactLists(r *http.Request, accountID string) ([]*contact.List, string, error) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var out []*contact.List
	token := ""
	for {
		ls, next, err := c.opts.Contacts.ListLists(r.Context(), accountID, token, contact.MaxPageSize)
		if err != nil {
			return nil, q, err
		}
		for _, l := range ls {
			if contains(l.Name, q) {
				out = append(out, l)
			}
		}
		if next == "" {
			return out, q, nil
		}
		token = next
	}
}

func (c *Console) contactListsPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.contactListsWith(w, r, se, http.StatusOK, contactListsData{})
}

func (c *Console) contactListsWith(w http.ResponseWriter, r *http.Request, se *session, status int, d contactListsData) {
	var err error
	if d.Lists, d.Query, err = c.contactLists(r, se.AccountID); err != nil {
		c.internal(w, r, err)
		return
	}
	c.render(w, status, "contactlists", view{Title: "Contact lists", Session: se, Nav: "contactlists", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// parseTopics reads the create form's topics, one a line:
// "TopicName | Display name | OPT_IN or OPT_OUT". The store checks each
// topic by SES's rules; this only splits the lines.
func parseTopics(s string) ([]contact.Topic, error) {
	var out []contact.Topic
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 3 {
			return nil, fmt.Errorf("Topic line %d: write TopicName | Display name | OPT_IN or OPT_OUT.", i+1)
		}
		out = append(out, contact.Topic{TopicName: strings.TrimSpace(f[0]), DisplayName: strings.TrimSpace(f[1]),
			DefaultSubscriptionStatus: contact.Status(strings.ToUpper(strings.TrimSpace(f[2])))})
	}
	return out, nil
}

// createContactList is v2 CreateContactList with a name, a description
// and topics.
func (c *Console) createContactList(w http.ResponseWriter, r *http.Request, se *session) {
	d := contactListsData{Name: strings.TrimSpace(r.PostFormValue("name")), Description: r.PostFormValue("description"), Topics: r.PostFormValue("topics")}
	topics, err := parseTopics(d.Topics)
	if err != nil {
		d.TopicsError = err.Error()
		c.contactListsWith(w, r, se, http.StatusBadRequest, d)
		return
	}
	err = c.opts.Contacts.CreateList(r.Context(), se.AccountID, contact.List{Name: d.Name, Description: d.Description, Topics: topics})
	var ie *contact.InvalidError
	switch {
	case err == nil:
		flash(w, r, Prefix+"contact-lists/"+d.Name, "list-created")
		return
	case errors.As(err, &ie) && ie.Field == "ContactListName":
		d.NameError = ie.Msg
	case errors.As(err, &ie) && ie.Field == "Description":
		d.DescriptionError = ie.Msg
	case errors.As(err, &ie):
		d.TopicsError = ie.Msg
	case errors.Is(err, contact.ErrAlreadyExists):
		d.NameError = "Contact list " + d.Name + " already exists."
	case errors.Is(err, contact.ErrLimitExceeded):
		d.Error = trimContact(err)
	default:
		c.internal(w, r, err)
		return
	}
	c.contactListsWith(w, r, se, http.StatusBadRequest, d)
}

// trimContact is a sentinel error's text as the API shows it.
func trimContact(err error) string { return strings.TrimPrefix(err.Error(), "contact: ") }

// contactListData is one list's page's.
type contactListData struct {
	List     *contact.List
	Contacts []*contact.Contact
	// The filter.
	Status, Topic string
	FilterError   string
	Next          string
	// The add form's value and error.
	Address, AddressError string
}

// contactFilter reads a list page's filter: status (OPT_IN, OPT_OUT or
// all) and a topic, as ListContacts' filter has them.
func contactFilter(r *http.Request) (contact.Filter, string, string) {
	q := r.URL.Query()
	status, topic := q.Get("status"), q.Get("topic")
	return contact.Filter{Status: contact.Status(status), Topic: topic, UseDefault: true}, status, topic
}

func (c *Console) contactListPage(w http.ResponseWriter, r *http.Request, se *session) {
	c.contactListWith(w, r, se, http.StatusOK, contactListData{})
}

func (c *Console) contactListWith(w http.ResponseWriter, r *http.Request, se *session, status int, d contactListData) {
	ctx := r.Context()
	l, err := c.opts.Contacts.GetList(ctx, se.AccountID, r.PathValue("name"))
	if !c.loaded(w, r, se, err, contact.ErrNotFound) {
		return
	}
	d.List = l
	var f contact.Filter
	f, d.Status, d.Topic = contactFilter(r)
	d.Contacts, d.Next, err = c.opts.Contacts.ListContacts(ctx, se.AccountID, l.Name, f, r.URL.Query().Get("next"), 0)
	var ie *contact.InvalidError
	switch {
	case errors.As(err, &ie):
		d.FilterError, status = ie.Msg, http.StatusBadRequest
	case errors.Is(err, contact.ErrNotFound): // a topic the list does not have
		d.FilterError, status = "Topic "+d.Topic+" is not a topic of contact list "+l.Name+".", http.StatusBadRequest
	case err != nil:
		c.internal(w, r, err)
		return
	}
	c.render(w, status, "contactlist", view{Title: "Contact list " + l.Name, Session: se, Nav: "contactlists", Flash: note(r), FlashKey: noteKey(r), Data: d})
}

// addContact is v2 CreateContact with an address (the list's defaults
// for every topic).
func (c *Console) addContact(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PathValue("name")
	d := contactListData{Address: strings.TrimSpace(r.PostFormValue("address"))}
	err := c.opts.Contacts.CreateContact(r.Context(), se.AccountID, name, contact.ContactInput{Address: d.Address})
	var ie *contact.InvalidError
	switch {
	case err == nil:
		flash(w, r, Prefix+"contact-lists/"+name, "contact-added")
		return
	case errors.As(err, &ie):
		d.AddressError = ie.Msg
	case errors.Is(err, contact.ErrAlreadyExists):
		d.AddressError = "Contact " + d.Address + " already exists in contact list " + name + "."
	case errors.Is(err, contact.ErrNotFound):
		c.notFound(w, r, se)
		return
	default:
		c.internal(w, r, err)
		return
	}
	c.contactListWith(w, r, se, http.StatusBadRequest, d)
}

// removeContact is v2 DeleteContact.
func (c *Console) removeContact(w http.ResponseWriter, r *http.Request, se *session) {
	name := r.PathValue("name")
	err := c.opts.Contacts.DeleteContact(r.Context(), se.AccountID, name, r.PostFormValue("address"))
	var ie *contact.InvalidError
	switch {
	case err == nil:
		flash(w, r, Prefix+"contact-lists/"+name, "contact-removed")
	case errors.Is(err, contact.ErrNotFound), errors.As(err, &ie):
		c.notFound(w, r, se)
	default:
		c.internal(w, r, err)
	}
}

// deleteContactList is v2 DeleteContactList.
func (c *Console) deleteContactList(w http.ResponseWriter, r *http.Request, se *session) {
	err := c.opts.Contacts.DeleteList(r.Context(), se.AccountID, r.PathValue("name"))
	switch {
	case err == nil:
		flash(w, r, Prefix+"contact-lists", "list-deleted")
	case errors.Is(err, contact.ErrNotFound):
		c.notFound(w, r, se)
	default:
		c.internal(w, r, err)
	}
}

// contactListsCSV exports the (filtered) lists: ContactListName,
// Description, Topics (names), LastUpdatedTimestamp.
func (c *Console) contactListsCSV(w http.ResponseWriter, r *http.Request, se *session) {
	ls, _, err := c.contactLists(r, se.AccountID)
	if err != nil {
		c.internal(w, r, err)
		return
	}
	var rows [][]string
	for _, l := range ls {
		var names []string
		for _, t := range l.Topics {
			names = append(names, t.TopicName)
		}
		rows = append(rows, []string{l.Name, l.Description, strings.Join(names, " "), l.Updated.UTC().Format(isoTime)})
	}
	writeCSV(w, "contact-lists.csv", []string{"ContactListName", "Description", "Topics", "LastUpdatedTimestamp"}, rows)
}

// contactsCSV exports the list's (filtered) contacts: EmailAddress,
// UnsubscribeAll, then one column per topic with the contact's status.
func (c *Console) contactsCSV(w http.ResponseWriter, r *http.Request, se *session) {
	ctx := r.Context()
	l, err := c.opts.Contacts.GetList(ctx, se.AccountID, r.PathValue("name"))
	if !c.loaded(w, r, se, err, contact.ErrNotFound) {
		return
	}
	f, _, _ := contactFilter(r)
	header := []string{"EmailAddress", "UnsubscribeAll"}
	for _, t := range l.Topics {
		header = append(header, t.TopicName)
	}
	var rows [][]string
	token := ""
	for {
		cs, next, err := c.opts.Contacts.ListContacts(ctx, se.AccountID, l.Name, f, token, contact.MaxPageSize)
		var ie *contact.InvalidError
		if errors.As(err, &ie) || errors.Is(err, contact.ErrNotFound) {
			c.render(w, http.StatusBadRequest, "error", view{Title: "Contact list " + l.Name, Session: se, Nav: "contactlists", Error: "The filter is not valid: " + trimContact(err)})
			return
		}
		if err != nil {
			c.internal(w, r, err)
			return
		}
		for _, ct := range cs {
			row := []string{ct.Address, strconv.FormatBool(ct.UnsubscribeAll)}
			for _, t := range l.Topics {
				row = append(row, string(ct.Status(t)))
			}
			rows = append(rows, row)
		}
		if next == "" {
			break
		}
		token = next
	}
	writeCSV(w, "contacts-"+l.Name+".csv", header, rows)
}
