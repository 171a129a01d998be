package message

import "github.com/remediator/remediator/engine"

// kindDefaults is one kind's default templates: a title and body shared by
// every event (the title names the event), and an HTML part for email.
type kindDefaults struct {
	Template
	// perEvent replaces parts for one event.
	perEvent map[string]Template
}

func (k kindDefaults) forEvent(ev string) Template {
	t := k.Template
	if o, ok := k.perEvent[ev]; ok {
		if o.Title != "" {
			t.Title = o.Title
		}
		if o.Body != "" {
			t.Body = o.Body
		}
		if o.HTML != "" {
			t.HTML = o.HTML
		}
	}
	return t
}

const defaultTitle = `[{{eventTag .Event}}] {{.Priority}} {{.Level}} #{{.Incident.ID}} {{.Incident.Title}}`

// byLine says who acknowledged or resolved, or who reported what failed.
const byLine = `{{if .By}}{{if eq .Event "acknowledged"}}Acknowledged{{else if eq .Event "resolved"}}Resolved{{else}}Reported{{end}} by {{.By}}.{{end}}{{if .Detail}} {{.Detail}}{{end}}`

const textBody = byLine + `
{{if .Summary}}{{.Summary}}
{{end}}Status: {{.Status}}, {{len .Firing}} firing, {{len .Resolved}} resolved.
{{if and (set .RespondBy) (ne .Status "resolved")}}Respond by {{time .Location .RespondBy}}, resolve by {{time .Location .ResolveBy}}.
{{end}}{{range .Firing}}- {{describe .}}
{{end}}{{if .RunbookURL}}Runbook: {{.RunbookURL}}
{{end}}{{if .Ack}}{{.Ack}}
{{end}}{{.URL}}`

const markdownBody = `### {{eventTag .Event}} {{.Priority}} #{{.Incident.ID}} {{.Incident.Title}}
` + byLine + `

{{if .Summary}}{{.Summary}}

{{end}}**Level** {{.Level}} · **Status** {{.Status}} · {{len .Firing}} firing, {{len .Resolved}} resolved
{{if and (set .RespondBy) (ne .Status "resolved")}}
**Respond by** {{time .Location .RespondBy}} · **Resolve by** {{time .Location .ResolveBy}}
{{end}}
{{range .Firing}}- {{describe .}}
{{end}}{{if .RunbookURL}}
[Runbook]({{.RunbookURL}})
{{end}}{{if .Ack}}
{{.Ack}}
{{end}}
[Incident #{{.Incident.ID}}]({{.URL}})`

const slackBody = byLine + `
{{if .Summary}}{{.Summary}}
{{end}}*Level* {{.Level}} · *Status* {{.Status}} · {{len .Firing}} firing, {{len .Resolved}} resolved
{{if and (set .RespondBy) (ne .Status "resolved")}}*Respond by* {{time .Location .RespondBy}} · *Resolve by* {{time .Location .ResolveBy}}
{{end}}{{range .Firing}}• {{describe .}}
{{end}}{{if .RunbookURL}}<{{.RunbookURL}}|Runbook>
{{end}}<{{.URL}}|Incident #{{.Incident.ID}}>`

const emailHTML = `<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Priority}} {{.Level}}: {{.Incident.Title}}</h2>
<p><strong>{{eventTag .Event}}</strong>{{if .By}} by {{.By}}{{end}}{{if .Detail}}: {{.Detail}}{{end}}</p>
{{if .Summary}}<p>{{.Summary}}</p>{{end}}
<p>Status: {{.Status}}, {{len .Firing}} firing, {{len .Resolved}} resolved.
{{if and (set .RespondBy) (ne .Status "resolved")}}<br>Respond by {{time .Location .RespondBy}}, resolve by {{time .Location .ResolveBy}}.{{end}}</p>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>Alert</th><th>Status</th><th>Labels</th></tr>
{{range .Alerts}}<tr><td>{{describe .}}</td><td>{{.Status}}</td><td>{{join (sortedLabels .Labels) ", "}}</td></tr>
{{end}}</table>
{{if .RunbookURL}}<p><a href="{{.RunbookURL}}">Runbook</a></p>{{end}}
{{if .Ack}}<p>{{.Ack}}</p>{{end}}
<p><a href="{{.URL}}">Incident #{{.Incident.ID}} in remediator</a></p>
</body></html>`

