package sesv2

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sesame-email/sesame/internal/contact"
	"github.com/sesame-email/sesame/internal/sesapi"
)

// Contact lists, topics, contacts and import jobs (ses-api.md "Contact
// lists and contacts"). Errors: NotFoundException for an unknown list,
// contact or job, AlreadyExistsException, LimitExceededException (a
// second list), BadRequestException naming the field and the rule for
// everything else.

// contactError maps the contact package's errors to v2's codes.
func contactError(err error) error {
	var ie *contact.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return badRequest("%s", ie.Msg)
	case errors.Is(err, contact.ErrNotFound):
		return notFound("%s", trimPrefix(err))
	case errors.Is(err, contact.ErrAlreadyExists):
		return alreadyExists("%s", trimPrefix(err))
	case errors.Is(err, contact.ErrLimitExceeded):
		return sesapi.Errorf(http.StatusBadRequest, "LimitExceededException", "%s", trimPrefix(err))
	}
	return err
}

// trimPrefix drops the package's "contact: " from a sentinel's text.
func trimPrefix(err error) string { return strings.TrimPrefix(err.Error(), "contact: ") }

func (h *handler) contactStore() (*contact.Store, error) {
	if h.contacts == nil {
		return nil, errors.New("sesv2: contact lists are not configured (Options.Contacts is nil)")
	}
	return h.contacts, nil
}

type topicJSON struct {
	TopicName                 string `json:"TopicName"`
	DisplayName               string `json:"DisplayName"`
	Description               string `json:"Description,omitempty"`
	DefaultSubscriptionStatus string `json:"DefaultSubscriptionStatus"`
}

func topicsIn(ts []topicJSON) []contact.Topic {
	if ts == nil {
		return nil
	}
	out := make([]contact.Topic, 0, len(ts))
	for _, t := range ts {
		out = append(out, contact.Topic{TopicName: t.TopicName, DisplayName: t.DisplayName, Description: t.Description, DefaultSubscriptionStatus: contact.Status(t.DefaultSubscriptionStatus)})
	}
	return out
}

func topicsOut(ts []contact.Topic) []topicJSON {
	out := make([]topicJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, topicJSON{TopicName: t.TopicName, DisplayName: t.DisplayName, Description: t.Description, DefaultSubscriptionStatus: string(t.DefaultSubscriptionStatus)})
	}
	return out
}

type preferenceJSON struct {
	TopicName          string `json:"TopicName"`
	SubscriptionStatus string `json:"SubscriptionStatus"`
}

func prefsIn(ps []preferenceJSON) []contact.Preference {
	if ps == nil {
		return nil
	}
	out := make([]contact.Preference, 0, len(ps))
	for _, p := range ps {
		out = append(out, contact.Preference{TopicName: p.TopicName, SubscriptionStatus: contact.Status(p.SubscriptionStatus)})
	}
	return out
}

func prefsOut(ps []contact.Preference) []preferenceJSON {
	out := make([]preferenceJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, preferenceJSON{TopicName: p.TopicName, SubscriptionStatus: string(p.SubscriptionStatus)})
	}
	return out
}

func listName(r *http.Request) string { return r.PathValue("ContactListName") }

