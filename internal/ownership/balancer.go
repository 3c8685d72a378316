package ownership

import (
	"slices"
	"strconv"
	"sync"

	"github.com/segmentio/kafka-go"
)

// sticky gives the state partition to the member that held it in the most
// recent generation (each member tells, in its join's user data, the last
// generation in which it held the partition; -1 for none), else to the
// member with the lowest id. A member joining or leaving the group then
// does not move the ownership, and a paused owner that comes back claims
// an older generation than the one that took over.
type sticky struct {
	mu   sync.Mutex
	held int32 // the last generation in which this member held the partition; -1 none
}

func newSticky() *sticky { return &sticky{held: -1} }

// ProtocolName names the assignment protocol: every member must use it.
func (s *sticky) ProtocolName() string { return "imreport-owner" }

// UserData is the last generation this member held the partition in.
func (s *sticky) UserData() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.AppendInt(nil, int64(s.held), 10), nil
}

// setHeld records the generation this member holds the partition in (-1:
// it does not).
func (s *sticky) setHeld(gen int32) {
	s.mu.Lock()
	s.held = gen
	s.mu.Unlock()
}

// AssignGroups gives every partition (there is one) to the chosen member.
func (s *sticky) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	out := kafka.GroupMemberAssignments{}
	if len(members) == 0 {
		return out
	}
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b kafka.GroupMember) int {
		ha, hb := heldOf(a), heldOf(b)
		if ha != hb {
			return int(hb - ha) // the most recent holder first
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	for _, m := range members {
		out[m.ID] = map[string][]int{}
	}
	chosen := members[0].ID
	for _, p := range partitions {
		out[chosen][p.Topic] = append(out[chosen][p.Topic], p.ID)
	}
	return out
}

// heldOf reads a member's user data; -1 when absent or unreadable.
func heldOf(m kafka.GroupMember) int64 {
	n, err := strconv.ParseInt(string(m.UserData), 10, 32)
	if err != nil {
		return -1
	}
	return n
}
