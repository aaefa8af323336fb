package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// parseTemplates parses every page with the shared layout.
func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			case *time.Time:
				if v == nil {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			return ""
		},
		"ago":   func(t time.Time) string { return ago(s.o.Now().Sub(t)) },
		"add":   func(a, b int) int { return a + b },
		"sub":   func(a, b int) int { return a - b },
		"has":   func(m map[string]string, k string) bool { _, ok := m[k]; return ok },
		"upper": strings.ToUpper,
		"money": func(v float64) string { return fmt.Sprintf("%.5f", v) },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
	}
	layout, err := fs.ReadFile(assets, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(assets, n)
		if err != nil {
			return err
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err != nil {
			return fmt.Errorf("layout: %w", err)
		}
		if _, err := t.Parse(string(body)); err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		s.pages[name] = t
	}
	return nil
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// render writes a page with status (0: 200). data's keys are the page's; the layout adds User, Account, CSRF,
// Nav (the section to highlight) and NoFactor (to urge enrolment).
func (s *Server) render(r *request, page string, status int, data map[string]any) {
	t := s.pages[page]
	if t == nil {
		s.log.Error("no such console template", "page", page)
		http.Error(r.w, "internal error", http.StatusInternalServerError)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["CSRF"] = r.csrf()
	data["SignupOpen"] = s.id.SignupOpen()
	if r.sess != nil && !r.sess.Pending() && r.acct != nil {
		data["User"] = r.sess.User
		data["Account"] = r.acct
		data["CanWrite"] = r.sess.User.Role != "read-only"
		data["IsOwner"] = r.sess.User.Role == "owner"
		if has, err := s.id.HasSecondFactor(r.Context(), r.sess.User); err == nil && !has {
			data["NoFactor"] = true
		}
	}
	if _, ok := data["Nav"]; !ok {
		data["Nav"] = ""
	}
	if _, ok := data["Form"]; !ok {
		data["Form"] = url.Values{}
	}
	if _, ok := data["Errors"]; !ok {
		data["Errors"] = map[string]string{}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render console page", "page", page, "err", err)
		http.Error(r.w, "internal error", http.StatusInternalServerError)
		return
	}
	r.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status != 0 {
		r.w.WriteHeader(status)
	}
	r.w.Write(buf.Bytes())
}

// formError renders page again with the user's input and an error next to its field.
func (s *Server) formError(r *request, page string, data map[string]any, field, msg string) {
	if data == nil {
		data = map[string]any{}
	}
	if field == "" {
		field = "form"
	}
	data["Errors"] = map[string]string{field: msg}
	data["Form"] = r.PostForm
	s.render(r, page, http.StatusUnprocessableEntity, data)
}
