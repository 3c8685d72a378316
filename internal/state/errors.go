package state

import "errors"

var (
	// ErrFormat is returned by Decode (and by Open, wrapped, for the newest
	// snapshot of the app) when a state record is not a snapshot this
	// build reads.
	ErrFormat = errors.New("not a snapshot of this format")

	// ErrUnknownHistory is returned by Open when the checkpoint is new or
	// lost, the state topic holds no snapshot of the app, and the topic
	// holds records of the app key: they were written by a version without
	// snapshots, or with another state topic, and starting over would
	// publish them again.
	ErrUnknownHistory = errors.New("the topic holds records of this app key but no snapshot")

	// ErrIdentity is returned by Open when the newest snapshot under the
	// app key names another topic.
	ErrIdentity = errors.New("snapshot of another topic")
)