// CreateContactList: POST /v2/email/contact-lists.
func (h *handler) createContactList(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		ContactListName string      `json:"ContactListName"`
		Topics          []topicJSON `json:"Topics"`
		Description     string      `json:"Description"`
		Tags            []tag       `json:"Tags"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	l := contact.List{Name: in.ContactListName, Description: in.Description, Topics: topicsIn(in.Topics), Tags: storeTags[contact.Tag](in.Tags)}
	return nil, contactError(s.CreateList(r.Context(), c.AccountID, l))
}

type getContactListOutput struct {
	ContactListName      string      `json:"ContactListName"`
	Topics               []topicJSON `json:"Topics"`
	Description          string      `json:"Description,omitempty"`
	CreatedTimestamp     epoch       `json:"CreatedTimestamp"`
	LastUpdatedTimestamp epoch       `json:"LastUpdatedTimestamp"`
	Tags                 []tag       `json:"Tags"`
}

// GetContactList: GET /v2/email/contact-lists/{ContactListName}.
func (h *handler) getContactList(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	l, err := s.GetList(r.Context(), c.AccountID, listName(r))
	if err != nil {
		return nil, contactError(err)
	}
	return getContactListOutput{ContactListName: l.Name, Topics: topicsOut(l.Topics), Description: l.Description,
		CreatedTimestamp: epoch(l.Created), LastUpdatedTimestamp: epoch(l.Updated), Tags: apiTags(l.Tags)}, nil
}

// UpdateContactList: PUT /v2/email/contact-lists/{ContactListName}
// {Topics, Description}; an absent member is left as it is, Topics
// replaces the whole set.
func (h *handler) updateContactList(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		Topics      []topicJSON `json:"Topics"`
		Description *string     `json:"Description"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	return nil, contactError(s.UpdateList(r.Context(), c.AccountID, listName(r), in.Description, topicsIn(in.Topics)))
}

// DeleteContactList: DELETE /v2/email/contact-lists/{ContactListName};
// its contacts go with it.
func (h *handler) deleteContactList(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	return nil, contactError(s.DeleteList(r.Context(), c.AccountID, listName(r)))
}

// queryPageSize reads a PageSize query parameter (0 when absent).
func queryPageSize(r *http.Request) (int, error) {
	v := r.URL.Query().Get("PageSize")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > contact.MaxPageSize {
		return 0, badRequest("Invalid PageSize %q: it must be a number from 1 to %d.", v, contact.MaxPageSize)
	}
	return n, nil
}

type contactListJSON struct {
	ContactListName      string `json:"ContactListName"`
	LastUpdatedTimestamp epoch  `json:"LastUpdatedTimestamp"`
}

// ListContactLists: GET /v2/email/contact-lists?PageSize=&NextToken=.
func (h *handler) listContactLists(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	size, err := queryPageSize(r)
	if err != nil {
		return nil, err
	}
	ls, next, err := s.ListLists(r.Context(), c.AccountID, r.URL.Query().Get("NextToken"), size)
	if err != nil {
		return nil, contactError(err)
	}
	out := struct {
		ContactLists []contactListJSON `json:"ContactLists"`
		NextToken    string            `json:"NextToken,omitempty"`
	}{ContactLists: []contactListJSON{}, NextToken: next}
	for _, l := range ls {
		out.ContactLists = append(out.ContactLists, contactListJSON{ContactListName: l.Name, LastUpdatedTimestamp: epoch(l.Updated)})
	}
	return out, nil
}

