package template_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-email/sesame/internal/account"
	"github.com/sesame-email/sesame/internal/db"
	"github.com/sesame-email/sesame/internal/dbtest"
	"github.com/sesame-email/sesame/internal/seal"
	"github.com/sesame-email/sesame/internal/template"
)

type fixture struct {
	ctx  context.Context
	s    *template.Store
	a, b string // two accounts
	now  time.Time
}

func newFixture(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	box, err := seal.New("template test secret")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ctx: t.Context(), now: time.UnixMilli(1_750_000_000_000)}
	clock := func() time.Time { return f.now }
	accts := account.New(d, box, clock)
	for i, p := range []*string{&f.a, &f.b} {
		a, _, err := accts.Create(f.ctx, account.CreateOptions{Name: fmt.Sprintf("acct-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		*p = a.ID
	}
	f.s = template.NewStore(d, clock)
	return f
}

func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		welcome := template.Template{Name: "welcome", Content: template.Content{Subject: "Hi {{name}}", Text: "t", HTML: "<p>h</p>"},
			Tags: []template.Tag{{Key: "team", Value: "growth"}}}
		if err := f.s.Create(f.ctx, f.a, welcome); err != nil {
			t.Fatal(err)
		}
		got, err := f.s.Get(f.ctx, f.a, "welcome")
		if err != nil {
			t.Fatal(err)
		}
		welcome.Created = f.now
		if got.Name != welcome.Name || got.Content != welcome.Content || len(got.Tags) != 1 || got.Tags[0] != welcome.Tags[0] || !got.Created.Equal(f.now) {
			t.Errorf("Get = %+v, want %+v", got, welcome)
		}
		if err := f.s.Create(f.ctx, f.a, welcome); !errors.Is(err, template.ErrAlreadyExists) {
			t.Errorf("duplicate: %v", err)
		}

		// Isolation: account b sees nothing of a's, and may use the name.
		if _, err := f.s.Get(f.ctx, f.b, "welcome"); !errors.Is(err, template.ErrNotFound) {
			t.Errorf("b reads a's template: %v", err)
		}
		if err := f.s.Update(f.ctx, f.b, "welcome", template.Content{Text: "x"}); !errors.Is(err, template.ErrNotFound) {
			t.Errorf("b updates a's template: %v", err)
		}
		if err := f.s.Delete(f.ctx, f.b, "welcome"); !errors.Is(err, template.ErrNotFound) {
			t.Errorf("b deletes a's template: %v", err)
		}
		if ts, _, err := f.s.List(f.ctx, f.b, "", 10); err != nil || len(ts) != 0 {
			t.Errorf("b lists %v, %v", ts, err)
		}
		if err := f.s.Create(f.ctx, f.b, template.Template{Name: "welcome", Content: template.Content{Text: "b's"}}); err != nil {
			t.Fatal(err)
		}

		// Update keeps name, tags and Created; bad content writes nothing.
		f.now = f.now.Add(time.Hour)
		if err := f.s.Update(f.ctx, f.a, "welcome", template.Content{Subject: "New", HTML: "{{x}}"}); err != nil {
			t.Fatal(err)
		}
		var ie *template.InvalidError
		if err := f.s.Update(f.ctx, f.a, "welcome", template.Content{Text: "{{#if}}"}); !errors.As(err, &ie) {
			t.Errorf("update with a bad template: %v", err)
		}
		got, _ = f.s.Get(f.ctx, f.a, "welcome")
		if got.Content != (template.Content{Subject: "New", HTML: "{{x}}"}) || len(got.Tags) != 1 || !got.Created.Equal(welcome.Created) {
			t.Errorf("after Update: %+v", got)
		}
		if got, _ := f.s.Get(f.ctx, f.b, "welcome"); got.Content.Text != "b's" {
			t.Errorf("a's update reached b: %+v", got)
		}

		if err := f.s.Delete(f.ctx, f.a, "welcome"); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Delete(f.ctx, f.a, "welcome"); !errors.Is(err, template.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		if _, err := f.s.Get(f.ctx, f.b, "welcome"); err != nil {
			t.Errorf("a's delete reached b: %v", err)
		}
	})
}

func TestStoreRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		long := make([]byte, template.MaxNameLength+1)
		for i := range long {
			long[i] = 'a'
		}
		for _, tc := range []struct {
			name  string
			tpl   template.Template
			field string // ParamError field, or "" for an InvalidError
		}{
			{"empty name", template.Template{Content: template.Content{Text: "x"}}, "TemplateName"},
			{"long name", template.Template{Name: string(long), Content: template.Content{Text: "x"}}, "TemplateName"},
			{"bad character", template.Template{Name: "a.b", Content: template.Content{Text: "x"}}, "TemplateName"},
			{"duplicate tag", template.Template{Name: "t", Content: template.Content{Text: "x"}, Tags: []template.Tag{{Key: "k"}, {Key: "k"}}}, "Tags"},
			{"bad template", template.Template{Name: "t", Content: template.Content{Text: "{{> p}}"}}, ""},
			// 500 KB for a stored template, though an inline one may have 1 MB.
			{"too large", template.Template{Name: "t", Content: template.Content{Text: strings.Repeat("x", template.MaxTemplateBytes+1)}}, "TemplateContent"},
		} {
			err := f.s.Create(f.ctx, f.a, tc.tpl)
			var pe *template.ParamError
			var ie *template.InvalidError
			switch {
			case tc.field != "" && (!errors.As(err, &pe) || pe.Field != tc.field):
				t.Errorf("%s: %v, want ParamError for %s", tc.name, err, tc.field)
			case tc.field == "" && !errors.As(err, &ie):
				t.Errorf("%s: %v, want InvalidError", tc.name, err)
			}
		}
		if ts, _, _ := f.s.List(f.ctx, f.a, "", 10); len(ts) != 0 {
			t.Errorf("refused templates were stored: %v", ts)
		}
		// A name of 64 characters from the whole alphabet is fine.
		if err := f.s.Create(f.ctx, f.a, template.Template{Name: string(long[:54]) + "Z_9-zZ_9-z", Content: template.Content{Text: "x"}}); err != nil {
			t.Error(err)
		}
	})
}

func TestStoreLimitAndPaging(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.s.SetLimit(5)
		for i := range 5 {
			f.now = f.now.Add(time.Second)
			if err := f.s.Create(f.ctx, f.a, template.Template{Name: fmt.Sprintf("t%d", 4-i), Content: template.Content{Text: "x"}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.s.Create(f.ctx, f.a, template.Template{Name: "t5", Content: template.Content{Text: "x"}}); !errors.Is(err, template.ErrLimitExceeded) {
			t.Errorf("sixth template: %v", err)
		}
		// The limit is per account.
		if err := f.s.Create(f.ctx, f.b, template.Template{Name: "t5", Content: template.Content{Text: "x"}}); err != nil {
			t.Errorf("b's first template: %v", err)
		}
		var names []string
		token := ""
		for pages := 0; ; pages++ {
			ts, next, err := f.s.List(f.ctx, f.a, token, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, tp := range ts {
				names = append(names, tp.Name)
				if tp.Created.IsZero() {
					t.Errorf("%s has no Created", tp.Name)
				}
			}
			if next == "" {
				if pages != 2 {
					t.Errorf("%d pages, want 3", pages+1)
				}
				break
			}
			token = next
		}
		if fmt.Sprint(names) != "[t0 t1 t2 t3 t4]" {
			t.Errorf("listed %v", names)
		}
		var pe *template.ParamError
		if _, _, err := f.s.List(f.ctx, f.a, "bogus!", 2); !errors.As(err, &pe) || pe.Field != "NextToken" {
			t.Errorf("bad token: %v", err)
		}
	})
}

// TestStoreLimitConcurrent: concurrent creates never take an account past
// its limit (PostgreSQL would otherwise let each count before the others
// insert).
func TestStoreLimitConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.s.SetLimit(3)
		const n = 8
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs <- f.s.Create(f.ctx, f.a, template.Template{Name: fmt.Sprintf("c%d", i), Content: template.Content{Text: "x"}})
			})
		}
		wg.Wait()
		close(errs)
		created := 0
		for err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, template.ErrLimitExceeded):
				t.Errorf("Create: %v", err)
			}
		}
		ts, _, err := f.s.List(f.ctx, f.a, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if created != 3 || len(ts) != 3 {
			t.Errorf("%d created, %d stored; want 3 (the limit)", created, len(ts))
		}
	})
}
