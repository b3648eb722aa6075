package workflow

// TriggerOptions say who starts a run and how its inputs are read.
type TriggerOptions struct {
	TriggeredBy string
	// IdempotencyKey, when set, makes a second trigger by the same TriggeredBy with it
	// answer the run the first one started.
	IdempotencyKey string
	// CoerceStrings converts inputs sent as strings to the types the inputs' schema declares.
	CoerceStrings bool
	// KeepRefused makes Prepare make a run of inputs the workflow's schema refuses, set to
	// fail at its first move (an event's delivery: the failure is the delivery's, kept as a
	// dead letter and redelivered once the workflow takes it).
	KeepRefused bool
}
