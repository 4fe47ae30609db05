package console

import (
	"encoding/csv"
	"net/http"
	"strings"
)

// This file holds what the pages of configuration sets, SNS topics,
// templates and contact lists share.

// writeCSV answers a CSV download named filename: header, then rows.
func writeCSV(w http.ResponseWriter, filename string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	cw := csv.NewWriter(w)
	for i, cell := range header {
		header[i] = textCell(cell) // topic names, in contacts-<list>.csv
	}
	cw.Write(header)
	for _, row := range rows {
		for i, cell := range row {
			row[i] = textCell(cell)
		}
	}
	cw.WriteAll(rows)
}

// textCell neutralises a cell that a spreadsheet would run as a formula
// (it starts with = + - @, a tab or a carriage return: OWASP's CSV
// injection list) with a leading apostrophe, so that it shows as text.
func textCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// contains reports whether name contains the filter q, ignoring case; an
// empty q matches everything.
func contains(name, q string) bool {
	return q == "" || strings.Contains(strings.ToLower(name), strings.ToLower(q))
}

// isoTime is the API's timestamp spelling, for CSV files.
const isoTime = "2006-01-02T15:04:05.000Z"

// resourceRoutes adds the pages of configuration sets, templates and
// contact lists.
func (c *Console) resourceRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"configuration-sets", c.session(c.configSetsPage, true))
	m.HandleFunc("GET "+Prefix+"configuration-sets.csv", c.session(c.configSetsCSV, true))
	m.HandleFunc("POST "+Prefix+"configuration-sets", c.session(c.createConfigSet, true))
	m.HandleFunc("GET "+Prefix+"configuration-sets/{name}", c.session(c.configSetPage, true))
	m.HandleFunc("POST "+Prefix+"configuration-sets/{name}/sending", c.session(c.setSending, true))
	m.HandleFunc("POST "+Prefix+"configuration-sets/{name}/delete", c.session(c.deleteConfigSet, true))
	m.HandleFunc("GET "+Prefix+"templates", c.session(c.templatesPage, true))
	m.HandleFunc("GET "+Prefix+"templates.csv", c.session(c.templatesCSV, true))
	m.HandleFunc("POST "+Prefix+"templates", c.session(c.createTemplate, true))
	m.HandleFunc("GET "+Prefix+"templates/{name}", c.session(c.templatePage, true))
	m.HandleFunc("POST "+Prefix+"templates/{name}", c.session(c.updateTemplate, true))
	m.HandleFunc("POST "+Prefix+"templates/{name}/render", c.session(c.renderTemplate, true))
	m.HandleFunc("POST "+Prefix+"templates/{name}/delete", c.session(c.deleteTemplate, true))
	m.HandleFunc("GET "+Prefix+"contact-lists", c.session(c.contactListsPage, true))
	m.HandleFunc("GET "+Prefix+"contact-lists.csv", c.session(c.contactListsCSV, true))
	m.HandleFunc("POST "+Prefix+"contact-lists", c.session(c.createContactList, true))
	m.HandleFunc("GET "+Prefix+"contact-lists/{name}", c.session(c.contactListPage, true))
	m.HandleFunc("GET "+Prefix+"contact-lists/{name}/contacts.csv", c.session(c.contactsCSV, true))
	m.HandleFunc("POST "+Prefix+"contact-lists/{name}/contacts", c.session(c.addContact, true))
	m.HandleFunc("POST "+Prefix+"contact-lists/{name}/contacts/delete", c.session(c.removeContact, true))
	m.HandleFunc("POST "+Prefix+"contact-lists/{name}/delete", c.session(c.deleteContactList, true))
}
