package consumer

import "testing"

// Per-user file names never leave the output directory.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"alice", "../x", "a/b", "..", ".", "", "system:serviceaccount:ns:sa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, user string) {
		name := FileName(user)
		for _, c := range name {
			if c == '/' || c == 0 {
				t.Fatalf("file name %q from %q", name, user)
			}
		}
		if name == ".log" || name == "..log" {
			return
		}
		if name == "." || name == ".." {
			t.Fatalf("file name %q from %q", name, user)
		}
	})
}
