package rules

// TeamConfig is a named group of people; a step's team:NAME pages them
// all.
type TeamConfig struct {
	Name    string   `yaml:"name"`
	Members []string `yaml:"members"`
}

// EscalationConfig is a chain: its steps page in turn, each after the
// previous one's wait, until someone acknowledges; then the chain
// repeats Repeat more times.
type EscalationConfig struct {
	Steps []EscalationStepConfig `yaml:"steps"`
	// Repeat is how many more times the whole chain runs after its last
	// step. Default 0.
	Repeat int `yaml:"repeat"`
	// AckTimeout, when set, is how long an acknowledgement holds: then the
	// incident is open again and the chain starts over.
	AckTimeout Duration `yaml:"ack_timeout"`
}

// EscalationStepConfig is one step of a chain.
type EscalationStepConfig struct {
	// Notify lists targets: schedule:NAME (who is on call),
	// schedule-next:NAME (who is on call next), person:ID, team:NAME, or
	// paged (everyone paged so far for the incident).
	Notify []string `yaml:"notify"`
	// Via lists the channels each person is reached on (phone, sms,
	// email, im, app).
	Via []string `yaml:"via"`
	// Wait is how long this step waits for an acknowledgement before the
	// next one. The first step's default is its level's respond_within.
	Wait Duration `yaml:"wait"`
}
