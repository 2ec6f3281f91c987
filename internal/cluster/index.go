package cluster

import (
	"html/template"
	"net/http"

	"github.com/upisim/upisim/internal/config"
)

// consoleFor is the console the node of role is to serve in a network of
// o: the TPAP's HTTP port serves it.
func consoleFor(o UpOptions, role string) http.Handler {
	if role != config.RoleTPAP {
		return nil
	}
	return o.Console
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>upisim {{.Name}}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2em;color:#1d2330}code{background:#f2f3f5;padding:0 .3em}</style></head>
<body>
<h1>upisim node <code>{{.Name}}</code></h1>
<p>Role: <strong>{{.Role}}</strong>. This is the node's HTTP port: its app-facing REST API (JSON) and these pages.</p>
<ul>
{{if .Console}}<li><a href="/console/">Web console</a>: the network, live transactions, sequence diagrams, pay / collect / approve</li>
{{end}}<li><a href="/openapi.json">/openapi.json</a>: the REST API this node serves</li>
<li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
</ul>
</body></html>
`))

// indexHandler answers GET / with a small HTML index: the node's name and
// role, and links to its API document, its metrics and, when it serves
// one, the console.
func indexHandler(name, role string, console bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		indexPage.Execute(w, struct {
			Name, Role string
			Console    bool
		}{name, role, console})
	})
}
