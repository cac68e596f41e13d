package sfu

import (
	"fmt"

	"github.com/geofence/geofence/crypto/keywrap"
	"github.com/geofence/geofence/wire"
)

// The e2ee leader flow (DESIGN.md section 8, docs/rtc.md): in an end-to-end encrypted
// meeting the home's media server names the key leader, the earliest-admitted participant
// still in the meeting (across bridges) that has a public key, and every server relays the
// leader's envelopes of the meeting key to their targets, over bridges both ways. A server
// checks who sends an envelope to whom, never what is in it: nothing relayed is secret, and
// the wrap binds the meeting, epoch and target, so a relay that rewrote them would only make
// it fail to open.

// isE2EE reports whether the room's meeting is end-to-end encrypted.
func (r *room) isE2EE() bool { return r.mode == wire.ModeE2EE }

// leaderLocked is the leader as announced here: the epoch is the highest this server and,
// at a bridged datacenter, the home have relayed. The caller holds r.mu.
func (r *room) leaderLocked() *wire.Leader {
	return &wire.Leader{Ref: r.leader, Epoch: max(r.maxEpoch, r.homeEpoch)}
}

// electLocked, at the meeting's home, makes the earliest-admitted participant still in the
// meeting its key leader, and tells every participant here and every bridge when that
// changes. The leader changes only when it leaves (a later participant is never earlier).
// The caller holds r.mu.
func (r *room) electLocked() {
	if !r.isE2EE() || r.home != r.s.cfg.ID {
		return
	}
	var best *publisher
	for _, pub := range r.pubs {
		if pub.info.PublicKey != "" && (best == nil || pub.seq < best.seq) {
			best = pub
		}
	}
	ref := ""
	if best != nil {
		ref = best.info.Ref
	}
	if ref == r.leader {
		return
	}
	r.leader = ref
	r.s.log.Info("key leader", "meeting", r.id, "leader", ref, "epoch", r.maxEpoch)
	r.announceLeaderLocked()
}

// announceLeaderLocked sends the leader to everyone here who hears it: participants, and
// at the home the bridges to other datacenters. The caller holds r.mu.
func (r *room) announceLeaderLocked() {
	l := r.leaderLocked()
	for p := range r.peers {
		if p.kind != peerBridgeOut {
			p.sig.send(wire.Signal{Type: wire.SignalLeader, Leader: l})
		}
	}
}

// noteEpoch records an epoch a bridged datacenter relayed (its bridge message says so), so
// that the next leader chosen here starts above it.
func (r *room) noteEpoch(epoch uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxEpoch = max(r.maxEpoch, epoch)
}

// homeLeader takes the home's choice of leader, at a bridged datacenter, and relays it to the
// participants here.
func (r *room) homeLeader(l wire.Leader) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.isE2EE() {
		return
	}
	r.homeEpoch = max(r.homeEpoch, l.Epoch)
	r.leader = l.Ref
	r.announceLeaderLocked()
}

// keyRefusal is why an envelope is not relayed.
type keyRefusal struct{ code, msg string }

// relayKey relays envelope m, which arrived on via, to its target, or refuses it: a
// participant sending it is told why (an error naming the target, the connection stays up);
// a refusal of one arriving on a bridge is logged and counted.
func (r *room) relayKey(via *peer, m wire.Signal) {
	sender := m.From
	if via.kind == peerParticipant {
		sender = via.self.info.Ref
	}
	target := m.Participant.Ref
	to, ref := r.routeKey(via, sender, target, m.Key)
	if ref != nil {
		r.s.metrics.keys.WithLabelValues(ref.code).Inc()
		r.s.log.Info("key envelope refused", "meeting", r.id, "from", sender, "to", target, "via", via.dc, "code", ref.code, "message", ref.msg)
		if via.kind == peerParticipant {
			via.sig.send(wire.Signal{Type: wire.SignalError, Participant: &wire.Participant{Ref: target},
				Error: &wire.Error{Error: ref.code, Message: ref.msg}})
		}
		return
	}
	r.s.metrics.keys.WithLabelValues("relayed").Inc()
	k := *m.Key
	out := wire.Signal{Type: wire.SignalKey, Key: &k, Participant: &wire.Participant{Ref: sender}}
	if to.kind != peerParticipant {
		// A bridge carries a rotation's envelopes for all its participants at once, more
		// than its queue may hold: the sender's reader waits for it (backpressure) rather
		// than the bridge be dropped as stuck.
		out.Participant, out.From = &wire.Participant{Ref: target}, sender
		to.sig.sendWait(out)
		return
	}
	to.sig.send(out)
}

// routeKey checks an envelope from sender to target arriving on via and returns the
// connection to send it on.
func (r *room) routeKey(via *peer, sender, target string, k *wire.KeyEnvelope) (*peer, *keyRefusal) {
	if !r.isE2EE() {
		return nil, &keyRefusal{wire.CodeNotE2EE, fmt.Sprintf("meeting %s is managed: its keys come from its key servers, and the media servers relay none", r.id)}
	}
	if len(k.Wrapped) > wire.MaxWrappedKey || len(k.Meeting) > keywrap.MaxIDLen || len(k.Participant) > wire.MaxEnvelopeRef {
		return nil, &keyRefusal{wire.CodeLimit, fmt.Sprintf("a key envelope holds at most %d bytes of wrapped key, a meeting id of %d and a Ref of %d", wire.MaxWrappedKey, keywrap.MaxIDLen, wire.MaxEnvelopeRef)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if sender == "" || sender != r.leader {
		who := r.leader
		if who == "" {
			who = "none yet"
		}
		return nil, &keyRefusal{wire.CodeNotLeader, fmt.Sprintf("participant %s is not the meeting's key leader (the leader is %s): only the leader sends keys", sender, who)}
	}
	from := r.pubs[sender]
	if from == nil || from.via != via {
		return nil, &keyRefusal{wire.CodeNotLeader, fmt.Sprintf("the key leader %s is not reached over this connection", sender)}
	}
	t := r.pubs[target]
	if t == nil || t == from || t.via == via {
		return nil, &keyRefusal{wire.CodeUnknownParticipant, fmt.Sprintf("no other participant of meeting %s has the Ref %q", r.id, target)}
	}
	if k.Meeting != r.id || k.Participant != target {
		return nil, &keyRefusal{wire.CodeEnvelopeMismatch, fmt.Sprintf("the envelope is for meeting %q and participant %q, but it is sent to %s of meeting %s", k.Meeting, k.Participant, target, r.id)}
	}
	if k.Epoch == 0 || k.Wrapped == "" {
		return nil, &keyRefusal{wire.CodeEnvelopeMismatch, "the envelope has no epoch (epochs count from 1) or no wrapped key"}
	}
	r.maxEpoch = max(r.maxEpoch, k.Epoch)
	return t.via, nil
}
