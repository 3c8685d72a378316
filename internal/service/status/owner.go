package status

import "time"

// Owner is this member's part in the owner group (IMREPORT_OWNER_GROUP).
type Owner struct {
	Role       string    `json:"role"` // "owner" or "standby"
	Group      string    `json:"group"`
	MemberID   string    `json:"member_id,omitempty"`
	Generation int32     `json:"generation,omitempty"`
	Since      time.Time `json:"since,omitzero"` // owner: since when; standby: since when it stands by
}

// SetOwner records this member's role. A standby runs no pipeline; it is
// ready (to take over: a rolling update of a Deployment with a standby
// must go on), and answers the vendor's callbacks 503.
func (b *Board) SetOwner(o Owner) {
	b.mu.Lock()
	b.owner = &o
	if o.Role != "owner" {
		b.streams = nil
	}
	b.mu.Unlock()
	if o.Role != "owner" {
		b.running.Store(false)
	}
}

// ownerStatus returns the role for Status, nil without an owner group.
func (b *Board) ownerStatus() *Owner {
	if b.owner == nil {
		return nil
	}
	o := *b.owner
	return &o
}
