package workflow

// TriggerOptions say who starts a run and how its inputs are read.
type TriggerOptions struct {
	TriggeredBy string
	// IdempotencyKey, when set, makes a second trigger by the same TriggeredBy with it
	// answer the run the first one started.
	IdempotencyKey string
	// CoerceStrings converts inputs sent as strings to the types the inputs' schema declares.
	CoerceStrings bool
}
