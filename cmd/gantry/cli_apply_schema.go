package main

// This file holds the schema of a project file (`gantry apply -f gantry.yaml`): the Go
// types that name each field the file may hold, read by the decoder of cli_apply_file.go,
// the diff of cli_apply_diff.go and `gantry export`.

// The schema of a project file. The `yaml` tag is the key in the file (and the field's
// name in the API's JSON); `apply:"required"` marks what each entry must have;
// `apply:"writeonly"` marks what the server never returns (compared never, sent when the
// value holding it is sent, left out of exports); `apply:"file"` marks what the file holds
// but the API has no field for.
type projectFile struct {
	Images        []fileImage        `yaml:"images"`
	Apps          []fileApp          `yaml:"apps"`
	APIs          []fileAPI          `yaml:"apis"`
	Workflows     []fileWorkflow     `yaml:"workflows"`
	Subscriptions []fileSubscription `yaml:"subscriptions"`
	Schedules     []fileSchedule     `yaml:"schedules"`
}

// fileImage is an image: pulled from a reference, built from a context directory (or a
// tar or tar.gz of one), or loaded from a `docker save` tarball. Paths are relative to the
// project file's directory. `source` is implied by which of reference, context and load
// is given; an image that exists needs none of them (an export writes `source` alone).
type fileImage struct {
	Name       string `yaml:"name" apply:"required"`
	Kind       string `yaml:"kind"`
	Source     string `yaml:"source"`
	Reference  string `yaml:"reference"`
	Context    string `yaml:"context" apply:"file"`
	Load       string `yaml:"load" apply:"file"`
	Dockerfile string `yaml:"dockerfile"`
	Base       string `yaml:"base"`
	Network    string `yaml:"network"`
}

type fileApp struct {
	Name   string            `yaml:"name" apply:"required"`
	Config map[string]string `yaml:"config"`
	Routes []fileRoute       `yaml:"routes" apply:"file"`
}

type fileRoute struct {
	Path           string              `yaml:"path" apply:"required"`
	Image          string              `yaml:"image" apply:"required"`
	Type           string              `yaml:"type"`
	Format         string              `yaml:"format"`
	Memory         int64               `yaml:"memory"`
	CPUs           float64             `yaml:"cpus"`
	Timeout        int64               `yaml:"timeout"`
	IdleTimeout    int64               `yaml:"idle_timeout"`
	MaxConcurrency int64               `yaml:"max_concurrency"`
	MaxRetries     int64               `yaml:"max_retries"`
	Network        string              `yaml:"network"`
	Auth           string              `yaml:"auth"`
	Headers        map[string][]string `yaml:"headers"`
	Config         map[string]string   `yaml:"config"`
	Secrets        []string            `yaml:"secrets"`
}

type fileAPI struct {
	Name           string          `yaml:"name" apply:"required"`
	Hosts          []string        `yaml:"hosts"`
	URIs           []string        `yaml:"uris"`
	Methods        []string        `yaml:"methods"`
	Protocols      []string        `yaml:"protocols"`
	Function       *fileAPIFunc    `yaml:"function" apply:"required"`
	Enabled        bool            `yaml:"enabled"`
	HTTPSOnly      bool            `yaml:"https_only"`
	Timeout        int64           `yaml:"timeout"`
	MaxBodyBytes   int64           `yaml:"max_body_bytes"`
	Authentication string          `yaml:"authentication"`
	BasicUsers     []fileBasicUser `yaml:"basic_users"`
	OIDC           *fileOIDC       `yaml:"oidc"`
	CORS           *fileCORS       `yaml:"cors"`
	RateLimit      *fileRateLimit  `yaml:"rate_limit"`
}

type fileAPIFunc struct {
	App   string `yaml:"app" apply:"required"`
	Route string `yaml:"route" apply:"required"`
}

type fileBasicUser struct {
	Username string `yaml:"username" apply:"required"`
	Password string `yaml:"password" apply:"writeonly"`
}

type fileOIDC struct {
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
}

type fileCORS struct {
	Origins []string `yaml:"origins"`
	Methods []string `yaml:"methods"`
	Headers []string `yaml:"headers"`
}

type fileRateLimit struct {
	RPS   float64 `yaml:"rps" apply:"required"`
	Burst int64   `yaml:"burst"`
	Per   string  `yaml:"per"`
}

type fileWorkflow struct {
	Name        string            `yaml:"name" apply:"required"`
	Description string            `yaml:"description"`
	Inputs      any               `yaml:"inputs"`
	Outputs     map[string]string `yaml:"outputs"`
	Steps       []any             `yaml:"steps" apply:"required"`
	RunAccess   []string          `yaml:"run_access"`
}

type fileSubscription struct {
	Name       string         `yaml:"name" apply:"required"`
	Filter     *fileSubFilter `yaml:"filter" apply:"required"`
	Target     *fileSubTarget `yaml:"target" apply:"required"`
	Enabled    bool           `yaml:"enabled"`
	Retry      *fileRetry     `yaml:"retry"`
	DeadLetter string         `yaml:"dead_letter"`
	Scope      string         `yaml:"scope"`
}

type fileSubFilter struct {
	Type    string `yaml:"type" apply:"required"`
	Source  string `yaml:"source"`
	Subject string `yaml:"subject"`
}

type fileSubTarget struct {
	Function *fileFuncTarget `yaml:"function"`
	Workflow string          `yaml:"workflow"`
}

type fileFuncTarget struct {
	App  string `yaml:"app" apply:"required"`
	Path string `yaml:"path" apply:"required"`
}

type fileRetry struct {
	MaxAttempts int64  `yaml:"max_attempts"`
	Initial     string `yaml:"initial"`
	Max         string `yaml:"max"`
}

type fileSchedule struct {
	Name     string              `yaml:"name" apply:"required"`
	Cron     string              `yaml:"cron" apply:"required"`
	Timezone string              `yaml:"timezone"`
	Target   *fileScheduleTarget `yaml:"target" apply:"required"`
	Missed   string              `yaml:"missed"`
	Enabled  bool                `yaml:"enabled"`
}

type fileScheduleTarget struct {
	Call     *fileScheduledCall     `yaml:"call"`
	Workflow *fileScheduledWorkflow `yaml:"workflow"`
	Event    *fileScheduledEvent    `yaml:"event"`
}

type fileScheduledCall struct {
	App     string              `yaml:"app" apply:"required"`
	Path    string              `yaml:"path" apply:"required"`
	Method  string              `yaml:"method"`
	Body    string              `yaml:"body"`
	Headers map[string][]string `yaml:"headers"`
}

type fileScheduledWorkflow struct {
	Name   string `yaml:"name" apply:"required"`
	Inputs any    `yaml:"inputs"`
}

type fileScheduledEvent struct {
	Type            string `yaml:"type" apply:"required"`
	Subject         string `yaml:"subject"`
	Data            any    `yaml:"data"`
	Datacontenttype string `yaml:"datacontenttype"`
}
