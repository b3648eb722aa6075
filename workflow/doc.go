// Package workflow owns workflows: their definitions (parsed and checked here: steps,
// dependencies, JSON Schema inputs, JSONPath templates, expr conditions), and the engine
// that runs them. Every step attempt is an async call through the one invocation path
// (package invoke); the engine moves a run on when one of its calls ends (the store's
// ChangeChild), persists each change of a run before it acts on it, and resumes the runs
// left unfinished after a crash or a restart.
package workflow
