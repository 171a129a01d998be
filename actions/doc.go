// Package actions groups remediator's remediation actions, one subpackage
// per kind — exec, http, systemd, kubernetes — each implementing
// engine.Action, and template, the safe templating they share. The engine
// that runs them after a webhook's 200, with cooldowns, circuit breakers,
// locks, approval and verification, is still to come; today `explain`
// renders them.
package actions
