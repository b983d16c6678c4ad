// Make-before-break path migration of the QUIC session (src/session) on a virtual clock. The
// in-memory network knows a few links, each a path between the two sessions: which local address
// the client sends from and which server address it sends to, from which address the server sees
// the client, the one-way delay, and whether it delivers at all. The client starts on a relayed
// link (its local address the relayed one, as a TURN relay path reports it) and moves to a direct
// one while numbered DATAGRAMs flow both ways every 2 ms; every one of them must arrive exactly once.
#include <gtest/gtest.h>

#include <map>

#include "identity/device_key.h"
#include "session/quic_session.h"

namespace natpunch {
namespace {

using std::chrono::milliseconds;

// The server's socket: its own address never changes, whatever the client sees it as.
const SocketAddress kServerLocal = SocketAddress::v4({10, 1, 0, 5}, 50000);
// The relayed path: the client's side is the relayed address R; the relay reaches the server at S1.
const SocketAddress kRelayed = SocketAddress::v4({192, 0, 2, 80}, 49152);
const SocketAddress kServerViaRelay = SocketAddress::v4({203, 0, 113, 9}, 50000);
// The direct path: the client's main socket L2 behind a NAT (the server sees the NAT's mapping) and
// the server's public address S2 on this path, not the one the relay used.
const SocketAddress kDirectLocal = SocketAddress::v4({192, 168, 1, 10}, 40000);
const SocketAddress kDirectMapped = SocketAddress::v4({198, 51, 100, 7}, 40001);
const SocketAddress kServerDirect = SocketAddress::v4({203, 0, 113, 99}, 50001);

struct Link {
  SocketAddress client_local;  // the client's side of the path
  SocketAddress client_sees;   // the server, as the client addresses it on this path
  SocketAddress server_sees;   // the client, as the server sees it on this path
  milliseconds delay;          // one way
  bool black_hole = false;     // delivers nothing
};

struct TimedEvent {
  TimePoint at;
  SessionEvent event;
};

struct Network {
  DeviceKey client_key = DeviceKey::generate();
  DeviceKey server_key = DeviceKey::generate();
  TimePoint now = TimePoint() + std::chrono::hours(1);
  std::unique_ptr<QuicSession> client, server;
  std::vector<Link> links;
  std::vector<TimedEvent> client_events, server_events;

  struct Flight {
    bool to_server;
    std::size_t link;
    Bytes bytes;
  };
  std::multimap<TimePoint, Flight> air;  // equal times keep their sending order
  struct Sent {
    TimePoint at;
    std::size_t link;
    std::size_t size;
  };
  std::vector<Sent> client_sent, server_sent;
  std::size_t unroutable = 0;

  // Numbered datagrams, counted on arrival.
  bool traffic = false;
  TimePoint next_tick{};
  int sent_up = 0, sent_down = 0;
  std::map<int, int> got_up, got_down;  // client -> server, server -> client

  void make(std::size_t first_link) {
    SessionConfig c;
    c.role = SessionRole::Client;
    c.local = links[first_link].client_local;
    c.remote = links[first_link].client_sees;
    c.peer_key = server_key.public_key();
    c.initial_rtt = milliseconds(40);
    SessionConfig s = c;
    s.role = SessionRole::Server;
    s.local = kServerLocal;
    s.remote = links[first_link].server_sees;
    s.peer_key = client_key.public_key();
    auto cs = QuicSession::create(c, &client_key, now);
    auto ss = QuicSession::create(s, &server_key, now);
    ASSERT_TRUE(cs) << cs.error();
    ASSERT_TRUE(ss) << ss.error();
    client = std::move(*cs);
    server = std::move(*ss);
  }

  void send_from_client(std::vector<OutPacket> out) {
    for (auto& p : out) {
      std::size_t i = 0;
      while (i < links.size() && !(links[i].client_local == p.from && links[i].client_sees == p.to)) ++i;
      if (i == links.size()) {
        ++unroutable;
        continue;
      }
      client_sent.push_back({now, i, p.bytes.size()});
      if (!links[i].black_hole) air.insert({now + links[i].delay, Flight{true, i, std::move(p.bytes)}});
    }
  }
  void send_from_server(std::vector<OutPacket> out) {
    for (auto& p : out) {
      std::size_t i = 0;
      while (i < links.size() && !(p.from == kServerLocal && links[i].server_sees == p.to)) ++i;
      if (i == links.size()) {
        ++unroutable;
        continue;
      }
      server_sent.push_back({now, i, p.bytes.size()});
      if (!links[i].black_hole) air.insert({now + links[i].delay, Flight{false, i, std::move(p.bytes)}});
    }
  }

