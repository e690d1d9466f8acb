package harness

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// copyCredentials copies the pki/ directory of the data directory from into
// the data directory to, unless to has one: a server that has started once
// keeps its own.
func copyCredentials(from, to string) error {
	src, dst := filepath.Join(from, "pki"), filepath.Join(to, "pki")
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("harness: CredentialsFrom: %w", err)
	}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		return fmt.Errorf("harness: copying the credentials of %s: %w", from, err)
	}
	return nil
}