// CreateContact: POST /v2/email/contact-lists/{ContactListName}/contacts.
func (h *handler) createContact(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		EmailAddress     string           `json:"EmailAddress"`
		TopicPreferences []preferenceJSON `json:"TopicPreferences"`
		UnsubscribeAll   bool             `json:"UnsubscribeAll"`
		AttributesData   string           `json:"AttributesData"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	return nil, contactError(s.CreateContact(r.Context(), c.AccountID, listName(r), contact.ContactInput{
		Address: in.EmailAddress, Preferences: prefsIn(in.TopicPreferences), UnsubscribeAll: in.UnsubscribeAll, AttributesData: in.AttributesData}))
}

type getContactOutput struct {
	ContactListName         string           `json:"ContactListName"`
	EmailAddress            string           `json:"EmailAddress"`
	TopicPreferences        []preferenceJSON `json:"TopicPreferences"`
	TopicDefaultPreferences []preferenceJSON `json:"TopicDefaultPreferences"`
	UnsubscribeAll          bool             `json:"UnsubscribeAll"`
	AttributesData          string           `json:"AttributesData,omitempty"`
	CreatedTimestamp        epoch            `json:"CreatedTimestamp"`
	LastUpdatedTimestamp    epoch            `json:"LastUpdatedTimestamp"`
}

// GetContact: GET /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}.
func (h *handler) getContact(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	ct, err := s.GetContact(r.Context(), c.AccountID, listName(r), r.PathValue("EmailAddress"))
	if err != nil {
		return nil, contactError(err)
	}
	return getContactOutput{ContactListName: listName(r), EmailAddress: ct.Address, TopicPreferences: prefsOut(ct.Preferences),
		TopicDefaultPreferences: prefsOut(ct.Defaults), UnsubscribeAll: ct.UnsubscribeAll, AttributesData: ct.AttributesData,
		CreatedTimestamp: epoch(ct.Created), LastUpdatedTimestamp: epoch(ct.Updated)}, nil
}

// UpdateContact: PUT /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress};
// an absent member is left as it is.
func (h *handler) updateContact(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		TopicPreferences []preferenceJSON `json:"TopicPreferences"`
		UnsubscribeAll   *bool            `json:"UnsubscribeAll"`
		AttributesData   *string          `json:"AttributesData"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	return nil, contactError(s.UpdateContact(r.Context(), c.AccountID, listName(r), r.PathValue("EmailAddress"), contact.ContactUpdate{
		Preferences: prefsIn(in.TopicPreferences), UnsubscribeAll: in.UnsubscribeAll, AttributesData: in.AttributesData}))
}

// DeleteContact: DELETE /v2/email/contact-lists/{ContactListName}/contacts/{EmailAddress}.
func (h *handler) deleteContact(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	return nil, contactError(s.DeleteContact(r.Context(), c.AccountID, listName(r), r.PathValue("EmailAddress")))
}

type contactJSON struct {
	EmailAddress            string           `json:"EmailAddress"`
	TopicPreferences        []preferenceJSON `json:"TopicPreferences"`
	TopicDefaultPreferences []preferenceJSON `json:"TopicDefaultPreferences"`
	UnsubscribeAll          bool             `json:"UnsubscribeAll"`
	LastUpdatedTimestamp    epoch            `json:"LastUpdatedTimestamp"`
}

