//go:build !linux

package store

import "os"

func openUnnamed(string) (*os.File, bool, error) { return nil, false, nil }

func linkUnnamed(*os.File, string) error { return os.ErrInvalid }