const digestTitle = `[DIGEST] {{len .All}} incidents: #{{.Incident.ID}} {{.Incident.Title}} and more`

const digestText = `{{len .All}} incidents waited to be sent together:
{{range .All}}- {{.Priority}} {{.Level}} #{{.Incident.ID}} {{.Incident.Title}}: {{len .Firing}} firing{{if .Summary}}, {{.Summary}}{{end}}
  {{.URL}}
{{end}}{{if .Ack}}{{.Ack}}{{end}}`

const digestMarkdown = `### DIGEST: {{len .All}} incidents
{{range .All}}
- **{{.Priority}} {{.Level}}** [#{{.Incident.ID}} {{.Incident.Title}}]({{.URL}}): {{len .Firing}} firing{{if .Summary}}, {{.Summary}}{{end}}{{end}}`

const digestSlack = `{{len .All}} incidents waited to be sent together:
{{range .All}}• *{{.Priority}} {{.Level}}* <{{.URL}}|#{{.Incident.ID}} {{.Incident.Title}}>: {{len .Firing}} firing{{if .Summary}}, {{.Summary}}{{end}}
{{end}}`

const digestHTML = `<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{len .All}} incidents</h2>
<table border="1" cellpadding="4" cellspacing="0">
<tr><th>Priority</th><th>Level</th><th>Incident</th><th>Firing</th><th>Summary</th></tr>
{{range .All}}<tr><td>{{.Priority}}</td><td>{{.Level}}</td><td><a href="{{.URL}}">#{{.Incident.ID}} {{.Incident.Title}}</a></td><td>{{len .Firing}}</td><td>{{.Summary}}</td></tr>
{{end}}</table>
</body></html>`

var defaults = map[Kind]kindDefaults{
	KindSMS: {Template: Template{
		Title: defaultTitle,
		Body:  `{{eventTag .Event}} {{.Priority}} #{{.Incident.ID}} {{.Incident.Title}}.{{if .By}} By {{.By}}.{{end}}{{if .Ack}} {{.Ack}}{{end}}`,
	}, perEvent: map[string]Template{
		EventDigest: {Title: digestTitle, Body: `{{len .All}} incidents:{{range .All}} {{.Priority}} #{{.Incident.ID}} {{.Incident.Title}};{{end}}{{if .Ack}} {{.Ack}}{{end}}`},
	}},
	KindVoice: {Template: Template{
		Title: defaultTitle,
		Body: `This is remediator. {{.Priority}} {{.Level}} incident {{.Incident.ID}}: {{.Incident.Title}}. ` +
			`{{len .Firing}} alerts firing.{{if .Summary}} {{.Summary}}.{{end}}`,
	}, perEvent: map[string]Template{
		engine.NotifyEscalated: {Body: `This is remediator. Escalated: {{.Priority}} {{.Level}} incident {{.Incident.ID}}: {{.Incident.Title}} is not acknowledged. {{len .Firing}} alerts firing.`},
		EventDigest:            {Title: digestTitle, Body: `This is remediator. {{len .All}} incidents.{{range .All}} {{.Priority}} incident {{.Incident.ID}}: {{.Incident.Title}}.{{end}} The menu acts on incident {{.Incident.ID}}.`},
	}},
	KindEmail: {Template: Template{Title: defaultTitle, Body: textBody, HTML: emailHTML},
		perEvent: map[string]Template{EventDigest: {Title: digestTitle, Body: digestText, HTML: digestHTML}}},
	KindMarkdown: {Template: Template{Title: defaultTitle, Body: markdownBody},
		perEvent: map[string]Template{EventDigest: {Title: digestTitle, Body: digestMarkdown}}},
	KindSlack: {Template: Template{Title: defaultTitle, Body: slackBody},
		perEvent: map[string]Template{EventDigest: {Title: digestTitle, Body: digestSlack}}},
	KindText: {Template: Template{Title: defaultTitle, Body: textBody},
		perEvent: map[string]Template{EventDigest: {Title: digestTitle, Body: digestText}}},
}
