package sink

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// Each bad combination of audit-sink's flags is refused, naming the flag.
func TestCommandOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert-file=c.pem"}, "--tls-cert-file and --tls-private-key-file must be given together"},
		{[]string{"--client-ca-file=ca.pem"}, "--client-ca-file needs --tls-cert-file"},
		{[]string{"--per-user"}, "--per-user needs --output-dir"},
		{[]string{"--fail-status=200"}, "--fail-status 200: want an HTTP error status (400-599)"},
		{[]string{"--policy=p.yaml"}, "--policy needs --console-address"},
		{[]string{"--elasticsearch-url=http://127.0.0.1:9200", "--elasticsearch-batch-size=0"}, "must be positive"},
		{[]string{"--output-dir=/tmp/x", "--per-user", "--fail-status=503"}, ""},
	} {
		o := NewCommandOptions()
		fs := pflag.NewFlagSet("audit-sink", pflag.ContinueOnError)
		o.AddFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		err := o.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
