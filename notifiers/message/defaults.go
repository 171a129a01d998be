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

// byLine says who acknowledged or resolved, or what failed.
const byLine = `{{if .By}}{{if eq .Event "acknowledged"}}Acknowledged{{else if eq .Event "resolved"}}Resolved{{else}}By{{end}} by {{.By}}.{{end}}{{if .Detail}} {{.Detail}}{{end}}`

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

var defaults = map[Kind]kindDefaults{
	KindSMS: {Template: Template{
		Title: defaultTitle,
		Body:  `{{eventTag .Event}} {{.Priority}} #{{.Incident.ID}} {{.Incident.Title}}.{{if .By}} By {{.By}}.{{end}}{{if .Ack}} {{.Ack}}{{end}}`,
	}},
	KindVoice: {Template: Template{
		Title: defaultTitle,
		Body: `This is remediator. {{.Priority}} {{.Level}} incident {{.Incident.ID}}: {{.Incident.Title}}. ` +
			`{{len .Firing}} alerts firing.{{if .Summary}} {{.Summary}}.{{end}}`,
	}, perEvent: map[string]Template{
		engine.NotifyEscalated: {Body: `This is remediator. Escalated: {{.Priority}} {{.Level}} incident {{.Incident.ID}}: {{.Incident.Title}} is not acknowledged. {{len .Firing}} alerts firing.`},
	}},
	KindEmail:    {Template: Template{Title: defaultTitle, Body: textBody, HTML: emailHTML}},
	KindMarkdown: {Template: Template{Title: defaultTitle, Body: markdownBody}},
	KindSlack:    {Template: Template{Title: defaultTitle, Body: slackBody}},
	KindText:     {Template: Template{Title: defaultTitle, Body: textBody}},
}