  void collect() {
    for (auto& e : client->take_events()) {
      if (e.kind == SessionEvent::Kind::Datagram) ++got_down[number(e.data)];
      client_events.push_back({now, std::move(e)});
    }
    for (auto& e : server->take_events()) {
      if (e.kind == SessionEvent::Kind::Datagram) ++got_up[number(e.data)];
      server_events.push_back({now, std::move(e)});
    }
  }
  static int number(const Bytes& b) {
    return std::stoi(std::string(reinterpret_cast<const char*>(b.data()), b.size()));
  }

  void flush_both() {
    send_from_client(client->flush(now));
    send_from_server(server->flush(now));
    collect();
  }

  // Everything that happens at or before `end`, in time order: arrivals, timers, datagram ticks.
  void run(milliseconds span) {
    auto end = now + span;
    for (int steps = 0;; ++steps) {
      ASSERT_LT(steps, 1000000) << "the sessions keep asking for the same instant";
      std::optional<TimePoint> next;
      auto consider = [&](std::optional<TimePoint> t) {
        if (t && (!next || *t < *next)) next = t;
      };
      if (!air.empty()) consider(air.begin()->first);
      consider(client->next_deadline());
      consider(server->next_deadline());
      if (traffic) consider(next_tick);
      if (!next || *next > end) break;
      now = std::max(now, *next);
      if (!air.empty() && air.begin()->first <= now) {
        auto f = std::move(air.begin()->second);
        air.erase(air.begin());
        const auto& l = links[f.link];
        if (f.to_server)
          send_from_server(server->on_datagram(f.bytes, kServerLocal, l.server_sees, now));
        else
          send_from_client(client->on_datagram(f.bytes, l.client_local, l.client_sees, now));
      } else if (traffic && next_tick <= now) {
        next_tick = now + milliseconds(2);
        if (client->established() && client->send_datagram(as_bytes(std::to_string(sent_up)))) ++sent_up;
        if (server->established() && server->send_datagram(as_bytes(std::to_string(sent_down)))) ++sent_down;
      } else {
        if (auto d = client->next_deadline(); d && *d <= now) send_from_client(client->on_timer(now));
        if (auto d = server->next_deadline(); d && *d <= now) send_from_server(server->on_timer(now));
      }
      flush_both();
      if (client->closed() || server->closed()) break;
    }
    now = std::max(now, end);
  }

  void establish() {
    send_from_client(client->start(now));
    run(milliseconds(500));  // the handshake, then the server's spare connection IDs
    ASSERT_TRUE(client->established());
    ASSERT_TRUE(server->established());
  }

  // Stops the datagrams and lets the last ones land.
  void drain() {
    traffic = false;
    run(milliseconds(500));
  }

