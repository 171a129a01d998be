// Package notifiers will hold remediator's notification channels, one
// subpackage per integration (twilio, email, dingtalk, …), each
// implementing the engine's Notifier interface. Nothing is implemented here
// yet: until then incident transitions are only logged by the engine (see
// README.md, "Status").
package notifiers
