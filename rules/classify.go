package rules

import (
	"time"

	"github.com/remediator/remediator/engine"
)

// Classifier gives an alert its level from the config: the value of the
// classify label when it names a level, otherwise the default level.
type Classifier struct {
	label string
	def   engine.Level
	rank  map[engine.Level]int
}

var _ engine.Classifier = (*Classifier)(nil)

// NewClassifier builds the classifier of a validated config.
func NewClassifier(c *Config) *Classifier {
	cl := &Classifier{label: c.Classify.Label, def: engine.Level(c.Classify.Default), rank: map[engine.Level]int{}}
	for i, l := range c.Levels {
		cl.rank[engine.Level(l.Name)] = i
	}
	return cl
}

// Classify returns a's level.
func (c *Classifier) Classify(in *engine.ClassifyInput) engine.Level {
	l, _ := c.Explain(in)
	return l
}

// Explain returns a's level and why.
func (c *Classifier) Explain(in *engine.ClassifyInput) (engine.Level, []engine.RuleTrace) {
	if l := engine.Level(in.Alert.Labels[c.label]); l != "" {
		if _, ok := c.rank[l]; ok {
			return l, []engine.RuleTrace{{Level: l, Matched: true, Reason: "label " + c.label + " names it"}}
		}
	}
	return c.def, []engine.RuleTrace{{Level: c.def, Matched: true, Reason: "default level"}}
}

// SLA is not configured yet.
func (c *Classifier) SLA(engine.Level, time.Time) (string, time.Time, time.Time) {
	return "", time.Time{}, time.Time{}
}

// Rank orders levels, 0 the most urgent; an unknown level ranks last.
func (c *Classifier) Rank(l engine.Level) int {
	if r, ok := c.rank[l]; ok {
		return r
	}
	return len(c.rank)
}
