package workflow

import "encoding/json"

// Description is what describing a workflow tells: its inputs' schema, its outputs' names,
// its steps.
type Description struct {
	Inputs  json.RawMessage
	Outputs []string // sorted
	Steps   []StepDescription
}

// StepDescription is a step of a Description: its kind is "call", "map" or "sleep"; App
// and Path name the function of a call or map step.
type StepDescription struct {
	Name      string
	Kind      string
	Needs     []string
	App, Path string
}

// Kinds of steps in a Description.
const (
	KindCall  = "call"
	KindMap   = "map"
	KindSleep = "sleep"
)

// Describe tells what the program's workflow takes, gives and does.
func (p *Program) Describe() Description {
	d := Description{Inputs: p.Def.Inputs, Outputs: sortedKeys(p.Def.Outputs), Steps: make([]StepDescription, len(p.Steps))}
	for i, sp := range p.Steps {
		sd := StepDescription{Name: sp.Name, Kind: KindSleep, Needs: append([]string(nil), sp.Step.Needs...)}
		if sp.Call != nil {
			sd.Kind, sd.App, sd.Path = KindCall, sp.Call.App, sp.Call.Path
			if sp.Map != nil {
				sd.Kind = KindMap
			}
		}
		d.Steps[i] = sd
	}
	return d
}