  void expect_every_datagram_exactly_once() const {
    EXPECT_GT(sent_up, 100);
    EXPECT_GT(sent_down, 100);
    EXPECT_EQ(static_cast<int>(got_up.size()), sent_up);
    EXPECT_EQ(static_cast<int>(got_down.size()), sent_down);
    for (int i = 0; i < sent_up; ++i) {
      auto it = got_up.find(i);
      EXPECT_TRUE(it != got_up.end() && it->second == 1)
          << "client->server datagram " << i << " arrived " << (it == got_up.end() ? 0 : it->second) << " times";
    }
    for (int i = 0; i < sent_down; ++i) {
      auto it = got_down.find(i);
      EXPECT_TRUE(it != got_down.end() && it->second == 1)
          << "server->client datagram " << i << " arrived " << (it == got_down.end() ? 0 : it->second) << " times";
    }
  }
};

const SessionEvent* find(const std::vector<TimedEvent>& events, SessionEvent::Kind kind, TimePoint* at = nullptr) {
  for (const auto& e : events)
    if (e.event.kind == kind) {
      if (at) *at = e.at;
      return &e.event;
    }
  return nullptr;
}

// Packets sent on `link` between two instants; `min_size`: only those at least that big.
std::size_t sent_on(const std::vector<Network::Sent>& sent, std::size_t link, TimePoint from, TimePoint to,
                    std::size_t min_size = 0) {
  std::size_t n = 0;
  for (const auto& s : sent) n += s.link == link && s.at >= from && s.at <= to && s.size >= min_size;
  return n;
}

constexpr std::size_t kRelayLink = 0, kDirectLink = 1;

Network relay_and_direct(bool direct_black_hole) {
  Network n;
  n.links.push_back({kRelayed, kServerViaRelay, kRelayed, milliseconds(20)});
  n.links.push_back({kDirectLocal, kServerDirect, kDirectMapped, milliseconds(3), direct_black_hole});
  return n;
}

TEST(QuicSessionMigration, TheClientMovesFromTheRelayToADirectPathWithoutLosingADatagram) {
  auto n = relay_and_direct(false);
  n.make(kRelayLink);
  n.establish();
  EXPECT_EQ(n.client->local(), kRelayed);
  EXPECT_EQ(n.client->remote(), kServerViaRelay);
  EXPECT_EQ(n.server->local(), kServerLocal);
  EXPECT_EQ(n.server->remote(), kRelayed);

  n.traffic = true;
  n.next_tick = n.now;
  n.run(milliseconds(200));
  auto migrated_at = n.now;
  auto m = n.client->migrate(kDirectLocal, kServerDirect, n.now);
  ASSERT_TRUE(m) << m.error();
  EXPECT_TRUE(n.client->migrating());
  // Nothing moves before the new path has answered.
  EXPECT_EQ(n.client->local(), kRelayed);
  EXPECT_EQ(n.client->remote(), kServerViaRelay);
  n.flush_both();
  n.run(milliseconds(800));
  n.drain();

  TimePoint client_switch{}, server_switch{};
  const auto* changed = find(n.client_events, SessionEvent::Kind::PathChanged, &client_switch);
  ASSERT_NE(changed, nullptr);
  EXPECT_EQ(changed->local, kDirectLocal);
  EXPECT_EQ(changed->remote, kServerDirect);
  EXPECT_EQ(find(n.client_events, SessionEvent::Kind::PathValidationFailed), nullptr);
  EXPECT_FALSE(n.client->migrating());
  EXPECT_EQ(n.client->local(), kDirectLocal);
  EXPECT_EQ(n.client->remote(), kServerDirect);
  // The server followed: it sees the client at its NAT mapping, from the same socket.
  const auto* followed = find(n.server_events, SessionEvent::Kind::PathChanged, &server_switch);
  ASSERT_NE(followed, nullptr);
  EXPECT_EQ(followed->remote, kDirectMapped);
  EXPECT_EQ(n.server->remote(), kDirectMapped);
  EXPECT_EQ(n.server->local(), kServerLocal);

  // Make before break: the switch waited for the direct path's round trip (PATH_CHALLENGE out,
  // PATH_RESPONSE back), and the relay carried the client's traffic until then.
  EXPECT_GE(client_switch - migrated_at, milliseconds(6));
  EXPECT_GT(sent_on(n.client_sent, kRelayLink, migrated_at, client_switch - milliseconds(1)), 0u);
  // After the switch, the client sends only on the direct path. So does the server, but for a few
  // PATH_CHALLENGEs on the old path (ngtcp2 0.12 checks it is still there once the new one is
  // validated; the client, done with that path, does not answer and the server gives up silently):
  // full-size probe packets (RFC 9000 §8.2.1), no data.
  auto after_client = client_switch + milliseconds(1), after_server = server_switch + milliseconds(1);
  EXPECT_EQ(sent_on(n.client_sent, kRelayLink, after_client, n.now), 0u);
  auto probes = sent_on(n.server_sent, kRelayLink, after_server, n.now);
  EXPECT_EQ(sent_on(n.server_sent, kRelayLink, after_server, n.now, 1200), probes);
  EXPECT_LE(probes, 6u);
  EXPECT_GT(sent_on(n.client_sent, kDirectLink, client_switch, n.now), 100u);
  EXPECT_GT(sent_on(n.server_sent, kDirectLink, server_switch, n.now), 100u);
  EXPECT_EQ(n.unroutable, 0u);

  n.expect_every_datagram_exactly_once();
  EXPECT_FALSE(n.client->closed());
  EXPECT_FALSE(n.server->closed());

  // Streams still work on the new path.
  auto stream = n.client->send_message(as_bytes(std::string("on the direct path")));
  ASSERT_TRUE(stream) << stream.error();
  n.flush_both();
  n.run(milliseconds(100));
  const auto* msg = find(n.server_events, SessionEvent::Kind::Message);
  ASSERT_NE(msg, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(msg->data.data()), msg->data.size()), "on the direct path");

