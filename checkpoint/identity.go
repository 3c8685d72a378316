package checkpoint

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Identity binds a checkpoint to what it tracks: the vendor app whose
// messages are copied and the Kafka topic they are copied to. It is stored
// by the first Bind; later Binds must match it exactly. Neither field is a
// secret: both appear in error messages.
type Identity struct {
	AppKey string
	Topic  string
}

// String formats the identity for messages.
func (id Identity) String() string {
	return fmt.Sprintf("app key %q, topic %q", id.AppKey, id.Topic)
}

// isZero reports whether no identity is stored.
func (id Identity) isZero() bool { return id == Identity{} }

// Bind stores id in the file if it has no identity yet, and otherwise
// checks that the stored identity equals id: ErrIdentityMismatch if not.
// Both fields must be non-empty. On a read-only Store, Bind only checks:
// it returns ErrReadOnly if the file has no identity.
// Binding an identity that is already stored writes nothing.
func (s *Store) Bind(id Identity) error {
	if id.AppKey == "" || id.Topic == "" {
		return s.errorf("bind", fmt.Errorf("identity needs a non-empty app key and topic (got %s)", id))
	}
	var stored Identity
	err := s.view("bind", func(tx *bolt.Tx) error {
		if s.fresh {
			return nil
		}
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		stored, err = readIdentity(b.meta)
		return err
	})
	if err != nil {
		return err
	}
	if !stored.isZero() {
		return s.matchIdentity(stored, id)
	}
	if s.readOnly {
		return s.errorf("bind", fmt.Errorf("%w: cannot store identity (%s)", ErrReadOnly, id))
	}
	err = s.update("bind", func(tx *bolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		// Re-read under the write lock: another goroutine may have bound
		// the file since the View above.
		if stored, err = readIdentity(b.meta); err != nil {
			return err
		}
		if !stored.isZero() {
			return errBound
		}
		if err := b.meta.Put(keyAppKey, []byte(id.AppKey)); err != nil {
			return err
		}
		return b.meta.Put(keyTopic, []byte(id.Topic))
	})
	if errors.Is(err, errBound) {
		return s.matchIdentity(stored, id)
	}
	return err
}

// errBound aborts Bind's write transaction when an identity turned out to be
// stored already; it never leaves the package.
var errBound = errors.New("identity already bound")

// matchIdentity returns nil if stored equals id, else ErrIdentityMismatch.
func (s *Store) matchIdentity(stored, id Identity) error {
	if stored == id {
		return nil
	}
	return s.errorf("bind", fmt.Errorf("%w: file is bound to %s; caller has %s", ErrIdentityMismatch, stored, id))
}

// readIdentity returns the stored identity, zero if none. A file with only
// one of the two fields is ErrCorrupt.
func readIdentity(meta *bolt.Bucket) (Identity, error) {
	app, topic := meta.Get(keyAppKey), meta.Get(keyTopic)
	if (app == nil) != (topic == nil) {
		return Identity{}, corruptf("meta has only one of %q and %q", keyAppKey, keyTopic)
	}
	return Identity{AppKey: string(app), Topic: string(topic)}, nil
}