// ListContacts: POST /v2/email/contact-lists/{ContactListName}/contacts/list
// {Filter, PageSize, NextToken}.
func (h *handler) listContacts(r *http.Request, c sesapi.Caller) (any, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		Filter *struct {
			FilteredStatus string `json:"FilteredStatus"`
			TopicFilter    *struct {
				TopicName                         string `json:"TopicName"`
				UseDefaultIfPreferenceUnavailable bool   `json:"UseDefaultIfPreferenceUnavailable"`
			} `json:"TopicFilter"`
		} `json:"Filter"`
		PageSize  int    `json:"PageSize"`
		NextToken string `json:"NextToken"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	var f contact.Filter
	if in.Filter != nil {
		f.Status = contact.Status(in.Filter.FilteredStatus)
		if tf := in.Filter.TopicFilter; tf != nil {
			if tf.TopicName == "" {
				return nil, badRequest("Filter.TopicFilter.TopicName is required.")
			}
			f.Topic, f.UseDefault = tf.TopicName, tf.UseDefaultIfPreferenceUnavailable
		}
	}
	cs, next, err := s.ListContacts(r.Context(), c.AccountID, listName(r), f, in.NextToken, in.PageSize)
	if err != nil {
		return nil, contactError(err)
	}
	out := struct {
		Contacts  []contactJSON `json:"Contacts"`
		NextToken string        `json:"NextToken,omitempty"`
	}{Contacts: []contactJSON{}, NextToken: next}
	for _, ct := range cs {
		out.Contacts = append(out.Contacts, contactJSON{EmailAddress: ct.Address, TopicPreferences: prefsOut(ct.Preferences),
			TopicDefaultPreferences: prefsOut(ct.Defaults), UnsubscribeAll: ct.UnsubscribeAll, LastUpdatedTimestamp: epoch(ct.Updated)})
	}
	return out, nil
}

// Import jobs.

type importDestinationJSON struct {
	ContactListDestination     *contactListDestinationJSON     `json:"ContactListDestination,omitempty"`
	SuppressionListDestination *suppressionListDestinationJSON `json:"SuppressionListDestination,omitempty"`
}

type contactListDestinationJSON struct {
	ContactListName         string `json:"ContactListName"`
	ContactListImportAction string `json:"ContactListImportAction"`
}

type suppressionListDestinationJSON struct {
	SuppressionListImportAction string `json:"SuppressionListImportAction"`
}

type importDataSourceJSON struct {
	S3Url      string `json:"S3Url"`
	DataFormat string `json:"DataFormat"`
}

func destinationOut(j *contact.Job) importDestinationJSON {
	var d importDestinationJSON
	if j.Destination == contact.DestContactList {
		d.ContactListDestination = &contactListDestinationJSON{j.ListName, j.Action}
	} else {
		d.SuppressionListDestination = &suppressionListDestinationJSON{j.Action}
	}
	return d
}

func (h *handler) importStore() (*contact.Imports, error) {
	if h.imports == nil {
		return nil, errors.New("sesv2: import jobs are not configured (Options.Imports is nil)")
	}
	return h.imports, nil
}

// CreateImportJob: POST /v2/email/import-jobs {ImportDestination, ImportDataSource}.
func (h *handler) createImportJob(r *http.Request, c sesapi.Caller) (any, error) {
	im, err := h.importStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		ImportDestination *importDestinationJSON `json:"ImportDestination"`
		ImportDataSource  *importDataSourceJSON  `json:"ImportDataSource"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	if in.ImportDestination == nil {
		return nil, badRequest("ImportDestination is required.")
	}
	if in.ImportDataSource == nil {
		return nil, badRequest("ImportDataSource is required.")
	}
	ji := contact.JobInput{SourceURL: in.ImportDataSource.S3Url, Format: in.ImportDataSource.DataFormat}
	d := in.ImportDestination
	switch {
	case d.ContactListDestination != nil && d.SuppressionListDestination != nil:
		return nil, badRequest("ImportDestination must have exactly one of ContactListDestination and SuppressionListDestination.")
	case d.ContactListDestination != nil:
		ji.Destination, ji.ListName, ji.Action = contact.DestContactList, d.ContactListDestination.ContactListName, d.ContactListDestination.ContactListImportAction
	case d.SuppressionListDestination != nil:
		ji.Destination, ji.Action = contact.DestSuppressionList, d.SuppressionListDestination.SuppressionListImportAction
	}
	if ji.SourceURL == "" {
		return nil, badRequest("ImportDataSource.S3Url is required.")
	}
	id, err := im.Create(r.Context(), c.AccountID, ji)
	if err != nil {
		return nil, contactError(err)
	}
	return struct{ JobId string }{id}, nil
}

type failureInfoJSON struct {
	FailedRecordsS3Url string `json:"FailedRecordsS3Url,omitempty"`
	ErrorMessage       string `json:"ErrorMessage,omitempty"`
}

type importJobJSON struct {
	JobId                 string                `json:"JobId"`
	ImportDestination     importDestinationJSON `json:"ImportDestination"`
	ImportDataSource      *importDataSourceJSON `json:"ImportDataSource,omitempty"`
	JobStatus             string                `json:"JobStatus"`
	CreatedTimestamp      epoch                 `json:"CreatedTimestamp"`
	CompletedTimestamp    *epoch                `json:"CompletedTimestamp,omitempty"`
	ProcessedRecordsCount int64                 `json:"ProcessedRecordsCount"`
	FailedRecordsCount    int64                 `json:"FailedRecordsCount"`
	FailureInfo           *failureInfoJSON      `json:"FailureInfo,omitempty"`
}

