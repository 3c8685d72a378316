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

	// ErrSnapshotExists is returned by Rebuild when the state topic already
	// holds a snapshot of the app key: a run restores from it.
	ErrSnapshotExists = errors.New("the state topic holds a snapshot of this app key already")

	// ErrFileHasCommits is returned by Rebuild when the checkpoint file
	// holds cursors, msgids or Kafka marks: a run continues from it and
	// writes snapshots.
	ErrFileHasCommits = errors.New("the checkpoint file holds commits")

	// ErrIdentity is returned by Open when the newest snapshot under the
	// app key names another topic.
	ErrIdentity = errors.New("snapshot of another topic")
)
