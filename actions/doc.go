// Package actions will hold remediator's remediation actions, one
// subpackage per kind (exec, http, systemd, kubernetes), each implementing
// the engine's Action interface. Nothing is implemented here yet: the
// spine only ingests and tracks incidents; guarded remediation is the next
// step (see README.md, "Status").
package actions