func jobOut(j *contact.Job, full bool) importJobJSON {
	out := importJobJSON{JobId: j.ID, ImportDestination: destinationOut(j), JobStatus: j.Status, CreatedTimestamp: epoch(j.Created),
		CompletedTimestamp: timestamp(j.Completed), ProcessedRecordsCount: j.Processed, FailedRecordsCount: j.Failed}
	if full {
		out.ImportDataSource = &importDataSourceJSON{S3Url: j.SourceURL, DataFormat: j.Format}
		if j.FailuresURL != "" || j.ErrorMessage != "" {
			out.FailureInfo = &failureInfoJSON{FailedRecordsS3Url: j.FailuresURL, ErrorMessage: j.ErrorMessage}
		}
	}
	return out
}

// GetImportJob: GET /v2/email/import-jobs/{JobId}.
func (h *handler) getImportJob(r *http.Request, c sesapi.Caller) (any, error) {
	im, err := h.importStore()
	if err != nil {
		return nil, err
	}
	j, err := im.Get(r.Context(), c.AccountID, r.PathValue("JobId"))
	if err != nil {
		return nil, contactError(err)
	}
	return jobOut(j, true), nil
}

// ListImportJobs: POST /v2/email/import-jobs/list {ImportDestinationType, PageSize, NextToken}.
func (h *handler) listImportJobs(r *http.Request, c sesapi.Caller) (any, error) {
	im, err := h.importStore()
	if err != nil {
		return nil, err
	}
	var in struct {
		ImportDestinationType string `json:"ImportDestinationType"`
		PageSize              int    `json:"PageSize"`
		NextToken             string `json:"NextToken"`
	}
	if err := decodeBody(r, &in); err != nil {
		return nil, err
	}
	js, next, err := im.List(r.Context(), c.AccountID, in.ImportDestinationType, in.NextToken, in.PageSize)
	if err != nil {
		return nil, contactError(err)
	}
	out := struct {
		ImportJobs []importJobJSON `json:"ImportJobs"`
		NextToken  string          `json:"NextToken,omitempty"`
	}{ImportJobs: []importJobJSON{}, NextToken: next}
	for _, j := range js {
		out.ImportJobs = append(out.ImportJobs, jobOut(j, false))
	}
	return out, nil
}

// taggedList checks that a names a contact list of the caller's account
// and region (another's is not found, as for identities) and returns its
// name.
func (h *handler) taggedList(a resourceARN, c sesapi.Caller) (*contact.Store, string, error) {
	s, err := h.contactStore()
	if err != nil {
		return nil, "", err
	}
	if (a.account != "" && a.account != c.AccountID) || a.region != c.Region {
		return nil, "", resourceNotFound(a)
	}
	return s, a.name, nil
}

// listTagError reports an unknown list as the ARN not found.
func listTagError(err error, a resourceARN) error {
	if errors.Is(err, contact.ErrNotFound) {
		return resourceNotFound(a)
	}
	return contactError(err)
}

func (h *handler) tagContactList(r *http.Request, c sesapi.Caller, a resourceARN, tags []tag) error {
	s, name, err := h.taggedList(a, c)
	if err != nil {
		return err
	}
	return listTagError(s.TagList(r.Context(), c.AccountID, name, storeTags[contact.Tag](tags)), a)
}

func (h *handler) untagContactList(r *http.Request, c sesapi.Caller, a resourceARN, keys []string) error {
	s, name, err := h.taggedList(a, c)
	if err != nil {
		return err
	}
	return listTagError(s.UntagList(r.Context(), c.AccountID, name, keys), a)
}

func (h *handler) listContactListTags(r *http.Request, c sesapi.Caller, a resourceARN) (any, error) {
	s, name, err := h.taggedList(a, c)
	if err != nil {
		return nil, err
	}
	l, err := s.GetList(r.Context(), c.AccountID, name)
	if err != nil {
		return nil, listTagError(err, a)
	}
	return listTagsForResourceOutput{Tags: apiTags(l.Tags)}, nil
}
