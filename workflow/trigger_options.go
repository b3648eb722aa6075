package workflow

// TriggerOptions are the options of a trigger of a run (Engine.Trigger).
type TriggerOptions struct {
	// TriggeredBy is who starts the run (the caller's identity name).
	TriggeredBy string
	// IdempotencyKey, when set, makes a second trigger with it by the same TriggeredBy
	// answer the run the first one started.
	IdempotencyKey string
	// CoerceStrings converts input values sent as strings to the types the inputs schema
	// asks for (the /waas surface, whose clients send every value as a string).
	CoerceStrings bool
}
