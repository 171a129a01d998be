// Package actions groups remediator's remediation actions, one subpackage
// per kind — exec, http, systemd, kubernetes — each implementing
// engine.Action, and template, the safe templating they share. The engine
// decides and runs them (engine/remediate.go).
package actions