  // And it stays there: seconds later (past any validation timer) both still use the direct path.
  n.run(milliseconds(4000));
  n.drain();
  EXPECT_EQ(n.client->remote(), kServerDirect);
  EXPECT_EQ(n.server->remote(), kDirectMapped);
  n.expect_every_datagram_exactly_once();
}

TEST(QuicSessionMigration, AMigrationToABlackHoledPathFailsAndTheSessionStaysOnTheRelay) {
  auto n = relay_and_direct(true);
  n.make(kRelayLink);
  n.establish();
  n.traffic = true;
  n.next_tick = n.now;
  n.run(milliseconds(200));
  auto m = n.client->migrate(kDirectLocal, kServerDirect, n.now);
  ASSERT_TRUE(m) << m.error();
  n.flush_both();
  n.run(milliseconds(3000));
  n.drain();

  const auto* failed = find(n.client_events, SessionEvent::Kind::PathValidationFailed);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->local, kDirectLocal);
  EXPECT_EQ(failed->remote, kServerDirect);
  EXPECT_NE(failed->reason.find("no answer"), std::string::npos) << failed->reason;
  EXPECT_EQ(find(n.client_events, SessionEvent::Kind::PathChanged), nullptr);
  EXPECT_EQ(find(n.server_events, SessionEvent::Kind::PathChanged), nullptr);
  EXPECT_FALSE(n.client->migrating());
  EXPECT_EQ(n.client->local(), kRelayed);
  EXPECT_EQ(n.client->remote(), kServerViaRelay);
  EXPECT_EQ(n.server->remote(), kRelayed);
  EXPECT_GT(sent_on(n.client_sent, kDirectLink, TimePoint{}, n.now), 0u);  // the challenges went out
  n.expect_every_datagram_exactly_once();
  EXPECT_FALSE(n.client->closed());
  EXPECT_FALSE(n.server->closed());
}

TEST(QuicSessionMigration, AFailedMigrationCanBeRetriedOnceThePathWorks) {
  auto n = relay_and_direct(true);
  n.make(kRelayLink);
  n.establish();
  ASSERT_TRUE(n.client->migrate(kDirectLocal, kServerDirect, n.now));
  n.flush_both();
  n.run(milliseconds(3000));
  ASSERT_NE(find(n.client_events, SessionEvent::Kind::PathValidationFailed), nullptr);
  n.links[kDirectLink].black_hole = false;
  auto m = n.client->migrate(kDirectLocal, kServerDirect, n.now);
  ASSERT_TRUE(m) << m.error();
  n.flush_both();
  n.run(milliseconds(500));
  EXPECT_EQ(n.client->local(), kDirectLocal);
  EXPECT_EQ(n.client->remote(), kServerDirect);
  EXPECT_EQ(n.server->remote(), kDirectMapped);
}

TEST(QuicSessionMigration, MigrateIsRefusedClearlyBeforeTheHandshakeOnAServerAndOnTheSameLocalAddress) {
  auto n = relay_and_direct(false);
  n.make(kRelayLink);
  auto early = n.client->migrate(kDirectLocal, kServerDirect, n.now);
  ASSERT_FALSE(early);
  EXPECT_NE(early.error().find("before the handshake is confirmed"), std::string::npos) << early.error();
  n.establish();

  auto on_server = n.server->migrate(kServerLocal, kDirectMapped, n.now);
  ASSERT_FALSE(on_server);
  EXPECT_NE(on_server.error().find("only the QUIC client"), std::string::npos) << on_server.error();

  // ngtcp2 0.12 refuses a new remote from the current local address.
  auto same_local = n.client->migrate(kRelayed, kServerDirect, n.now);
  ASSERT_FALSE(same_local);
  EXPECT_NE(same_local.error().find("needs a new local address"), std::string::npos) << same_local.error();

  auto same_path = n.client->migrate(kRelayed, kServerViaRelay, n.now);
  ASSERT_FALSE(same_path);
  EXPECT_NE(same_path.error().find("already on the path"), std::string::npos) << same_path.error();

  auto mixed = n.client->migrate(kDirectLocal, SocketAddress::v6({0x20, 0x01, 0x0d, 0xb8}, 50001), n.now);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().find("mixed address families"), std::string::npos) << mixed.error();

  // None of that disturbed the session.
  EXPECT_FALSE(n.client->migrating());
  EXPECT_EQ(n.client->local(), kRelayed);
  n.traffic = true;
  n.next_tick = n.now;
  n.run(milliseconds(300));
  n.drain();
  EXPECT_GT(n.got_up.size(), 100u);
  EXPECT_FALSE(n.client->closed());
}

TEST(QuicSessionMigration, TheThreeArgumentOnDatagramAndOutPacketFromKeepTheConfiguredLocalAddress) {
  // A caller that knows nothing of paths: every packet leaves from config.local.
  auto n = relay_and_direct(false);
  n.make(kRelayLink);
  n.establish();
  for (const auto& s : n.client_sent) EXPECT_EQ(s.link, kRelayLink);
  ASSERT_TRUE(n.client->send_datagram(as_bytes(std::string("1"))));
  auto out = n.client->flush(n.now);
  ASSERT_FALSE(out.empty());
  for (const auto& p : out) {
    EXPECT_EQ(p.from, kRelayed);
    EXPECT_EQ(p.to, kServerViaRelay);
  }
  for (const auto& p : out) {
    for (const auto& back : n.server->on_datagram(p.bytes, kRelayed, n.now)) EXPECT_EQ(back.from, kServerLocal);
  }
  n.collect();
  EXPECT_EQ(n.got_up[1], 1);
}

}  // namespace
}  // namespace natpunch
